import Foundation
import TestSupport
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing
import WeEvent
@testable import Server
@testable import Subscriptions

/// rest/events pages and callback bodies wrap the event (Tests/WeEventTests checks the event
/// itself against JSONEncoder); the wrappers must stay what JSONEncoder wrote before.
@Suite struct EventEnvelopeTests {
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
    }

    struct EncodablePage: Encodable {
        let events: [EncodableEvent]
        let nextOffset: String
        let more: Bool
    }

    struct EncodableCallback: Encodable {
        let subscriptionId: String
        let event: EncodableEvent
    }

    let events = [
        Event(
            id: EventID(topic: "a/b", sequence: 7, blockHeight: 3), topic: "a/b", content: Array("x\"\\/\u{1}".utf8),
            extensions: ["weevent-z": "温度\n", "weevent-a": "/"], timestamp: 1
        ),
        Event(id: EventID(topic: "t", sequence: 1, blockHeight: 4), topic: "t", content: [], extensions: [:], timestamp: 2),
    ]

    func text(_ bytes: some Sequence<UInt8>) -> String { String(decoding: Array(bytes), as: UTF8.self) }

    @Test func eventsPageIsWhatJSONEncoderWrote() throws {
        for page in [events, [events[0]], []] {
            for more in [true, false] {
                let expected = try JSONBody.encoder.encode(EncodablePage(events: page.map(EncodableEvent.init), nextOffset: "OFFSET_FIRST", more: more))
                #expect(text(ReadingRoutes.eventPage(page, nextOffset: "OFFSET_FIRST", more: more)) == text(expected))
            }
        }
    }

    @Test func callbackBodyIsWhatJSONEncoderWrote() throws {
        let id = UUID().uuidString.lowercased()
        for event in events {
            let expected = try JSONBody.encoder.encode(EncodableCallback(subscriptionId: id, event: EncodableEvent(event)))
            #expect(text(CallbackBody.encode(subscriptionID: id, event: event)) == text(expected))
        }
    }

    /// A replay to a callback marks a pruned event as getEvent does (the same writer).
    @Test func aCallbackBodyMarksAPrunedEvent() throws {
        let hash = [UInt8](repeating: 0xab, count: 32)
        let event = Event(
            id: EventID(topic: "t", sequence: 1, blockHeight: 1), topic: "t", content: [], extensions: [:], timestamp: 1,
            pruned: Pruning(time: 9, reason: .retention, eventHash: hash))
        var expected: [UInt8] = []
        event.writeJSON(into: &expected)
        let body = text(CallbackBody.encode(subscriptionID: "s", event: event))
        #expect(body == #"{"event":"# + text(expected) + #","subscriptionId":"s"}"#)
        #expect(body.contains(#""pruned":{"eventHash":"\#(String(repeating: "ab", count: 32))","reason":"retention","time":9}"#))
    }

    @Test func streamFramesCarryTheIdAndTheEventAsGetEventWritesIt() throws {
        var frames: [UInt8] = []
        ReadingRoutes.writeFrames(events.enumerated().map { PositionedEvent(position: UInt64($0.offset + 1), event: $0.element) }, into: &frames)
        var expected = ""
        for event in events {
            var json: [UInt8] = []
            event.writeJSON(into: &json)
            expected += "id: \(event.id)\ndata: \(text(json))\n\n"
        }
        #expect(text(frames) == expected)
        frames.removeAll()
        ReadingRoutes.writeFrames([], into: &frames)
        #expect(text(frames) == ": keep-alive\n\n")
    }
}
