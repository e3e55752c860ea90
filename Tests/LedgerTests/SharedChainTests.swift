import Foundation
import PostgresNIO
import Testing
import TestSupport
import WeEvent
@testable import Ledger

/// Two writers on one PostgreSQL chain, as two broker instances are.
@Suite(.timeLimit(.minutes(6))) struct SharedChainTests {
    /// A writer seals on the head it last wrote; when another instance wrote since (and its NOTIFY
    /// has not arrived), the one-statement write applies nothing and the batch is sealed again
    /// under the lock: no fork, no lost event, sequences go on from the other's.
    @Test func aWriterOnAStaleHeadWritesNothingAndSealsAgainUnderTheLock() async throws {
        try await withKeptLocation(.postgresql) { schema in
            try await withLedger(.postgresql, keep: schema) { a, _ in
                try await withLedger(.postgresql, keep: schema) { b, _ throws in
                    let first = try #require((a as? GroupLedger)?.driver as? PostgresDriver)
                    #expect(try await a.open(topic: "shared"))
                    let a1 = try await a.publish(NewEvent(topic: "shared", content: Array("a1".utf8)))
                    let known = try #require(first.writerState.withLock { $0.knownHead })
                    let b1 = try await b.publish(NewEvent(topic: "shared", content: Array("b1".utf8)))
                    // As if B's NOTIFY were still on its way: A believes its own head is the last.
                    first.writerState.withLock { $0.committed(known) }
                    let a2 = try await a.publish(NewEvent(topic: "shared", content: Array("a2".utf8)))
                    #expect([a1, b1, a2].map(\.sequence) == [1, 2, 3])
                    #expect(a2.blockHeight > b1.blockHeight)
                    let stored = try await b.events(after: 0, through: nil, matching: try TopicFilter.parse("shared"), limit: 10)
                    #expect(stored.events.map { String(decoding: $0.event.content, as: UTF8.self) } == ["a1", "b1", "a2"])
                    #expect(stored.events.map(\.position) == [1, 2, 3])
                    #expect(try await a.verify().isIntact)
                    // A knows the head again, as of its own write.
                    #expect(first.writerState.withLock { $0.knownHead?.head.eventCount } == 3)
                }
            }
        }
    }

    /// Under a steady load from several publishers, the head row changes under the writer (here:
    /// its version, as any other writer's commit changes it, without a NOTIFY): the batch sealed
    /// on the head it knew is refused and sealed again under the lock, and the writing goes on.
    /// Every publish answered once, each publisher's events in its order, no gap, no fork.
    @Test func aHeadChangedUnderASteadyLoadIsSealedAgainWithoutLoss() async throws {
        try await withLedger(.postgresql) { ledger, subject in
            let postgres = try #require((ledger as? GroupLedger)?.driver as? PostgresDriver)
            #expect(try await ledger.open(topic: "p"))
            _ = try await ledger.publish(NewEvent(topic: "p", content: Array("first".utf8)))
            #expect(postgres.writerState.withLock { $0.knownHead?.head.eventCount } == 1)
            // Eight publishers, each publishing forty in a row; the head row changes under them
            // after the first hundred events.
            let published = try await withThrowingTaskGroup(of: [EventID].self) { group in
                for publisher in 0..<8 {
                    group.addTask {
                        var ids: [EventID] = []
                        for i in 0..<40 {
                            // Out of step with each other, so events arrive while a batch is in flight.
                            try await Task.sleep(for: .microseconds(Int.random(in: 0...3000)))
                            ids.append(try await ledger.publish(NewEvent(topic: "p", content: Array("\(publisher)-\(i)".utf8))))
                        }
                        return ids
                    }
                }
                group.addTask {
                    while try await ledger.chainInfo().eventCount < 100 { try await Task.sleep(for: .milliseconds(2)) }
                    try await PostgresServer.shared.value.psql("UPDATE ledgers SET version = version + 1000", schema: subject.location)
                    return []
                }
                return try await group.reduce(into: [[EventID]]()) { $0.append($1) }
            }
            for ids in published where !ids.isEmpty {
                // Each publisher's events are in the order it published them.
                #expect(ids.map(\.sequence) == ids.map(\.sequence).sorted())
            }
            #expect(Set(published.joined().map(\.sequence)) == Set(2...321))
            #expect(try await ledger.chainInfo().eventCount == 321)
            let report = try await ledger.verify()
            #expect(report.isIntact, "\(report)")
            // The writer knows the head again once it wrote under the lock.
            _ = try await ledger.publish(NewEvent(topic: "p", content: Array("last".utf8)))
            #expect(postgres.writerState.withLock { $0.knownHead?.head.eventCount } == 322)
        }
    }

    /// A live reader on another instance gets a commit's events from its NOTIFY, without a read
    /// of the store; a commit too large for a NOTIFY sends it to the store instead, where it
    /// finds the same events.
    @Test func anotherInstancesCommitsReachLiveReadersWithTheirEvents() async throws {
        try await withKeptLocation(.postgresql) { schema in
            try await withLedger(.postgresql, keep: schema) { a, _ in
                try await withLedger(.postgresql, keep: schema) { b, _ throws in
                    #expect(try await a.open(topic: "far"))
                    let feed = b.commits
                    // B's feed knows the open (no events) once it is past; wait for A's head to show.
                    let (follower, _) = feed.register(filter: try TopicFilter.parse("far"), capacity: 1 << 20)
                    defer { feed.remove(follower) }
                    for i in 0..<20 {
                        let content = Array("e\(i)".utf8)
                        let id = try await a.publish(NewEvent(topic: "far", content: content, extensions: ["weevent-i": "\(i)"]))
                        switch await feed.take(follower) {
                        case .events(let events, _):
                            #expect(events.map(\.event.id) == [id])
                            #expect(events.first?.event.content == content)
                            #expect(events.first?.event.extensions == ["weevent-i": "\(i)"])
                            #expect(events.first?.event == (try await b.event(id: id)))
                        case let other: Issue.record("commit \(i) reached B's reader as \(other)")
                        }
                    }
                    let large = Array(repeating: UInt8(ascii: "L"), count: 10_000)
                    let tail = b.tail(after: 20, matching: try TopicFilter.parse("far"))
                    let id = try await a.publish(NewEvent(topic: "far", content: large))
                    guard case .gap = await feed.take(follower) else {
                        Issue.record("a 10 KB event came with its NOTIFY")
                        return
                    }
                    #expect(try await tail.next()?.map(\.event.content) == [large])
                    #expect(try await b.event(id: id).content == large)
                }
            }
        }
    }

    /// A writer that waited for the head row's lock (another instance committing) seals what its
    /// publishers queued meanwhile into the same commit, instead of making them wait a round.
    @Test func whatQueuesDuringTheLockWaitGoesIntoTheSameCommit() async throws {
        try await withLedger(.postgresql) { ledger, subject in
            let postgres = try #require((ledger as? GroupLedger)?.driver as? PostgresDriver)
            #expect(try await ledger.open(topic: "w"))
            // Another session holds the head row, as another instance's commit would, until told
            // to let go. (Through the ledger's own pool: spawning psql in a polling loop was seen
            // to crash Foundation's Process.run while other tests spawned processes.)
            let client = postgres.client, logger = postgres.logger
            let (held, heldBy) = AsyncStream.makeStream(of: String.self)
            let (released, release) = AsyncStream.makeStream(of: Void.self)
            let holder = Task {
                try await client.withTransaction(logger: logger) { connection in
                    try await connection.query("SELECT 1 FROM ledgers FOR UPDATE", logger: logger).collect()
                    var xid = ""
                    for try await id in try await connection.query("SELECT pg_current_xact_id()::text", logger: logger).decode(String.self) {
                        xid = id
                    }
                    heldBy.yield(xid)
                    for await _ in released { break }
                }
            }
            var iterator = held.makeAsyncIterator()
            let xid = try #require(await iterator.next())
            postgres.writerState.withLock { $0.forgetHead() }  // as after another instance's NOTIFY
            let first = Task { try await ledger.publish(NewEvent(topic: "w", content: Array("first".utf8))) }
            // The first batch's transaction waits for the holder's (bounded: a test must not hang).
            let deadline = ContinuousClock.now + .seconds(60)
            func waiters() async throws -> Int {
                var count = 0
                for try await n in try await client.query(
                    """
                    SELECT count(*)::int8 FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = \(xid)
                    """, logger: logger
                ).decode(Int.self) {
                    count = n
                }
                return count
            }
            while try await waiters() < 1 {
                guard ContinuousClock.now < deadline else {
                    release.yield()
                    Issue.record("the writer never waited for the held row")
                    return
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            // Twenty more, queued (the callback says so) while the first batch waits.
            let (queued, queuedSignal) = AsyncStream.makeStream(of: Void.self)
            let late = Task {
                try await ledger.publish(
                    (0..<20).map { NewEvent(topic: "w", content: Array("late \($0)".utf8)) },
                    receipts: Array(repeating: nil, count: 20), queued: { queuedSignal.yield() }
                )
            }
            for await _ in queued { break }
            release.yield()
            try await holder.value
            let ids = try await late.value.map { try $0.get() }
            let firstID = try await first.value
            #expect(Set(ids.map(\.blockHeight)) == [firstID.blockHeight], "the late events went into other blocks")
            #expect(Set((ids + [firstID]).map(\.sequence)) == Set(1...21))
            #expect(try await ledger.verify().isIntact)
        }
    }

    @Test func concurrentWritersOnTwoInstancesKeepOneChain() async throws {
        try await withKeptLocation(.postgresql) { schema in
            try await withLedger(.postgresql, keep: schema) { a, _ in
                try await withLedger(.postgresql, keep: schema) { b, _ throws in
                    #expect(try await a.open(topic: "t"))
                    let ids = try await withThrowingTaskGroup(of: EventID.self) { group in
                        for i in 0..<200 {
                            let ledger = i % 2 == 0 ? a : b
                            group.addTask { try await ledger.publish(NewEvent(topic: "t", content: Array("e\(i)".utf8))) }
                        }
                        return try await group.reduce(into: [EventID]()) { $0.append($1) }
                    }
                    #expect(Set(ids.map(\.sequence)) == Set(1...200))
                    #expect(try await b.chainInfo().eventCount == 200)
                    let report = try await b.verify()
                    #expect(report.isIntact, "\(report)")
                }
            }
        }
    }

    /// A locked write whose answer the store deadline gave up on, and whose COMMIT then failed
    /// (its connection cut), leaves no phantom head behind: after another instance wrote the
    /// next version of the head row, this instance's next write lands on that one. No fork,
    /// verify passes, positions without a gap.
    @Test func aCommitThatFailedAfterTheDeadlineLeavesNoPhantomHead() async throws {
        try await withKeptLocation(.postgresql) { schema in
            // A deadline short enough for a test, long enough for the other writes of a loaded full run.
            try await withLedger(.postgresql, keep: schema, timeout: .seconds(8)) { a, _ in
                try await withLedger(.postgresql, keep: schema) { b, _ throws in
                    let first = try #require((a as? GroupLedger)?.driver as? PostgresDriver)
                    let logger = first.logger
                    #expect(try await a.open(topic: "f"))
                    _ = try await a.publish(NewEvent(topic: "f", content: Array("a1".utf8)))
                    first.writerState.withLock { $0.forgetHead() }  // the next write goes under the lock
                    let (hookDone, hookFinished) = AsyncStream.makeStream(of: Void.self)
                    first.faultBeforeCommit.withLock {
                        $0 = { connection in
                            first.faultBeforeCommit.withLock { $0 = nil }
                            // Not cancelled with the transaction's body when the deadline gives up on it.
                            try await Task {
                                try await Task.sleep(for: .seconds(9))  // past the 8 s deadline
                                // The connection is lost before COMMIT...
                                _ = try? await connection.query("SELECT pg_terminate_backend(pg_backend_pid())", logger: logger).collect()
                                // ...and meanwhile another instance writes the next version, which this one hears of.
                                _ = try await b.publish(NewEvent(topic: "f", content: Array("b".utf8)))
                                let heard = ContinuousClock.now + .seconds(30)
                                while first.commits.head < 2, ContinuousClock.now < heard { try await Task.sleep(for: .milliseconds(10)) }
                            }.value
                            hookFinished.yield()
                        }
                    }
                    await #expect(throws: LedgerStoreError.self) {
                        try await a.publish(NewEvent(topic: "f", content: Array("phantom".utf8)))
                    }
                    for await _ in hookDone { break }
                    try await Task.sleep(for: .milliseconds(200))  // the abandoned body ends (its COMMIT fails)
                    #expect(first.writerState.withLock { $0.knownHead } == nil, "a head that never committed is believed")
                    // Past the contention window, so A would write on the head it believes it knows.
                    try await Task.sleep(for: first.writerState.withLock { $0.contentionWindow } + .milliseconds(200))
                    _ = try await a.publish(NewEvent(topic: "f", content: Array("a3".utf8)))
                    let stored = try await b.events(after: 0, through: nil, matching: try TopicFilter.parse("f"), limit: 10)
                    #expect(stored.events.map { String(decoding: $0.event.content, as: UTF8.self) } == ["a1", "b", "a3"])
                    #expect(stored.events.map(\.position) == [1, 2, 3])
                    let report = try await b.verify()
                    #expect(report.isIntact, "\(report)")
                }
            }
        }
    }

    /// The one-statement write on the known head applies only when the head row still has the
    /// known version, height and last hash: a known head whose version matches but whose block
    /// is not the stored one (a phantom) is refused, and the batch goes under the lock.
    @Test func aKnownHeadWithTheRightVersionButAnotherHashIsRefused() async throws {
        try await withLedger(.postgresql) { ledger, _ in
            let postgres = try #require((ledger as? GroupLedger)?.driver as? PostgresDriver)
            #expect(try await ledger.open(topic: "v"))
            _ = try await ledger.publish(NewEvent(topic: "v", content: Array("one".utf8)))
            var phantom = try #require(postgres.writerState.withLock { $0.knownHead })
            phantom.head.lastHash = Array(repeating: 0xAB, count: 32)
            postgres.writerState.withLock { $0.committed(phantom) }
            let two = try await ledger.publish(NewEvent(topic: "v", content: Array("two".utf8)))
            #expect(two.sequence == 2)
            let report = try await ledger.verify()
            #expect(report.isIntact, "\(report)")
        }
    }

    /// After the LISTEN connection reconnects, notices sent meanwhile are lost: the writer forgets
    /// the head it knew.
    @Test func catchingUpForgetsTheKnownHead() async throws {
        try await withLedger(.postgresql) { ledger, _ in
            let postgres = try #require((ledger as? GroupLedger)?.driver as? PostgresDriver)
            #expect(try await ledger.open(topic: "c"))
            _ = try await ledger.publish(NewEvent(topic: "c", content: Array("one".utf8)))
            #expect(postgres.writerState.withLock { $0.knownHead } != nil)
            try await postgres.catchUp()
            #expect(postgres.writerState.withLock { $0.knownHead } == nil)
        }
    }

    /// NOTIFY needs no privilege: a role without any grant sends commit notices in the clear
    /// format (a forged event at the next position, a head no store reaches) and one sealed with
    /// a key of its own. No live reader sees any of it, the feed's head stays, and the next real
    /// commit reaches the reader as the first thing it gets.
    @Test func forgedNotificationsFromARoleWithoutGrantsReachNoReader() async throws {
        try await withLedger(.postgresql) { ledger, subject in
            let server = try await PostgresServer.shared.value
            try await ForgedNotice.createIntruder(on: server)
            #expect(try await ledger.open(topic: "door"))
            _ = try await ledger.publish(NewEvent(topic: "door", content: Array("locked".utf8)))
            let tail = ledger.tail(after: 1, matching: try TopicFilter.parse("door"))
            let schema = subject.location
            for payload in [
                ForgedNotice.clearNotice(schema: schema, position: 2, topic: "door", content: #"{"action":"unlock"}"#),
                ForgedNotice.absurdHead(schema: schema),
                ForgedNotice.wronglySealed(schema: schema),
            ] {
                try await ForgedNotice.send(payload, on: server)
            }
            // Any role can also listen: nothing of an event goes over the channel in the clear.
            try await Task.sleep(for: .milliseconds(500))
            #expect(ledger.commits.head == 1)
            let real = try await ledger.publish(NewEvent(topic: "door", content: Array("real".utf8)))
            let first = try await tail.next()
            #expect(first?.map(\.event.id) == [real])
            #expect(first?.map { String(decoding: $0.event.content, as: UTF8.self) } == ["real"])
            #expect(ledger.commits.head == 2)
        }
    }
}
