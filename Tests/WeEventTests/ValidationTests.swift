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
