import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Synchronization
import TestSupport
import Testing
import WeEvent
@testable import Subscriptions

/// A subscription's delivery that stops on a failure starts again: here the store cannot save
/// the position after a batch (a ZooKeeper write during its leader's election, a full disk), and
/// every event published after that is POSTed all the same.
@Suite(.timeLimit(.minutes(2))) struct CallbackRestartTests {
    /// A SQLite subscription store whose next `savePosition` calls fail.
    final class FailingSaves: SubscriptionStore {
        let inner: SQLiteSubscriptionStore
        let failures = Mutex(0)

        init(path: String) throws { inner = try SQLiteSubscriptionStore(path: path) }

        func load() async throws -> [Subscription] { try await inner.load() }
        func save(_ subscription: Subscription) async throws { try await inner.save(subscription) }
        func add(_ subscription: Subscription, limit: Int) async throws -> Bool { try await inner.add(subscription, limit: limit) }
        func remove(id: String) async throws { try await inner.remove(id: id) }
        func savePosition(id: String, position: UInt64, delivered: UInt64, ledgerID: String) async throws {
            let fail = failures.withLock { count -> Bool in
                guard count > 0 else { return false }
                count -= 1
                return true
            }
            if fail { throw SaveFailed() }
            try await inner.savePosition(id: id, position: position, delivered: delivered, ledgerID: ledgerID)
        }
    }

    struct SaveFailed: Error, CustomStringConvertible {
        var description: String { "the position could not be saved (as set by the test)" }
    }

    /// The event ids POSTed to the receiver, in order.
    final class Received: Sendable {
        let ids = Mutex<[String]>([])
        var all: [String] { ids.withLock { $0 } }
    }

    /// A ledger of group "1" on `memory`, a subscription store in a temporary directory, callback
    /// delivery with a short backoff, and a receiver on loopback that records the event ids POSTed
    /// to `http://127.0.0.1:<port>/hook`.
    func withDelivery(
        memory: MemoryLedgerStore = MemoryLedgerStore(),
        _ body: @escaping @Sendable (GroupLedger, FailingSaves, CallbackSubscriptions, _ hook: String, _ received: Received) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("callback-restart-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try FailingSaves(path: directory + "/subscriptions.sqlite")
        let ledger = GroupLedger.inMemory(groupID: "1", store: memory, blockMaxEvents: 1, blockMaxDelay: .zero)
        let ledgers = LedgerSet(groups: ["1"], ledgers: ["1": ledger])
        var policy = CallbackPolicy()
        policy.allowedRanges = [IPRange("127.0.0.0/8")!]
        var retry = CallbackSubscriptions.Retry()
        retry.backoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(100))
        let callbacks = CallbackSubscriptions(ledgers: ledgers, store: store, policy: policy, retry: retry, logger: .init(label: "test"))

        let received = Received()
        let router = Router()
        router.post("hook") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
            if let id = (object?["event"] as? [String: Any])?["eventId"] as? String { received.ids.withLock { $0.append(id) } }
            return Response(status: .ok)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await ledgers.withRunning(logger: .init(label: "test")) {
            try await app.test(.live) { client in
                let port = try #require(client.port)
                _ = try await ledger.open(topic: "t")
                try await body(ledger, store, callbacks, "http://127.0.0.1:\(port)/hook", received)
            }
        }
    }

    /// Publishes six events to "t", 50 ms apart; their ids.
    func publishSix(_ ledger: GroupLedger) async throws -> [String] {
        var ids: [String] = []
        for i in 0..<6 {
            ids.append(try await ledger.publish(NewEvent(topic: "t", content: Array("e\(i)".utf8))).description)
            try await Task.sleep(for: .milliseconds(50))
        }
        return ids
    }

    /// Every id in `ids` POSTed, in order (an event may come twice: delivery is at least once).
    func expectDelivered(_ ids: [String], _ received: Received) async {
        let all = await eventually(within: .seconds(30)) { Set(received.all).isSuperset(of: ids) }
        #expect(all, "POSTed: \(received.all), published: \(ids)")
        var seen: [String] = []
        for id in received.all where seen.last != id && !seen.contains(id) { seen.append(id) }
        #expect(seen == ids)
    }

    @Test func aDeliveryStoppedByAFailedSaveStartsAgainAndDeliversEverything() async throws {
        try await withDelivery { ledger, store, callbacks, hook, received in
            _ = try await callbacks.subscribe(
                groupID: "1", filter: try TopicFilter.parse("t"), url: hook, id: nil, position: 0, ledgerID: ledger.ledgerID)
            let delivery = Task { try await callbacks.run() }
            defer { delivery.cancel() }
            // The first two saves fail: each stops the delivery after the batch it ends.
            store.failures.withLock { $0 = 2 }
            let ids = try await publishSix(ledger)
            await expectDelivered(ids, received)
            #expect(store.failures.withLock { $0 } == 0, "both failures happened")
        }
    }

    /// A subscription taken over from an instance with another ledger starts at this ledger's
    /// last position before the subscription was made; when that read fails (the store is
    /// failing over), the delivery starts again once it succeeds, in the same term. It used to
    /// wait for the next leader.
    @Test func aTakeOverWhoseStartCannotBeReadStartsOnceItCan() async throws {
        let memory = MemoryLedgerStore()
        try await withDelivery(memory: memory) { ledger, _, callbacks, hook, received in
            let before = try await ledger.publish(NewEvent(topic: "t", content: Array("before".utf8))).description
            try await Task.sleep(for: .milliseconds(20))  // created after that block, by the clock
            _ = try await callbacks.subscribe(
                groupID: "1", filter: try TopicFilter.parse("t"), url: hook, id: nil, position: 0, ledgerID: "another-instance's-ledger")
            memory.failReads(ofNext: 3)
            let delivery = Task { try await callbacks.run() }
            defer { delivery.cancel() }
            let ids = try await publishSix(ledger)
            await expectDelivered(ids, received)
            #expect(!received.all.contains(before), "the event before the subscription is not delivered")
        }
    }
}
