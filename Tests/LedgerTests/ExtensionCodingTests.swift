import Foundation
import Testing
@testable import Ledger

/// Extensions as stored: written by hand, read by hand, and rows written by JSONSerialization
/// (every version before) read the same.
@Suite struct ExtensionCodingTests {
    static let samples: [[String: String]] = [
        [:], ["weevent-publisher": "app-1"],
        ["weevent-b": "2", "weevent-a": "1", "weevent-quote": #"say "hi" \ back/slash"#],
        ["weevent-control": "tab\there\nnew\u{1}line", "weevent-unicode": "été 😀 ∑", "weevent-empty": ""],
    ]

    @Test(arguments: samples)
    func whatIsWrittenReadsBackTheSame(_ extensions: [String: String]) {
        #expect(ExtensionCoding.decode(ExtensionCoding.encode(extensions)) == extensions)
        // And it is JSON that anything else reads the same.
        let parsed = try? JSONSerialization.jsonObject(with: Data(ExtensionCoding.encode(extensions).utf8)) as? [String: String]
        #expect(parsed == extensions)
    }

    @Test(arguments: samples)
    func rowsWrittenByJSONSerializationReadTheSame(_ extensions: [String: String]) throws {
        let old = String(decoding: try JSONSerialization.data(withJSONObject: extensions, options: [.sortedKeys]), as: UTF8.self)
        #expect(ExtensionCoding.decode(old) == extensions, "\(old)")
    }

    @Test func keysAreSortedByTheirBytesAndEscapesAreJSONs() {
        #expect(ExtensionCoding.encode(["weevent-b": "x", "weevent-a": "y\"z"]) == #"{"weevent-a":"y\"z","weevent-b":"x"}"#)
        #expect(ExtensionCoding.decode(#"{"weevent-a":"\u00e9\ud83d\ude00\/"}"#) == ["weevent-a": "é😀/"])
        #expect(ExtensionCoding.decode(#" { "weevent-a" : "1" , "weevent-b":"2" } "#) == ["weevent-a": "1", "weevent-b": "2"])
        #expect(ExtensionCoding.decode(#"{"weevent-a":1}"#) == [:], "not strings: as before, nothing")
        #expect(ExtensionCoding.decode("not json") == [:])
    }
}
