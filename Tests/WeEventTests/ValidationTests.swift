import Testing
@testable import WeEvent

@Suite struct ValidationTests {
    func code(_ body: () throws -> Void) -> Int? {
        do {
            try body()
            return nil
        } catch let error as WeEventError {
            return error.code.rawValue
        } catch {
            return -1
        }
    }

    @Test func topicRules() {
        #expect(code { _ = try Validation.topic("com.weevent.iot.event") } == nil)
        #expect(code { _ = try Validation.topic(String(repeating: "a", count: 64)) } == nil)
        #expect(code { _ = try Validation.topic(String(repeating: "a", count: 65)) } == 100102)
        #expect(code { _ = try Validation.topic("温度") } == 100106)
        #expect(code { _ = try Validation.topic("a/b/") } == 100106)
        #expect(code { _ = try Validation.topic("a/+/b") } == 100106)
        #expect(code { _ = try Validation.topic("a/#") } == 100106)
        #expect(code { _ = try Validation.topic("tab\there") } == 100106)
        #expect(code { _ = try Validation.topic("") } == 100103)
        #expect(code { _ = try Validation.topic("   ") } == 100103)
        #expect(code { _ = try Validation.topic(nil) } == 100103)
        #expect(code { _ = try Validation.topic("a/b c~") } == nil)
    }

    @Test func contentRules() {
        #expect(code { try Validation.content(Array(repeating: 1, count: 10240), maxLength: 10240) } == nil)
        #expect(code { try Validation.content(Array(repeating: 1, count: 10241), maxLength: 10240) } == 100201)
        #expect(code { try Validation.content([], maxLength: 10240) } == 100200)
    }

    @Test func extensionRules() {
        #expect(code { try Validation.extensions(["weevent-url": "x"], maxLength: 1024) } == nil)
        #expect(code { try Validation.extensions(["url": "x"], maxLength: 1024) } == 100206)
        #expect(code { try Validation.extensions(["weevent-a": String(repeating: "v", count: 1016)], maxLength: 1024) } == 100204)
        #expect(code { try Validation.extensions(["weevent-a": String(repeating: "v", count: 1015)], maxLength: 1024) } == nil)
    }

    @Test func pagingRules() {
        #expect(code { _ = try Validation.pageIndex("0") } == nil)
        #expect(code { _ = try Validation.pageIndex("-1") } == 100104)
        #expect(code { _ = try Validation.pageIndex("x") } == 100104)
        #expect(code { _ = try Validation.pageSize("1") } == nil)
        #expect(code { _ = try Validation.pageSize("100") } == nil)
        #expect(code { _ = try Validation.pageSize("0") } == 100107)
        #expect(code { _ = try Validation.pageSize("101") } == 100107)
    }
}

@Suite struct EventIDTests {
    @Test func encodesTopicHashSequenceAndBlock() {
        // SHA-256("hello") starts 2cf24dba, the example of DESIGN §5.
        let id = EventID(topic: "hello", sequence: 59, blockHeight: 1124)
        #expect(id.description == "2cf24dba-59-1124")
    }

    @Test(arguments: ["2cf24dba-59-1124", "00000000-1-1", "abcdef01-9223372036854775807-9223372036854775807"])
    func roundTrips(_ text: String) throws {
        let id = try EventID.parse(text)
        #expect(id.description == text)
    }

    @Test(arguments: [
        ("", 100300), ("  ", 100300),
        (String(repeating: "1", count: 65), 100301),
        ("2cf24dba-59", 100302), ("2cf24dba-59-1124-1", 100302), ("2CF24DBA-59-1124", 100302),
        ("2cf24db-59-1124", 100302), ("2cf24dba-0-1124", 100302), ("2cf24dba-59-0", 100302),
        ("2cf24dba--59-1124", 100302), ("2cf24dba-+5-1124", 100302), ("zzzzzzzz-1-1", 100302),
        ("2cf24dba-99999999999999999999-1", 100302),
        // Above Int64.max: no ledger can hold such a sequence or height.
        ("abcdef01-18446744073709551615-7", 100302), ("abcdef01-9223372036854775808-7", 100302),
        ("abcdef01-1-9223372036854775808", 100302),
    ])
    func rejectsMalformed(_ text: String, _ code: Int) {
        do {
            _ = try EventID.parse(text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.code.rawValue == code)
        }
    }
}
