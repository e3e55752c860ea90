import Foundation
import GRDB
import WeEvent

/// A callback subscription as it is kept across restarts.
public struct Subscription: Sendable, Equatable {
    public var id: String
    public var groupID: String
    /// The topic filter as the subscriber wrote it (`TopicFilter`).
    public var topic: String
    public var url: String
    /// Every matching event up to this ledger position was delivered (acknowledged with 2xx).
    public var position: UInt64
    public var delivered: UInt64
    public var createdTimestamp: Int64

    public init(id: String, groupID: String, topic: String, url: String, position: UInt64, delivered: UInt64 = 0, createdTimestamp: Int64) {
        self.id = id
        self.groupID = groupID
        self.topic = topic
        self.url = url
        self.position = position
        self.delivered = delivered
        self.createdTimestamp = createdTimestamp
    }
}

/// Where subscriptions and their positions are kept. Every method returns once the change
/// is durable. The embedded store is a local SQLite file; a ZooKeeper-backed one (so another
/// instance can take a subscription over) can stand beside it.
public protocol SubscriptionStore: Sendable {
    func load() async throws -> [Subscription]
    /// Inserts or replaces the whole subscription.
    func save(_ subscription: Subscription) async throws
    /// Advances a subscription's position; nothing happens when it no longer exists.
    func savePosition(id: String, position: UInt64, delivered: UInt64) async throws
    func remove(id: String) async throws
}

/// Subscriptions in `ledger.path/subscriptions.sqlite`, `synchronous=FULL`: each write is
/// fsynced before it returns. Writes run on GRDB's own queue, never on the cooperative pool,
/// and are not cut short by task cancellation (the last position is saved during shutdown).
public final class SQLiteSubscriptionStore: SubscriptionStore {
    private let queue: DatabaseQueue

    public init(path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true
        )
        var config = GRDB.Configuration()
        config.label = "subscriptions"
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        queue = try DatabaseQueue(path: path, configuration: config)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS subscriptions(
                    id TEXT PRIMARY KEY,
                    group_id TEXT NOT NULL,
                    topic TEXT NOT NULL,
                    url TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    delivered INTEGER NOT NULL,
                    created INTEGER NOT NULL)
                """)
        }
    }

    public func load() async throws -> [Subscription] {
        try await write { db in
            try Row.fetchAll(db, sql: "SELECT * FROM subscriptions ORDER BY created, id").map { row in
                Subscription(
                    id: row["id"], groupID: row["group_id"], topic: row["topic"], url: row["url"],
                    position: UInt64(row["position"] as Int64), delivered: UInt64(row["delivered"] as Int64),
                    createdTimestamp: row["created"]
                )
            }
        }
    }

    public func save(_ s: Subscription) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO subscriptions(id, group_id, topic, url, position, delivered, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [s.id, s.groupID, s.topic, s.url, Int64(s.position), Int64(s.delivered), s.createdTimestamp]
            )
        }
    }

    public func savePosition(id: String, position: UInt64, delivered: UInt64) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE subscriptions SET position = ?, delivered = ? WHERE id = ?",
                arguments: [Int64(position), Int64(delivered), id]
            )
        }
    }

    public func remove(id: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM subscriptions WHERE id = ?", arguments: [id]) }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.asyncWrite(body) { _, result in continuation.resume(with: result) }
        }
    }
}
