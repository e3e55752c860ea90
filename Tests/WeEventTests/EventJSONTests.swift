import Foundation
import Testing
@testable import WeEvent

/// The event as JSONEncoder wrote it for getEvent before `writeJSON` replaced every encoding
/// of it; the writer must still produce exactly these bytes.
struct EncodableEvent: Encodable {
    let topic: String
    let content: String
    let extensions: [String: String]
    let eventId: String

    init(_ event: Event) {
        topic = event.topic
        content = Data(event.content).base64EncodedString()
        extensions = event.extensions
        eventId = event.id.description
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()
}

@Suite struct EventJSONTests {
    func written(_ event: Event) -> String {
        var out: [UInt8] = []
        event.writeJSON(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Streams wrote events by hand and getEvent with JSONEncoder; both now use `writeJSON`,
    /// which must give JSONEncoder's bytes for quotes, backslashes, slashes, control
    /// characters, non-ASCII text and extension keys that `String.<` orders differently.
    @Test(arguments: [
        ("plain", ["weevent-a": "1"]),
        ("quote\" back\\slash /slash", ["weevent-x": "tab\tnew\nline\r\u{1}\u{1f}", "weevent-b": "温度 ✓"]),
        ("t", [:]),
        ("keys", ["weevent-a10": "", "weevent-a9": "", "weevent-B": "", "weevent-a": "", "weevent-e\u{301}": "", "weevent-f": ""]),
        ("other\u{7f}\u{2028}\u{feff}😀", ["weevent-\u{0}": "\u{8}\u{c}\u{b}", "weevent-\u{10000}": "\u{e000}"]),
    ])
    func streamEncodingEqualsGetEventEncoding(topic: String, extensions: [String: String]) throws {
        let event = Event(
            id: EventID(topic: topic, sequence: 7, blockHeight: 3), topic: topic,
            content: Array("content \"x\" \u{0}".utf8), extensions: extensions, timestamp: 1
        )
        let expected = try EncodableEvent.encoder.encode(EncodableEvent(event))
        #expect(written(event) == String(decoding: expected, as: UTF8.self))
    }

    @Test func everyASCIICharacterIsEscapedAsJSONEncoderDoes() throws {
        var text = ""
        for scalar in 0..<0x80 { text.unicodeScalars.append(Unicode.Scalar(UInt8(scalar))) }
        text += "é\u{2028}\u{2029}𝄞"
        var out: [UInt8] = []
        JSONString.write(text, into: &out)
        let expected = try EncodableEvent.encoder.encode([text])
        #expect("[" + String(decoding: out, as: UTF8.self) + "]" == String(decoding: expected, as: UTF8.self))
    }

    @Test func contentIsFoundationsBase64() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            let content = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var out: [UInt8] = Array("prefix".utf8)
            Base64.write(content, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == "prefix" + Data(content).base64EncodedString(), "length \(length)")
        }
    }

    @Test(arguments: [(UInt64(1), UInt64(1)), (10, 9), (1234, 100_000), (EventID.maxNumber, UInt64.max)])
    func eventIDIsWrittenAsItsDescription(sequence: UInt64, blockHeight: UInt64) {
        let id = EventID(topic: "t", sequence: sequence, blockHeight: blockHeight)
        var out: [UInt8] = []
        id.writeDescription(into: &out)
        #expect(String(decoding: out, as: UTF8.self) == id.description)
    }

    /// A pruned event: JSONEncoder's bytes with the `pruned` object in its sorted place.
    @Test func aPrunedEventCarriesItsMarkInSortedKeyOrder() throws {
        struct Marked: Encodable {
            struct Mark: Encodable {
                let eventHash: String
                let reason: String
                let time: Int64
            }

            let topic: String
            let content: String
            let extensions: [String: String]
            let eventId: String
            let pruned: Mark
        }
        let hash = (0..<32).map { UInt8($0 * 7 % 256) }
        for reason in Pruning.Reason.allCases {
            let event = Event(
                id: EventID(topic: "a/b", sequence: 3, blockHeight: 2), topic: "a/b", content: [], extensions: ["weevent-publisher": "alice"],
                timestamp: 5, pruned: Pruning(time: 1_796_600_000_123, reason: reason, eventHash: hash))
            let expected = try EncodableEvent.encoder.encode(
                Marked(
                    topic: "a/b", content: "", extensions: ["weevent-publisher": "alice"], eventId: "\(event.id)",
                    pruned: .init(eventHash: hexString(hash), reason: reason.name, time: 1_796_600_000_123)))
            #expect(written(event) == String(decoding: expected, as: UTF8.self))
        }
    }

    @Test func writingAppendsToWhatIsThere() {
        let event = Event(id: EventID(topic: "t", sequence: 1, blockHeight: 1), topic: "t", content: [], extensions: [:], timestamp: 1)
        var out: [UInt8] = Array("data: ".utf8)
        event.writeJSON(into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "data: " + written(event))
    }
}
