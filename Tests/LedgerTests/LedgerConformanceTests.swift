import BrokerConfiguration
import Foundation
import GRDB
import Logging
import Synchronization
import Testing
import TestSupport
import WeEvent
@testable import Ledger

/// The stores every conformance test runs against.
enum Store: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgresql
    case memory

    var testDescription: String { rawValue }
}

/// A ledger under test with the means to reach behind its back (tamper, reopen).
struct LedgerUnderTest: Sendable {
    let ledger: any EventLedger
    let store: Store
    /// The directory (SQLite) or schema (PostgreSQL) holding it; give it back to reopen.
    let location: String

    /// Changes the stored rows directly; `sqlite`, `postgresql` and `memory` are the same change
    /// in each store's terms.
    func tamper(sqlite: String, postgresql: String, memory: @Sendable (inout MemoryRows) -> Void = { _ in }) async throws {
        switch store {
        case .memory:
            MemoryStores.store(at: location).groups.withLock { memory(&$0[ledger.groupID, default: MemoryRows()]) }
        case .sqlite:
            let tamper = try DatabaseQueue(path: location + "/ledger.sqlite")
            try await tamper.write { db in try db.execute(sql: sqlite) }
            try tamper.close()
        case .postgresql:
            try await PostgresServer.shared.value.psql(postgresql, schema: location)
        }
    }
}

/// A ledger of group 1 on a fresh store (or the one at `keep`), shut down after the body.
func withLedger<T>(
    _ store: Store, maxEvents: Int = 1000, maxDelay: Duration = .milliseconds(1), keep location: String? = nil, timeout: Duration = .seconds(30),
    _ body: (any EventLedger, LedgerUnderTest) async throws -> T
) async throws -> T {
    let ledgers: LedgerSet
    let place: String
    switch store {
    case .sqlite:
        place = location ?? FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)").path
        ledgers = LedgerSet(
            groups: ["1"],
            ledgers: [
                "1": try GroupLedger.openSQLite(groupID: "1", directory: place, blockMaxEvents: maxEvents, blockMaxDelay: maxDelay)
            ])
    case .memory:
        place = location ?? UUID().uuidString
        ledgers = LedgerSet(
            groups: ["1"],
            ledgers: ["1": GroupLedger.inMemory(groupID: "1", store: MemoryStores.store(at: place), blockMaxEvents: maxEvents, blockMaxDelay: maxDelay)]
        )
    case .postgresql:
        place = location ?? uniqueSchema()
        let server = try await PostgresServer.shared.value
        var settings = PostgresLedgerStore.Settings(url: try PostgresURL.parse(server.url()).get())
        settings.schema = place
        settings.poolSize = 8
        // These tests check what the ledger does, not how fast: on a full `make test` every suite
        // shares two cores and one disk, and a commit was seen to take over the 5 s default.
        settings.timeout = timeout
        settings.blockMaxEvents = maxEvents
        settings.blockMaxDelay = maxDelay
        ledgers = try await PostgresLedgerStore.open(settings, groups: ["1"], logger: Logger(label: "test"))
    }
    let subject = LedgerUnderTest(ledger: try ledgers.ledger("1"), store: store, location: place)
    defer {
        if location == nil, store == .sqlite { try? FileManager.default.removeItem(atPath: place) }
        if location == nil, store == .memory { MemoryStores.remove(place) }
    }
    return try await ledgers.withRunning(logger: Logger(label: "test")) {
        try await body(subject.ledger, subject)
    }
}

/// A location to pass as `keep` to several `withLedger` calls, removed at the end for SQLite
/// and memory.
func withKeptLocation<T>(_ store: Store, _ body: (String) async throws -> T) async throws -> T {
    switch store {
    case .memory:
        let place = UUID().uuidString
        defer { MemoryStores.remove(place) }
        return try await body(place)
    case .sqlite:
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try await body(dir)
    case .postgresql:
        return try await body(uniqueSchema())
    }
}

/// The memory stores of the ledgers under test, by location, so a test can open one again.
enum MemoryStores {
    private static let stores = Mutex<[String: MemoryLedgerStore]>([:])

    static func store(at location: String) -> MemoryLedgerStore {
        stores.withLock { stores in
            if let store = stores[location] { return store }
            let store = MemoryLedgerStore()
            stores[location] = store
            return store
        }
    }

    static func remove(_ location: String) {
        _ = stores.withLock { $0.removeValue(forKey: location) }
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

/// What every store must do alike: each test runs on the embedded SQLite ledger, on PostgreSQL
/// and in memory.
@Suite(.timeLimit(.minutes(6))) struct LedgerConformanceTests {
    @Test(arguments: Store.allCases) func publishAssignsPerTopicSequencesAndReadsBack(_ store: Store) async throws {
        try await withLedger(store) { ledger, _ in
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

    @Test(arguments: Store.allCases) func publishingToAnUnknownOrClosedTopicIs100101(_ store: Store) async throws {
        try await withLedger(store) { ledger, _ in
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

    @Test(arguments: Store.allCases) func reopenedTopicContinuesItsSequence(_ store: Store) async throws {
        try await withLedger(store) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            _ = try await ledger.publish(NewEvent(topic: "t", content: [1]))
            try await ledger.close(topic: "t")
            _ = try await ledger.open(topic: "t")
            let id = try await ledger.publish(NewEvent(topic: "t", content: [2]))
            #expect(id.sequence == 2)
        }
    }

    @Test(arguments: Store.allCases) func eventIdErrors(_ store: Store) async throws {
        try await withLedger(store) { ledger, _ in
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

    @Test(arguments: Store.allCases) func concurrentPublishersGetUniqueContiguousSequences(_ store: Store) async throws {
        try await withLedger(store, maxEvents: 50) { ledger, _ in
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

    @Test(arguments: Store.allCases) func batchPublishKeepsOrderAcrossBlocks(_ store: Store) async throws {
        try await withLedger(store, maxEvents: 3) { ledger, _ in
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
    @Test(arguments: Store.allCases) func aBatchSentAfterTheQueuedSignalLandsAfterTheEarlierOne(_ store: Store) async throws {
        try await withLedger(store, maxEvents: 1000, maxDelay: .milliseconds(5)) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            var tasks: [Task<[Result<EventID, WeEventError>], any Error>] = []
            for round in 0..<50 {
                let queued = AsyncStream.makeStream(of: Void.self)
                tasks.append(
                    Task {
                        try await ledger.publish(
                            [NewEvent(topic: "t", content: [UInt8(round), 0]), NewEvent(topic: "t", content: [UInt8(round), 1])],
                            receipts: [nil, nil],
                            queued: {
                                queued.continuation.yield(); queued.continuation.finish()
                            }
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

    /// One QoS 2 message that two inbound bindings of one group turn into two events carries one
    /// receipt twice into one commit: both events are stored, the receipt names one of them, and
    /// the next message is stored after them (on PostgreSQL the commit used to fail for ever).
    @Test(arguments: Store.allCases) func oneReceiptOnTwoEventsOfOneCommitStoresBoth(_ store: Store) async throws {
        try await withLedger(store) { ledger, _ in
            #expect(try await ledger.open(topic: "t1"))
            #expect(try await ledger.open(topic: "t2"))
            let receipt = InboundReceipt(session: "bridge", packetID: 7)
            let message = Array("door open".utf8)
            let results = try await ledger.publish(
                [NewEvent(topic: "t1", content: message), NewEvent(topic: "t2", content: message)], receipts: [receipt, receipt], queued: {}
            )
            let ids = try results.map { try $0.get() }
            #expect(ids.map(\.topicHash) == [EventID.topicHash("t1"), EventID.topicHash("t2")])
            let named = try #require(try await ledger.receipt(receipt))
            #expect(ids.contains(named))
            for id in ids { #expect(try await ledger.event(id: id).content == message) }
            let next = try await ledger.publish(
                [NewEvent(topic: "t1", content: Array("next".utf8))], receipts: [InboundReceipt(session: "bridge", packetID: 8)], queued: {}
            )
            #expect(try next.first?.get().sequence == 2)
            #expect(try await ledger.verify().isIntact)
        }
    }

    /// Two names whose SHA-256 starts with the same 32 bits (found by search): their event ids
    /// would say the same topic. The second is refused, open or closed the first, and nothing
    /// of it is stored.
    @Test(arguments: Store.allCases) func aTopicWhoseIdPrefixIsTakenIsRefused(_ store: Store) async throws {
        let (first, second) = ("collide-14550", "collide-37896")
        #expect(EventID.topicHash(first) == EventID.topicHash(second))
        try await withLedger(store) { ledger, _ in
            #expect(try await ledger.open(topic: first))
            #expect(await weeventCode { _ = try await ledger.open(topic: second) } == 100108)
            try await ledger.close(topic: first)
            #expect(await weeventCode { _ = try await ledger.open(topic: second) } == 100108)
            #expect(try await ledger.exists(topic: second) == false)
            #expect(try await ledger.list(pageIndex: 0, pageSize: 10).total == 0)
        }
    }

    /// A closed topic is reopened only when the caller may (`manage`); creating one is free here.
    @Test(arguments: Store.allCases) func reopeningAClosedTopicNeedsPermission(_ store: Store) async throws {
        try await withLedger(store) { ledger, _ in
            #expect(try await ledger.open(topic: "fresh", reopening: false))
            try await ledger.close(topic: "fresh")
            #expect(await weeventCode { _ = try await ledger.open(topic: "fresh", reopening: false) } == 100704)
            #expect(try await ledger.exists(topic: "fresh") == false)
            #expect(try await ledger.open(topic: "fresh", reopening: true))
            #expect(try await ledger.open(topic: "fresh", reopening: false), "open already: nothing to reopen")
        }
    }

    @Test(arguments: Store.allCases) func stateSurvivesReopening(_ store: Store) async throws {
        try await withKeptLocation(store) { place in
            let first = try await withLedger(store, keep: place) { ledger, _ in
                _ = try await ledger.open(topic: "t")
                return try await ledger.publish(NewEvent(topic: "t", content: [7]))
            }
            try await withLedger(store, keep: place) { ledger, _ in
                #expect(try await ledger.exists(topic: "t"))
                #expect(try await ledger.event(id: first).content == [7])
                let second = try await ledger.publish(NewEvent(topic: "t", content: [8]))
                #expect(second.sequence == 2)
                #expect(second.blockHeight == first.blockHeight + 1)
                #expect(try await ledger.verify().isIntact)
            }
        }
    }

    @Test(arguments: Store.allCases) func listPagesTopicsInCreationOrder(_ store: Store) async throws {
        try await withLedger(store) { ledger, _ in
            for i in 0..<25 { _ = try await ledger.open(topic: "topic-\(i)") }
            try await ledger.close(topic: "topic-3")
            let page = try await ledger.list(pageIndex: 1, pageSize: 10)
            #expect(page.total == 24)
            #expect(page.topics.map(\.name) == (11...20).map { "topic-\($0)" })
            #expect(try await ledger.list(pageIndex: 3, pageSize: 10).topics.isEmpty)
        }
    }

    @Test(arguments: Store.allCases) func writesAfterShutdownAreRefused(_ store: Store) async throws {
        let ledger = try await withLedger(store) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            return ledger
        }
        await #expect(throws: LedgerError.shuttingDown(groupID: ledger.groupID)) { _ = try await ledger.open(topic: "u") }
    }

    /// `verify` reads the chain a page at a time while writers go on appending: blocks committed
    /// after it read the last page are not "events stored after the last block".
    @Test(arguments: Store.allCases) func verifyWhileWritersAppendFindsTheChainIntact(_ store: Store) async throws {
        try await withLedger(store, maxEvents: 2) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            let stop = Mutex(false)
            let writer = Task {
                for _ in 0..<300 where !stop.withLock({ $0 }) {
                    _ = try await ledger.publish((0..<5).map { NewEvent(topic: "t", content: [UInt8($0)]) })
                }
            }
            var verified = 0
            while true {
                let report = try await ledger.verify()
                #expect(report.isIntact, "\(report)")
                verified += 1
                let written = try await ledger.chainInfo().eventCount
                if verified >= 5, written >= 300 { break }
                await Task.yield()
            }
            stop.withLock { $0 = true }
            try await writer.value
            #expect(try await ledger.verify().isIntact)
        }
    }

    /// The same change to the stored rows in each store's dialect, and what verify must say.
    static let tampering: [(sqlite: String, postgresql: String, memory: @Sendable (inout MemoryRows) -> Void, problem: String)] = [
        (
            "UPDATE events SET content = X'41' WHERE position = 5",
            "UPDATE events SET content = '\\x41' WHERE position = 5", { $0.events[4].content = [0x41] }, "does not match its stored hash"
        ),
        (
            "UPDATE events SET hash = X'00' WHERE position = 5",
            "UPDATE events SET hash = '\\x00' WHERE position = 5", { $0.events[4].hash = [0] }, "does not match its stored hash"
        ),
        (
            "UPDATE blocks SET merkle_root = X'00' WHERE height = 2",
            "UPDATE blocks SET merkle_root = '\\x00' WHERE height = 2", { $0.blocks[1].merkleRoot = [0] }, "Merkle root does not match its events"
        ),
        (
            "UPDATE blocks SET timestamp = timestamp + 1 WHERE height = 2",
            "UPDATE blocks SET timestamp = timestamp + 1 WHERE height = 2", { $0.blocks[1].timestamp += 1 }, "block hash does not match its header"
        ),
        (
            "DELETE FROM events WHERE position = 5", "DELETE FROM events WHERE position = 5", { $0.events.remove(at: 4) },
            "holds 2 events, header says 3"
        ),
    ]

    @Test(arguments: Store.allCases, 0..<tampering.count)
    func verifyNamesTheFirstAlteredBlock(_ store: Store, change: Int) async throws {
        let (sqlite, postgresql, memory, problem) = Self.tampering[change]
        try await withLedger(store, maxEvents: 3) { ledger, subject in
            _ = try await ledger.open(topic: "t")
            _ = try await ledger.publish((1...9).map { NewEvent(topic: "t", content: [UInt8($0)]) })
            #expect(try await ledger.verify().isIntact)
            try await subject.tamper(sqlite: sqlite, postgresql: postgresql, memory: memory)
            let report = try await ledger.verify()
            #expect(report.firstBadBlock == 2)
            #expect(report.problem?.contains(problem) == true, "\(report)")
        }
    }
}
