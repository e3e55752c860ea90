import Foundation
import GRDB
import Testing
import WeEvent
@testable import Ledger

/// A ledger in a fresh temporary directory, shut down and removed after the body.
func withLedger<T>(
    maxEvents: Int = 1000, maxDelay: Int = 1, keep directory: String? = nil,
    _ body: (SQLiteLedger, String) async throws -> T
) async throws -> T {
    let dir = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)").path
    let ledger = try SQLiteLedger.open(groupID: "1", directory: dir, blockMaxEvents: maxEvents, blockMaxDelayMilliseconds: maxDelay)
    do {
        let result = try await body(ledger, dir)
        await ledger.shutdown()
        if directory == nil { try? FileManager.default.removeItem(atPath: dir) }
        return result
    } catch {
        await ledger.shutdown()
        if directory == nil { try? FileManager.default.removeItem(atPath: dir) }
        throw error
    }
}

func weeventCode(_ body: () async throws -> Void) async -> Int? {
    do {
        try await body()
        return nil
    } catch let error as WeEventError {
        return error.code.rawValue
    } catch {
        return -1
    }
}

@Suite struct SQLiteLedgerTests {
    @Test func publishAssignsPerTopicSequencesAndReadsBack() async throws {
        try await withLedger { ledger, _ in
            #expect(try await ledger.open(topic: "a") == true)
            #expect(try await ledger.open(topic: "a") == true)
            #expect(try await ledger.open(topic: "b") == true)
            let a1 = try await ledger.publish(NewEvent(topic: "a", content: Array("x".utf8)))
            let b1 = try await ledger.publish(NewEvent(topic: "b", content: Array("y".utf8), extensions: ["weevent-url": "u"]))
            let a2 = try await ledger.publish(NewEvent(topic: "a", content: Array("z".utf8)))
            #expect(a1.sequence == 1 && b1.sequence == 1 && a2.sequence == 2)
            #expect(a1.topicHash == EventID.topicHash("a"))
            #expect(a2.blockHeight > a1.blockHeight)
            let event = try await ledger.event(id: b1)
            #expect(event.topic == "b")
            #expect(event.content == Array("y".utf8))
            #expect(event.extensions == ["weevent-url": "u"])
            let state = try await ledger.state(topic: "a")
            #expect(state.sequenceNumber == 2)
            #expect(state.blockNumber == a2.blockHeight)
            let info = try await ledger.chainInfo()
            #expect(info.eventCount == 3)
            #expect(info.blockHeight == a2.blockHeight)
            #expect(try await ledger.verify().isIntact)
        }
    }

    @Test func publishingToAnUnknownOrClosedTopicIs100101() async throws {
        try await withLedger { ledger, _ in
            #expect(await weeventCode { _ = try await ledger.publish(NewEvent(topic: "never", content: [1])) } == 100101)
            _ = try await ledger.open(topic: "t")
            try await ledger.close(topic: "t")
            #expect(try await ledger.exists(topic: "t") == false)
            #expect(await weeventCode { _ = try await ledger.publish(NewEvent(topic: "t", content: [1])) } == 100101)
            #expect(await weeventCode { try await ledger.close(topic: "t") } == 100101)
            let results = try await ledger.publish([NewEvent(topic: "t", content: [1])])
            #expect(results.count == 1)
            if case .failure(let error) = results[0] { #expect(error.code == .topicNotExist) } else { Issue.record("batch publish to closed topic succeeded") }
        }
    }

    @Test func reopenedTopicContinuesItsSequence() async throws {
        try await withLedger { ledger, _ in
            _ = try await ledger.open(topic: "t")
            _ = try await ledger.publish(NewEvent(topic: "t", content: [1]))
            try await ledger.close(topic: "t")
            _ = try await ledger.open(topic: "t")
            let id = try await ledger.publish(NewEvent(topic: "t", content: [2]))
            #expect(id.sequence == 2)
        }
    }

    @Test func eventIdErrors() async throws {
        try await withLedger { ledger, _ in
            _ = try await ledger.open(topic: "t")
            let id = try await ledger.publish(NewEvent(topic: "t", content: [1]))
            // Above the chain height.
            #expect(await weeventCode { _ = try await ledger.event(id: EventID(topic: "t", sequence: 1, blockHeight: id.blockHeight + 1)) } == 100304)
            // Right topic and sequence, wrong block.
            _ = try await ledger.publish(NewEvent(topic: "t", content: [2]))
            #expect(await weeventCode { _ = try await ledger.event(id: EventID(topic: "t", sequence: 1, blockHeight: id.blockHeight + 1)) } == 100304)
            // No such sequence or topic.
            #expect(await weeventCode { _ = try await ledger.event(id: EventID(topic: "t", sequence: 9, blockHeight: 1)) } == 100303)
            #expect(await weeventCode { _ = try await ledger.event(id: EventID(topic: "other", sequence: 1, blockHeight: 1)) } == 100303)
        }
    }

    @Test func concurrentPublishersGetUniqueContiguousSequences() async throws {
        try await withLedger(maxEvents: 50) { ledger, _ in
            _ = try await ledger.open(topic: "a")
            _ = try await ledger.open(topic: "b")
            let ids = try await withThrowingTaskGroup(of: EventID.self) { group in
                for i in 0..<2000 {
                    group.addTask {
                        try await ledger.publish(NewEvent(topic: i % 2 == 0 ? "a" : "b", content: Array("\(i)".utf8)))
                    }
                }
                return try await group.reduce(into: [EventID]()) { $0.append($1) }
            }
            #expect(Set(ids).count == 2000)
            for topic in ["a", "b"] {
                let seqs = ids.filter { $0.topicHash == EventID.topicHash(topic) }.map(\.sequence).sorted()
                #expect(seqs == Array(1...1000))
            }
            let info = try await ledger.chainInfo()
            #expect(info.eventCount == 2000)
            // Blocks hold at most 50 events.
            #expect(info.blockHeight >= 40)
            let report = try await ledger.verify()
            #expect(report.isIntact)
            #expect(report.eventsChecked == 2000)
            #expect(report.blocksChecked == info.blockHeight)
        }
    }

    @Test func batchPublishKeepsOrderAcrossBlocks() async throws {
        try await withLedger(maxEvents: 3) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            let results = try await ledger.publish((1...10).map { NewEvent(topic: "t", content: [UInt8($0)]) })
            let ids = try results.map { try $0.get() }
            #expect(ids.map(\.sequence) == Array(1...10))
            #expect(ids.map(\.blockHeight) == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4])
            #expect(try await ledger.event(id: ids[9]).content == [10])
        }
    }

    /// The inbound bridge sends its next batch once the previous one is queued, not durable:
    /// batches handed over that way keep their order, however the tasks are scheduled.
    @Test func aBatchSentAfterTheQueuedSignalLandsAfterTheEarlierOne() async throws {
        try await withLedger(maxEvents: 1000, maxDelay: 5) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            var tasks: [Task<[Result<EventID, WeEventError>], any Error>] = []
            for round in 0..<50 {
                let queued = AsyncStream.makeStream(of: Void.self)
                tasks.append(Task {
                    try await ledger.publish(
                        [NewEvent(topic: "t", content: [UInt8(round), 0]), NewEvent(topic: "t", content: [UInt8(round), 1])],
                        receipts: [nil, nil], queued: { queued.continuation.yield(); queued.continuation.finish() }
                    )
                })
                for await _ in queued.stream {}
            }
            var ids: [EventID] = []
            for task in tasks { ids += try await task.value.map { try $0.get() } }
            #expect(ids.map(\.sequence) == Array(1...100))
            let range = try await ledger.events(after: 0, through: nil, matching: try TopicFilter.parse("t"), limit: 200)
            #expect(range.events.map(\.event.content) == (0..<50).flatMap { [[UInt8($0), 0], [UInt8($0), 1]] })
        }
    }

    @Test func stateSurvivesReopening() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try await withLedger(keep: dir) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            return try await ledger.publish(NewEvent(topic: "t", content: [7]))
        }
        try await withLedger(keep: dir) { ledger, _ in
            #expect(try await ledger.exists(topic: "t"))
            #expect(try await ledger.event(id: first).content == [7])
            let second = try await ledger.publish(NewEvent(topic: "t", content: [8]))
            #expect(second.sequence == 2)
            #expect(second.blockHeight == first.blockHeight + 1)
            #expect(try await ledger.verify().isIntact)
        }
    }

    @Test func listPagesTopicsInCreationOrder() async throws {
        try await withLedger { ledger, _ in
            for i in 0..<25 { _ = try await ledger.open(topic: "topic-\(i)") }
            try await ledger.close(topic: "topic-3")
            let page = try await ledger.list(pageIndex: 1, pageSize: 10)
            #expect(page.total == 24)
            #expect(page.topics.map(\.name) == (11...20).map { "topic-\($0)" })
            #expect(try await ledger.list(pageIndex: 3, pageSize: 10).topics.isEmpty)
        }
    }

    @Test func writesAfterShutdownAreRefused() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try SQLiteLedger.open(groupID: "1", directory: dir)
        _ = try await ledger.open(topic: "t")
        await ledger.shutdown()
        #expect(await weeventCode { _ = try await ledger.open(topic: "u") } == 200002)
    }

    @Test(arguments: [
        ("UPDATE events SET content = X'41' WHERE position = 5", "does not match its stored hash"),
        ("UPDATE events SET hash = X'00' WHERE position = 5", "does not match its stored hash"),
        ("UPDATE blocks SET merkle_root = X'00' WHERE height = 2", "Merkle root does not match its events"),
        ("UPDATE blocks SET timestamp = timestamp + 1 WHERE height = 2", "block hash does not match its header"),
        ("DELETE FROM events WHERE position = 5", "holds 2 events, header says 3"),
    ])
    func verifyNamesTheFirstAlteredBlock(sql: String, problem: String) async throws {
        try await withLedger(maxEvents: 3) { ledger, dir in
            _ = try await ledger.open(topic: "t")
            _ = try await ledger.publish((1...9).map { NewEvent(topic: "t", content: [UInt8($0)]) })
            #expect(try await ledger.verify().isIntact)
            let tamper = try DatabaseQueue(path: dir + "/ledger.sqlite")
            try await tamper.write { db in try db.execute(sql: sql) }
            try tamper.close()
            let report = try await ledger.verify()
            #expect(report.firstBadBlock == 2)
            #expect(report.problem?.contains(problem) == true, "\(report)")
        }
    }
}

@Suite struct InboundReceiptTests {
    @Test func receiptIsStoredWithItsEventAndSurvivesReopening() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let receipt = InboundReceipt(session: "weevent-bridge", packetID: 7)
        let id = try await withLedger(keep: dir) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            #expect(try await ledger.receipt(receipt) == nil)
            let results = try await ledger.publish(
                [NewEvent(topic: "t", content: [1]), NewEvent(topic: "t", content: [2])],
                receipts: [nil, receipt]
            )
            return try results[1].get()
        }
        try await withLedger(keep: dir) { ledger, _ in
            #expect(try await ledger.receipt(receipt) == id)
            #expect(try await ledger.event(id: id).content == [2])
            try await ledger.release([receipt])
            #expect(try await ledger.receipt(receipt) == nil)
        }
    }

    @Test func noReceiptForAnEventThatWasRefused() async throws {
        try await withLedger { ledger, _ in
            let receipt = InboundReceipt(session: "s", packetID: 1)
            let results = try await ledger.publish([NewEvent(topic: "closed", content: [1])], receipts: [receipt])
            #expect((try? results[0].get()) == nil)
            #expect(try await ledger.receipt(receipt) == nil)
        }
    }

    @Test func aReusedPacketIDPointsAtTheNewestEvent() async throws {
        try await withLedger { ledger, _ in
            _ = try await ledger.open(topic: "t")
            let receipt = InboundReceipt(session: "s", packetID: 9)
            _ = try await ledger.publish([NewEvent(topic: "t", content: [1])], receipts: [receipt])
            let second = try await ledger.publish([NewEvent(topic: "t", content: [2])], receipts: [receipt])
            #expect(try await ledger.receipt(receipt) == (try second[0].get()))
        }
    }
}
