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
    /// The ledger `position` counts in (`EventLedger.ledgerID`); nil: the only one there is.
    /// With several instances on embedded ledgers, an instance taking the subscription over
    /// from another one's ledger cannot use that position (see `CallbackSubscriptions`).
    public var ledgerID: String?

    public init(
        id: String, groupID: String, topic: String, url: String, position: UInt64, delivered: UInt64 = 0,
        createdTimestamp: Int64, ledgerID: String? = nil
    ) {
        self.id = id
        self.groupID = groupID
        self.topic = topic
        self.url = url
        self.position = position
        self.delivered = delivered
        self.createdTimestamp = createdTimestamp
        self.ledgerID = ledgerID
    }
}

/// Where subscriptions and their positions are kept. Every method returns once the change
/// is durable. The embedded store is a local SQLite file (one instance); the ZooKeeper store
/// shares subscriptions between instances, so another one can take their delivery over.
public protocol SubscriptionStore: Sendable {
    func load() async throws -> [Subscription]
    /// Inserts a new subscription (or replaces one with its id).
    func save(_ subscription: Subscription) async throws
    /// Inserts a new subscription unless `limit` subscriptions exist (false then), the count and
    /// the insert as one step, so concurrent subscribes (on any instance) never pass the limit.
    func add(_ subscription: Subscription, limit: Int) async throws -> Bool
    /// Advances a subscription's position (counted in ledger `ledgerID`); nothing happens when
    /// it no longer exists.
    func savePosition(id: String, position: UInt64, delivered: UInt64, ledgerID: String) async throws
    func remove(id: String) async throws
    /// Every subscription, each time another instance added, removed or changed one.
    /// A store only this instance writes never yields.
    func changes() -> AsyncStream<[Subscription]>
}

extension SubscriptionStore {
    public func changes() -> AsyncStream<[Subscription]> {
        AsyncStream { _ in }
    }
}

/// Subscriptions in `ledger.path/subscriptions.sqlite`, `synchronous=FULL`: each write is
/// fsynced before it returns. Writes run on GRDB's own queue, never on the cooperative pool,
/// and are not cut short by task cancellation (the last position is saved during shutdown).
public final class SQLiteSubscriptionStore: SubscriptionStore {
    private let queue: DatabaseQueue

    public init(path: String) throws {
        try PrivateFiles.directory((path as NSString).deletingLastPathComponent)
        try PrivateFiles.file(path)
        var config = GRDB.Configuration()
        config.label = "subscriptions"
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        queue = try DatabaseQueue(path: path, configuration: config)
        try queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS subscriptions(
                        id TEXT PRIMARY KEY,
                        group_id TEXT NOT NULL,
                        topic TEXT NOT NULL,
                        url TEXT NOT NULL,
                        position INTEGER NOT NULL,
                        delivered INTEGER NOT NULL,
                        created INTEGER NOT NULL,
                        ledger_id TEXT)
                    """)
            // Files made before positions named their ledger.
            if try !db.columns(in: "subscriptions").contains(where: { $0.name == "ledger_id" }) {
                try db.execute(sql: "ALTER TABLE subscriptions ADD COLUMN ledger_id TEXT")
            }
        }
    }

    public func load() async throws -> [Subscription] {
        try await write { db in
            try Row.fetchAll(db, sql: "SELECT * FROM subscriptions ORDER BY created, id").map { row in
                Subscription(
                    id: row["id"], groupID: row["group_id"], topic: row["topic"], url: row["url"],
                    position: UInt64(clamping: row["position"] as Int64), delivered: UInt64(clamping: row["delivered"] as Int64),
                    createdTimestamp: row["created"], ledgerID: row["ledger_id"]
                )
            }
        }
    }

    public func save(_ s: Subscription) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO subscriptions(id, group_id, topic, url, position, delivered, created, ledger_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [s.id, s.groupID, s.topic, s.url, Int64(s.position), Int64(s.delivered), s.createdTimestamp, s.ledgerID]
            )
        }
    }

    public func add(_ s: Subscription, limit: Int) async throws -> Bool {
        try await write { db in
            guard try Int.fetchOne(db, sql: "SELECT count(*) FROM subscriptions") ?? 0 < limit else { return false }
            try db.execute(
                sql: """
                    INSERT INTO subscriptions(id, group_id, topic, url, position, delivered, created, ledger_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [s.id, s.groupID, s.topic, s.url, Int64(s.position), Int64(s.delivered), s.createdTimestamp, s.ledgerID]
            )
            return true
        }
    }

    public func savePosition(id: String, position: UInt64, delivered: UInt64, ledgerID: String) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE subscriptions SET position = ?, delivered = ?, ledger_id = ? WHERE id = ?",
                arguments: [Int64(position), Int64(delivered), ledgerID, id]
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
