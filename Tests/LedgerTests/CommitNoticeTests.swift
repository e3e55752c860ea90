import Foundation
import Testing
import WeEvent
@testable import Ledger

/// The NOTIFY payload that carries a commit's events to the other instances' live readers.
@Suite struct CommitNoticeTests {
    private func block(height: UInt64, first: UInt64, events: [(String, String, [String: String])]) -> SealedBlock {
        SealedBlock(
            header: BlockHeader(
                height: height, previousHash: [], merkleRoot: [], hash: [], timestamp: 1_700_000_000_123 + Int64(height), eventCount: UInt32(events.count)),
            firstPosition: first,
            events: events.enumerated().map { i, e in
                SealedEvent(topic: e.0, sequence: first + UInt64(i), content: Array(e.1.utf8), extensions: e.2, hash: [])
            }
        )
    }

    private let key = NoticeKey((0..<32).map { UInt8($0) })
    private let writer = String(repeating: "ab", count: 16)

    @Test func eventsGoAndComeBackAsLiveReadersGetThemFromTheWriter() throws {
        let blocks = [
            block(height: 7, first: 41, events: [("a/b", "hello", [:]), ("温度", "", ["weevent-k": "v w", "weevent-x": "\"q\""])]),
            block(height: 8, first: 43, events: [("a/b", String(repeating: "z", count: 300), [:])]),
        ]
        let sealer = NoticeSealer(schema: "weevent", key: key, writer: writer)
        let payload = sealer.payload(group: "1", head: 43, blocks: blocks)
        #expect(payload.utf8.count <= CommitNotice.maxPayloadBytes)
        let opener = NoticeOpener(schema: "weevent", key: key)
        #expect(
            opener.open(payload)
                == .notice(
                    CommitNotice(
                        schema: "weevent", group: "1", head: 43, writer: writer, events: SealedBlock.positioned(blocks)
                    )))
        // An instance's own commits: authenticated, the events left undecoded.
        #expect(
            opener.open(payload, skippingEventsOf: writer)
                == .notice(
                    CommitNotice(
                        schema: "weevent", group: "1", head: 43, writer: writer, events: nil
                    )))
    }

    /// Whoever listens on the channel (any role may) sees neither contents nor topics.
    @Test func aNoticeShowsNothingOfItsEventsInTheClear() throws {
        let blocks = [block(height: 1, first: 1, events: [("secret/topic", "the secret content", [:])])]
        let payload = NoticeSealer(schema: "weevent", key: key, writer: writer).payload(group: "1", head: 1, blocks: blocks)
        let sealed = try #require(Data(base64Encoded: String(payload.split(separator: " ")[3])))
        for needle in ["secret", "the secret content"] {
            #expect(!payload.contains(needle))
            #expect(sealed.range(of: Data(needle.utf8)) == nil)
        }
    }

    @Test func aCommitTooLargeForOneNotifyCarriesOnlyItsHead() throws {
        let sealer = NoticeSealer(schema: "s", key: key, writer: writer)
        let opener = NoticeOpener(schema: "s", key: key)
        let big = block(height: 2, first: 1, events: (0..<60).map { _ in ("t", String(repeating: "x", count: 100), [:]) })
        let payload = sealer.payload(group: "1", head: 60, blocks: [big])
        #expect(payload.utf8.count < 200)
        #expect(opener.open(payload) == .notice(CommitNotice(schema: "s", group: "1", head: 60, writer: writer, events: nil)))
        // Just under the limit still goes whole.
        let fits = block(height: 2, first: 1, events: (0..<40).map { _ in ("t", String(repeating: "x", count: 100), [:]) })
        let whole = sealer.payload(group: "1", head: 40, blocks: [fits])
        #expect(whole.utf8.count <= CommitNotice.maxPayloadBytes)
        guard case .notice(let notice) = opener.open(whole) else {
            Issue.record("refused")
            return
        }
        #expect(notice.events?.count == 40)
    }

    /// Only the key's holders can make a notice: another key, another writer id on the same
    /// sealed bytes, another counter, another schema or any changed byte is refused.
    @Test func onlyANoticeSealedWithTheSchemasKeyOpens() throws {
        let blocks = [block(height: 3, first: 5, events: [("t", "one", [:]), ("t", "two", [:])])]
        let payload = NoticeSealer(schema: "s", key: key, writer: writer).payload(group: "1", head: 6, blocks: blocks)
        let opener = NoticeOpener(schema: "s", key: key)
        guard case .notice = opener.open(payload) else {
            Issue.record("the genuine notice was refused")
            return
        }
        func refused(_ text: String) -> Bool {
            if case .refused = opener.open(text) { return true }
            return false
        }
        let otherKey = NoticeSealer(schema: "s", key: NoticeKey(Array(repeating: 7, count: 32)), writer: writer)
        #expect(refused(otherKey.payload(group: "1", head: 6, blocks: blocks)))
        var parts = payload.split(separator: " ").map(String.init)
        let original = parts
        parts[1] = String(repeating: "cd", count: 16)
        #expect(refused(parts.joined(separator: " ")), "another writer id")
        parts = original
        parts[2] = "2"
        #expect(refused(parts.joined(separator: " ")), "another counter (nonce)")
        parts = original
        parts[0] = "t"
        #expect(
            NoticeOpener(schema: "t", key: key).open(parts.joined(separator: " "))
                != .notice(
                    CommitNotice(schema: "t", group: "1", head: 6, writer: writer, events: SealedBlock.positioned(blocks))
                ))
        #expect(opener.open(parts.joined(separator: " ")) == .otherSchema)
        // The clear format an outsider could send.
        #expect(refused("s 1 7 attacker"))
        #expect(refused("s 1 \(UInt64.max) attacker " + Data([1, 2, 3]).base64EncodedString()))
        #expect(refused(""))
        #expect(refused("s"))
        #expect(refused("s \(writer) 1 !!!not-base64"))
        #expect(refused("s \(writer) -1 AAAA"))
        // Every single-byte change of the payload is refused (or, in the schema, not ours), or
        // opens to the very same notice (a base64 digit's unused low bits).
        let genuine = opener.open(payload)
        let bytes = Array(payload.utf8)
        for i in bytes.indices {
            for value: UInt8 in [0x30, 0x41, 0x61, 0x2B, 0x20] where value != bytes[i] {
                var changed = bytes
                changed[i] = value
                let opened = opener.open(String(decoding: changed, as: UTF8.self))
                if case .notice = opened, opened != genuine { Issue.record("byte \(i) changed to \(value) opened to another notice") }
            }
        }
    }

    /// Each notice of a writer has its own nonce: the same commit sealed twice gives two payloads.
    @Test func aWriterNeverSealsTwoNoticesWithOneNonce() {
        let sealer = NoticeSealer(schema: "s", key: key, writer: writer)
        let blocks = [block(height: 1, first: 1, events: [("t", "x", [:])])]
        let payloads = (0..<3).map { _ in sealer.payload(group: "1", head: 1, blocks: blocks) }
        #expect(payloads.map { $0.split(separator: " ")[2] } == ["1", "2", "3"])
        #expect(Set(payloads).count == 3)
    }

    /// An authenticated notice whose records are damaged (a writer's bug) sends readers to the store.
    @Test func malformedRecordsFallBackToTheStoreWithoutACrash() throws {
        let blocks = [block(height: 3, first: 5, events: [("t", "one", [:]), ("t", "two", [:])])]
        let records = try #require(CommitNotice.encode(blocks, maxBytes: 10_000))
        func events(_ bytes: [UInt8], head: UInt64 = 6) -> [PositionedEvent]? {
            CommitNotice.decode(bytes, head: head, group: "1")
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
