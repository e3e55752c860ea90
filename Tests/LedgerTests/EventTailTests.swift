import Foundation
@testable import Ledger
import Testing
import TestSupport
import WeEvent

/// Reads from a tail until `count` events arrived.
private func read(_ tail: EventTail, count: Int) async throws -> [PositionedEvent] {
    var events: [PositionedEvent] = []
    while events.count < count, let batch = try await tail.next() { events += batch }
    return events
}

@Suite(.timeLimit(.minutes(6))) struct EventTailTests {
    @Test(arguments: Store.allCases) func aReaderFarBehindItsBufferCatchesUpFromTheStoreInOrder(_ store: Store) async throws {
        try await withLedger(store, maxEvents: 50, maxDelay: .zero) { ledger, _ in
            _ = try await ledger.open(topic: "a")
            _ = try await ledger.open(topic: "b")
            // A buffer of about 2 KB: the burst below overflows it many times over.
            let tail = ledger.tail(after: 0, matching: try TopicFilter.parse("a"), bufferBytes: 2048)
            var expected: [EventID] = []
            for i in 0..<300 {
                let batch = (0..<4).map { NewEvent(topic: $0 == 3 ? "b" : "a", content: Array("e\(i)-\($0)".utf8)) }
                let results = try await ledger.publish(batch)
                for (event, result) in zip(batch, results) where event.topic == "a" { expected.append(try result.get()) }
            }
            let events = try await read(tail, count: expected.count)
            #expect(events.map(\.event.id) == expected)
            #expect(events.map(\.position) == events.map(\.position).sorted())

            // And then it follows live commits again.
            let live = try await ledger.publish(NewEvent(topic: "a", content: Array("live".utf8)))
            #expect(try await tail.next()?.map(\.event.id) == [live])
        }
    }

    /// A shared store's reads fail while it fails over: a tail reading from the store tries again
    /// until a read succeeds, and hands over every event in order rather than ending its reader;
    /// closed meanwhile, it ends at once.
    @Test func aTailRidesOutFailingReadsOfTheStore() async throws {
        let store = MemoryLedgerStore()
        let ledger = GroupLedger.inMemory(groupID: "1", store: store, blockMaxEvents: 10, blockMaxDelay: .zero)
        try await LedgerSet(groups: ["1"], ledgers: ["1": ledger]).withRunning(logger: .init(label: "test")) {
            _ = try await ledger.open(topic: "a")
            let ids = try await ledger.publish((0..<25).map { NewEvent(topic: "a", content: Array("e\($0)".utf8)) }).map { try $0.get() }
            // Behind the head when it starts: it reads the store first.
            store.failReads(ofNext: 3)
            let tail = ledger.tail(after: 0, matching: try TopicFilter.parse("a"))
            #expect(try await read(tail, count: ids.count).map(\.event.id) == ids)
            let live = try await ledger.publish(NewEvent(topic: "a", content: Array("live".utf8)))
            #expect(try await tail.next()?.map(\.event.id) == [live])
            tail.close()

            // A store that does not come back: the reader waits until the tail is closed.
            store.failReads(ofNext: .max)
            let waiting = ledger.tail(after: 0, matching: try TopicFilter.parse("a"))
            let reader = Task { try await waiting.next() }
            try await Task.sleep(for: .milliseconds(500))
            let closedAt = ContinuousClock.now
            waiting.close()
            #expect(try await reader.value == nil)
            #expect(ContinuousClock.now - closedAt < .seconds(5), "a closed tail ended \(ContinuousClock.now - closedAt) later")
            store.failReads(ofNext: 0)
        }
    }

    @Test(arguments: Store.allCases) func eventsPagesByPositionAndReportsWhatItScanned(_ store: Store) async throws {
        try await withLedger(store, maxEvents: 50, maxDelay: .zero) { ledger, _ in
            _ = try await ledger.open(topic: "x")
            _ = try await ledger.open(topic: "y")
            _ = try await ledger.publish((0..<10).map { NewEvent(topic: $0 % 2 == 0 ? "x" : "y", content: [UInt8($0)]) })
            let all = try await ledger.events(after: 0, through: nil, matching: .all, limit: 100)
            #expect(all.events.map(\.position) == Array(1...10))
            #expect(all.scannedThrough == 10)
            let page = try await ledger.events(after: 0, through: nil, matching: try TopicFilter.parse("y"), limit: 2)
            #expect(page.events.map(\.position) == [2, 4])
            #expect(page.scannedThrough == 4)
            let bounded = try await ledger.events(after: 4, through: 7, matching: try TopicFilter.parse("y"), limit: 10)
            #expect(bounded.events.map(\.position) == [6])
            #expect(bounded.scannedThrough == 7)
            let id = all.events[6].event.id
            #expect(try await ledger.position(of: id) == 7)
            let error = await #expect(throws: WeEventError.self) { try await ledger.firstPosition(ofBlock: 99) }
            #expect(error?.code == .blockHeightInvalid)
        }
    }

    /// A live reader on the instance that published gets each event from the commit feed, not
    /// from a read of the store: the instance's own NOTIFY, which PostgreSQL often delivers
    /// before the commit's answer, must not send readers to the store for events the writer is
    /// about to hand them (it cost every same-instance stream a query and about 1 ms per commit).
    @Test(arguments: Store.allCases) func ownCommitsReachLiveReadersThroughTheFeed(_ store: Store) async throws {
        try await withLedger(store) { ledger, _ in
            _ = try await ledger.open(topic: "own")
            let feed = ledger.commits
            let (follower, _) = feed.register(filter: try TopicFilter.parse("own"), capacity: 1 << 20)
            defer { feed.remove(follower) }
            var gaps = 0
            for i in 0..<40 {
                let id = try await ledger.publish(NewEvent(topic: "own", content: Array("e\(i)".utf8)))
                // Give a NOTIFY that follows the answer time to arrive.
                try await Task.sleep(for: .milliseconds(5))
                switch await feed.take(follower) {
                case .events(let events, _): #expect(events.map(\.event.id) == [id])
                case .gap: gaps += 1
                case .woken, .closed: Issue.record("the feed ended or woke without events")
                }
            }
            #expect(gaps == 0, "\(gaps) of 40 commits sent the reader to the store")
        }
    }

    @Test(arguments: Store.allCases) func closingTheLedgerEndsItsTails(_ store: Store) async throws {
        let waiting = try await withLedger(store) { ledger, _ in
            let tail = ledger.tail(after: 0, matching: .all)
            return Task { try await tail.next() }
        }
        #expect(try await waiting.value == nil)
    }

    @Test(arguments: [
        ("iot/+/temp", "iot/a/temp", true), ("iot/+/temp", "iot/a/b/temp", false), ("iot/#", "iot", true),
        ("iot/#", "iot/a/b", true), ("#", "anything/at/all", true), ("a,b", "b", true), ("a,b", "c", false),
        ("+", "a", true), ("+", "a/b", false), ("iot/+", "iot/", true),
    ])
    func topicFiltersMatchLikeMQTT(filter: String, topic: String, matches: Bool) throws {
        #expect(try TopicFilter.parse(filter).matches(topic) == matches)
    }

    /// A head announced beyond what the store holds (no sealed notice can say that; a writer's
    /// bug could) is not chased in a tight loop: the reader asks the store again at a slowing
    /// pace, and still gets the next real event.
    @Test func aHeadBeyondTheStoreIsNotChasedInALoop() async throws {
        try await withLedger(.postgresql) { ledger, subject in
            #expect(try await ledger.open(topic: "h"))
            _ = try await ledger.publish(NewEvent(topic: "h", content: Array("one".utf8)))
            let tail = ledger.tail(after: 1, matching: try TopicFilter.parse("h"))
            ledger.commits.advanced(to: 1 << 40)
            let reading = Task { try await tail.next() }
            let server = try await PostgresServer.shared.value
            func scans() async throws -> Int {
                let text = try await server.psql(
                    "SELECT sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)) FROM pg_stat_user_tables WHERE schemaname = '\(subject.location)'"
                )
                return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            }
            let before = try await scans()
            try await Task.sleep(for: .milliseconds(2500))
            let after = try await scans()
            #expect(after - before < 50, "\(after - before) table scans in 2.5 s")
            let real = try await ledger.publish(NewEvent(topic: "h", content: Array("two".utf8)))
            #expect(try await reading.value?.map(\.event.id) == [real])
        }
    }
}

/// The feed's per-topic matches: whoever registers before or after a topic shows, and whoever
/// leaves, each follower gets exactly the events its filter matches.
@Suite struct CommitFeedMatchingTests {
    private func events(_ topics: [String], from position: UInt64) -> [PositionedEvent] {
        topics.enumerated().map { i, topic in
            PositionedEvent(
                position: position + UInt64(i),
                event: Event(
                    id: EventID(topic: topic, sequence: 1, blockHeight: 1), topic: topic, content: Array(topic.utf8), extensions: [:], timestamp: 0
                ))
        }
    }

    private func taken(_ feed: CommitFeed, _ id: Int) async -> [String] {
        guard case .events(let events, _) = await feed.take(id) else { return [] }
        return events.map(\.event.topic)
    }

    @Test func followersGetWhatTheirFiltersMatchWhenTheyCameAndWent() async throws {
        let feed = CommitFeed(head: 0)
        let (a, _) = feed.register(filter: try TopicFilter.parse("a/#"), capacity: 1 << 20)
        feed.committed(through: 2) { events(["a/x", "b/y"], from: 1) }
        #expect(await taken(feed, a) == ["a/x"])
        // B comes after b/y was seen.
        let (b, _) = feed.register(filter: try TopicFilter.parse("b/+,c"), capacity: 1 << 20)
        feed.committed(through: 5) { events(["b/y", "a/x", "b/z"], from: 3) }
        #expect(await taken(feed, a) == ["a/x"])
        #expect(await taken(feed, b) == ["b/y", "b/z"])
        // A leaves; C names a/x; a commit from elsewhere.
        feed.remove(a)
        let (c, _) = feed.register(filter: try TopicFilter.parse("a/x"), capacity: 1 << 20)
        feed.committed(elsewhere: events(["a/x", "c", "d"], from: 6), through: 8)
        #expect(await taken(feed, c) == ["a/x"])
        #expect(await taken(feed, b) == ["c"])
        // Everyone leaves; the next follower learns the topics afresh.
        feed.remove(b)
        feed.remove(c)
        let (d, _) = feed.register(filter: try TopicFilter.parse("#"), capacity: 1 << 20)
        feed.committed(through: 10) { events(["b/y", "e"], from: 9) }
        #expect(await taken(feed, d) == ["b/y", "e"])
    }
}
