import Foundation
import Testing
import WeEvent
@testable import Ledger

/// The NOTIFY payload that carries a commit's events to the other instances' live readers.
@Suite struct CommitNoticeTests {
    private func block(height: UInt64, first: UInt64, events: [(String, String, [String: String])]) -> SealedBlock {
        SealedBlock(
            header: BlockHeader(height: height, previousHash: [], merkleRoot: [], hash: [], timestamp: 1_700_000_000_123 + Int64(height), eventCount: UInt32(events.count)),
            firstPosition: first,
            events: events.enumerated().map { i, e in
                SealedEvent(topic: e.0, sequence: first + UInt64(i), content: Array(e.1.utf8), extensions: e.2, hash: [])
            }
        )
    }

    @Test func eventsGoAndComeBackAsLiveReadersGetThemFromTheWriter() throws {
        let blocks = [
            block(height: 7, first: 41, events: [("a/b", "hello", [:]), ("温度", "", ["weevent-k": "v w", "weevent-x": "\"q\""])]),
            block(height: 8, first: 43, events: [("a/b", String(repeating: "z", count: 300), [:])]),
        ]
        let payload = CommitNotice.payload(schema: "weevent", group: "1", head: 43, writer: "ab12cd34", blocks: blocks)
        #expect(payload.utf8.count <= CommitNotice.maxPayloadBytes)
        let notice = try #require(CommitNotice(payload: payload))
        #expect(notice == CommitNotice(schema: "weevent", group: "1", head: 43, writer: "ab12cd34", events: SealedBlock.positioned(blocks)))
        // An instance's own commits: the header only, the events left undecoded.
        #expect(CommitNotice(payload: payload, skippingEventsOf: "ab12cd34") == CommitNotice(
            schema: "weevent", group: "1", head: 43, writer: "ab12cd34", events: nil
        ))
    }

    @Test func aCommitTooLargeForOneNotifyCarriesOnlyItsHead() throws {
        let big = block(height: 2, first: 1, events: (0..<60).map { _ in ("t", String(repeating: "x", count: 100), [:]) })
        let payload = CommitNotice.payload(schema: "s", group: "1", head: 60, writer: "w", blocks: [big])
        #expect(payload == "s 1 60 w")
        #expect(CommitNotice(payload: payload) == CommitNotice(schema: "s", group: "1", head: 60, writer: "w", events: nil))
        // Just under the limit still goes whole.
        let fits = block(height: 2, first: 1, events: (0..<40).map { _ in ("t", String(repeating: "x", count: 100), [:]) })
        let whole = CommitNotice.payload(schema: "s", group: "1", head: 40, writer: "w", blocks: [fits])
        #expect(whole.utf8.count <= CommitNotice.maxPayloadBytes)
        #expect(CommitNotice(payload: whole)?.events?.count == 40)
    }

    @Test func malformedPayloadsFallBackToTheStoreWithoutACrash() throws {
        #expect(CommitNotice(payload: "") == nil)
        #expect(CommitNotice(payload: "s 1 notanumber w") == nil)
        #expect(CommitNotice(payload: "s 1 -1 w") == nil)
        #expect(CommitNotice(payload: "s 1 5 w !!!not-base64")?.events == nil)
        let blocks = [block(height: 3, first: 5, events: [("t", "one", [:]), ("t", "two", [:])])]
        let records = try #require(CommitNotice.encode(blocks, maxBytes: 10_000))
        func events(_ bytes: [UInt8], head: UInt64 = 6) -> [PositionedEvent]? {
            CommitNotice(payload: "s 1 \(head) w " + Data(bytes).base64EncodedString())?.events
        }
        #expect(events(records)?.count == 2)
        #expect(events(records, head: 7) == nil, "the last position must be the head")
        #expect(events(Array(records.dropLast())) == nil, "truncated")
        #expect(events([]) == nil)
        // One record: 4 numbers of 8 bytes, the topic's length (2) and byte, the content's length (4)...
        var hugeLength = records
        hugeLength[35] = 0xFF  // the first content length's top byte
        #expect(events(hugeLength) == nil)
        var badTopic = records
        badTopic[34] = 0xFF  // the topic's one byte: not UTF-8
        #expect(events(badTopic) == nil)
        var gap = records
        gap[records.count / 2 + 7] &+= 1  // the second record's position's low byte
        #expect(events(gap) == nil, "positions must follow each other")
        // Every single-byte change decodes to nothing or to events that still end at the head.
        for i in records.indices {
            for value: UInt8 in [0, 1, 0x7F, 0x80, 0xFF] {
                var changed = records
                changed[i] = value
                if let decoded = events(changed) {
                    #expect(decoded.last?.position == 6)
                    #expect(zip(decoded, decoded.dropFirst()).allSatisfy { $0.position + 1 == $1.position })
                }
            }
        }
    }
}
