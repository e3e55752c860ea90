import Foundation
import GRDB
import Subscriptions
import Testing

@Suite struct SubscriptionStoreTests {
    /// A subscriptions.sqlite written before positions named their ledger opens, keeps its
    /// subscriptions (position without a ledger: the only one there is), and saves the ledger
    /// with the next position.
    @Test func aFileFromBeforeLedgerIDsKeepsItsSubscriptions() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("subs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/subscriptions.sqlite"
        let old = try DatabaseQueue(path: path)
        try await old.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE subscriptions(id TEXT PRIMARY KEY, group_id TEXT NOT NULL, topic TEXT NOT NULL,
                        url TEXT NOT NULL, position INTEGER NOT NULL, delivered INTEGER NOT NULL, created INTEGER NOT NULL);
                    INSERT INTO subscriptions VALUES ('s1', '1', 'a/#', 'http://127.0.0.1:9/hook', 7, 3, 1000);
                    """)
        }
        try old.close()

        let store = try SQLiteSubscriptionStore(path: path)
        let loaded = try await store.load()
        #expect(
            loaded == [Subscription(id: "s1", groupID: "1", topic: "a/#", url: "http://127.0.0.1:9/hook", position: 7, delivered: 3, createdTimestamp: 1000)])
        try await store.savePosition(id: "s1", position: 9, delivered: 5, ledgerID: "L")
        let again = try await SQLiteSubscriptionStore(path: path).load()
        #expect(again.first?.position == 9)
        #expect(again.first?.delivered == 5)
        #expect(again.first?.ledgerID == "L")
        #expect(again.first?.url == "http://127.0.0.1:9/hook")
    }

    /// Subscribes at the same moment never pass the limit: the count and the insert are one step.
    @Test func concurrentAddsNeverPassTheLimit() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("subs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteSubscriptionStore(path: dir + "/subscriptions.sqlite")
        let added = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<20 {
                group.addTask {
                    try await store.add(
                        Subscription(
                            id: "s\(i)", groupID: "1", topic: "t", url: "http://192.0.2.1/hook", position: 0, delivered: 0, createdTimestamp: Int64(i)
                        ), limit: 5)
                }
            }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(added == 5)
        #expect(try await store.load().count == 5)
    }
}
