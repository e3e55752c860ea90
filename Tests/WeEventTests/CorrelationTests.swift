import Foundation
import Testing
@testable import WeEvent

@Suite struct CorrelationTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func theThreeShapesOfTheSourceDocumentsAreFoundWithoutAPath() throws {
        let shapes: [(String, String, String)] = [
            (#"{"action":"reboot","header":{"reqid":"129393"}}"#, "header.reqid", "129393"),
            (#"{"d":{"action":"firmware"},"reqId":"a-7"}"#, "reqId", "a-7"),
            (#"{"id":42,"cmd":"open"}"#, "id", "42"),
        ]
        for (content, path, value) in shapes {
            let command = try CorrelatedCommand.prepare(bytes(content), path: nil)
            #expect(command.path.description == path)
            #expect(command.value == value)
            #expect(!command.generated)
            #expect(text(command.content) == content, "content kept byte for byte")
        }
    }

    @Test func aStringAndAnIntegerWithTheSameTextAreTheSameValue() throws {
        let path = try CorrelationPath(parsing: "header.reqid")
        #expect(path.value(in: bytes(#"{"header":{"reqid":129393}}"#)) == "129393")
        #expect(path.value(in: bytes(#"{"header":{"reqid":"129393"}}"#)) == "129393")
        // Not usable values: nothing matches on them.
        for other in [
            #"{"header":{"reqid":true}}"#, #"{"header":{"reqid":1.5}}"#, #"{"header":{"reqid":null}}"#,
            #"{"header":{"reqid":[1]}}"#, #"{"header":"x"}"#, "not json", #"["header"]"#, "",
        ] {
            #expect(path.value(in: bytes(other)) == nil, "\(other)")
        }
    }

    @Test func aMissingValueIsGeneratedAndInsertedWithoutTouchingTheRest() throws {
        let content = #"{ "header" : {"ts": "a,b}"}, "list":[1,{"x":"}"}] }"#
        let command = try CorrelatedCommand.prepare(bytes(content), path: try CorrelationPath(parsing: "header.reqid"), newValue: { "v1" })
        #expect(command.generated)
        #expect(text(command.content) == #"{ "header" : {"reqid":"v1","ts": "a,b}"}, "list":[1,{"x":"}"}] }"#)
        #expect(command.path.value(in: command.content) == "v1")

        // Objects that are not there yet are created; an empty object gets no comma.
        let nested = try CorrelatedCommand.prepare(bytes(#"{"a":{}}"#), path: try CorrelationPath(parsing: "a.b.c"), newValue: { "v2" })
        #expect(text(nested.content) == #"{"a":{"b":{"c":"v2"}}}"#)
        let empty = try CorrelatedCommand.prepare(bytes("{}"), path: nil, newValue: { "v3" })
        #expect(text(empty.content) == #"{"reqId":"v3"}"#)
        #expect(empty.path.description == "reqId")
        // A key that only appears inside a string or a nested value is not taken for the member.
        let tricky = try CorrelatedCommand.prepare(
            bytes(#"{"note":"\"header\":{","x":{"header":{}},"header":{"n":1}}"#), path: try CorrelationPath(parsing: "header.reqid"),
            newValue: { "q\"1" }
        )
        #expect(text(tricky.content) == #"{"note":"\"header\":{","x":{"header":{}},"header":{"reqid":"q\"1","n":1}}"#)
        #expect(tricky.path.value(in: tricky.content) == "q\"1")
    }

    @Test func contentThatCannotCarryAValueIsRefusedWithItsReason() {
        let cases: [(String, String?, String)] = [
            ("plain text", nil, "JSON object"),
            ("[1,2]", nil, "not another JSON value"),
            (#"{"header":5}"#, "header.reqid", "'header' but it is not an object"),
            (#"{"reqId":true}"#, "reqId", "'reqId' but it is not a string or an integer"),
        ]
        for (content, path, reason) in cases {
            #expect {
                _ = try CorrelatedCommand.prepare(self.bytes(content), path: path.map { try CorrelationPath(parsing: $0) })
            } throws: { error in
                guard let error = error as? WeEventError else { return false }
                return error.code == .correlationInvalid && error.message.contains(reason)
            }
        }
    }

    @Test func aReplyAnswersWhenItCarriesTheValueAtThePathHoweverItIsSpelled() throws {
        let command = try CorrelatedCommand.prepare(bytes(#"{"header":{"reqid":"12"}}"#), path: nil)
        #expect(command.isAnswered(by: bytes(#"{"retcode":0,"header":{"reqid":"12"}}"#)))
        #expect(command.isAnswered(by: bytes(#"{"header":{"reqid":12}}"#)), "an integer with the same text")
        #expect(command.isAnswered(by: bytes(#"{"header":{"reqid":"\u0031\u0032"}}"#)), "escaped in the reply")
        #expect(!command.isAnswered(by: bytes(#"{"header":{"reqid":"123"}}"#)))
        #expect(!command.isAnswered(by: bytes(#"{"reqid":"12","header":{}}"#)), "the value elsewhere is not at the path")
        #expect(!command.isAnswered(by: bytes("12")))
        #expect(!command.isAnswered(by: []))
    }

    @Test func malformedPathsAreRefused() {
        for raw in ["", ".", "a.", ".a", "a..b", "a b", "a[0]", "ä", String(repeating: "k", count: 65), "a.b.c.d.e.f.g.h.i"] {
            #expect(throws: WeEventError.self, "\(raw)") { try CorrelationPath(parsing: raw) }
        }
        #expect((try? CorrelationPath(parsing: "d.req-Id_2"))?.keys == ["d", "req-Id_2"])
    }

    @Test func deeplyNestedContentIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(CorrelationPath.defaults[0].value(in: bytes(deep)) == nil)
        #expect(throws: WeEventError.self) { try CorrelatedCommand.prepare(self.bytes(deep), path: nil) }
        let deepObject = String(repeating: #"{"a":"#, count: 3000) + "1" + String(repeating: "}", count: 3000)
        #expect(throws: WeEventError.self) { try CorrelatedCommand.prepare(self.bytes(deepObject), path: nil) }
    }
}
