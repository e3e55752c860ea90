import Testing
import WeEvent

@Suite struct TopicFilterTests {
    private func items(_ count: Int) -> String {
        (0..<count).map { $0 % 2 == 0 ? "t\($0)" : "p\($0)/+/#" }.joined(separator: ",")
    }

    @Test func aFilterOfAtMostMaxItemsIsTakenAndOneMoreIs100110() throws {
        let filter = try TopicFilter.parse(items(TopicFilter.defaultMaxItems))
        #expect(filter.matches("t0") && filter.matches("p1/x/y") && !filter.matches("p1"))
        do {
            _ = try TopicFilter.parse(items(TopicFilter.defaultMaxItems + 1))
            Issue.record("a filter of \(TopicFilter.defaultMaxItems + 1) items was taken")
        } catch {
            #expect(error.code == .filterTooLong)
            #expect(error.code.rawValue == 100110)
            #expect(error.message.contains("rest.filter.max-items"))
        }
        #expect(throws: WeEventError.self) { try TopicFilter.parse("a,b,c", maxItems: 2) }
    }

    /// Repeating an item costs nothing: it is kept once and counted once.
    @Test func repeatedItemsAreKeptOnceAndCountedOnce() throws {
        let repeated = Array(repeating: "a/+,b", count: 5000).joined(separator: ",")
        let filter = try TopicFilter.parse(repeated, maxItems: 2)
        #expect(filter.topics == ["b"])
        #expect(filter.matches("a/x") && filter.matches("b") && !filter.matches("a"))
        #expect(!filter.isConcrete)
    }
}
