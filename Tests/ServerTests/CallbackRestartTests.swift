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

    @Test func aDeliveryStoppedByAFailedSaveStartsAgainAndDeliversEverything() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("callback-restart-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try FailingSaves(path: directory + "/subscriptions.sqlite")
        let ledger = GroupLedger.inMemory(groupID: "1", blockMaxEvents: 1, blockMaxDelay: .zero)
        let ledgers = LedgerSet(groups: ["1"], ledgers: ["1": ledger])
        var policy = CallbackPolicy()
        policy.allowedRanges = [IPRange("127.0.0.0/8")!]
        var retry = CallbackSubscriptions.Retry()
        retry.backoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(100))
        let callbacks = CallbackSubscriptions(ledgers: ledgers, store: store, policy: policy, retry: retry, logger: .init(label: "test"))

        let received = Mutex<[String]>([])
        let router = Router()
        router.post("hook") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
            if let id = (object?["event"] as? [String: Any])?["eventId"] as? String { received.withLock { $0.append(id) } }
            return Response(status: .ok)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await ledgers.withRunning(logger: .init(label: "test")) {
            try await app.test(.live) { client in
                let port = try #require(client.port)
                _ = try await ledger.open(topic: "t")
                _ = try await callbacks.subscribe(
                    groupID: "1", filter: try TopicFilter.parse("t"), url: "http://127.0.0.1:\(port)/hook", id: nil, position: 0,
                    ledgerID: ledger.ledgerID)
                let delivery = Task { try await callbacks.run() }
                defer { delivery.cancel() }
                // The first two saves fail: each stops the delivery after the batch it ends.
                store.failures.withLock { $0 = 2 }
                var ids: [String] = []
                for i in 0..<6 {
                    ids.append(try await ledger.publish(NewEvent(topic: "t", content: Array("e\(i)".utf8))).description)
                    try await Task.sleep(for: .milliseconds(50))
                }
                let all = await eventually(within: .seconds(30)) { Set(received.withLock { $0 }).isSuperset(of: ids) }
                #expect(all, "POSTed: \(received.withLock { $0 }), published: \(ids)")
                #expect(store.failures.withLock { $0 } == 0, "both failures happened")
                // In order (an event may come twice: delivery is at least once).
                var seen: [String] = []
                for id in received.withLock({ $0 }) where seen.last != id && !seen.contains(id) { seen.append(id) }
                #expect(seen == ids)
            }
        }
    }
}
