import Foundation
import GRDB
import Logging
import Synchronization
import WeEvent

/// The embedded store of one group's ledger: SQLite in WAL mode with `synchronous=FULL`.
///
/// Its writer (`SQLiteBlockWriter`) seals each batch of the write loop on GRDB's writer queue
/// and commits it in one transaction; callers are answered only after the commit (and its
/// fsync) returned. Readers use SQLite's WAL snapshots and an in-memory view of the topics and
/// head that changes only after a commit, so nobody sees a write that is not durable.
final class SQLiteDriver: LedgerDriver {
    let core: LedgerCore
    let pool: DatabasePool
    let view: Mutex<LedgerView>
    var groupID: String { core.groupID }

    init(core: LedgerCore, pool: DatabasePool, view: LedgerView) {
        self.core = core
        self.pool = pool
        self.view = Mutex(view)
    }

    func runWrites() async {
        let blocks = SQLiteBlockWriter(driver: self)
        await core.writer.run(submitting: blocks.submit)
    }

    func close() async {
        do {
            try pool.close()
        } catch {
            core.logger.warning("closing ledger store failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: receipts

    func receipt(_ receipt: InboundReceipt) async throws -> EventID? {
        try await pool.read { db in
            try String.fetchOne(
                db, sql: "SELECT event_id FROM mqtt_receipts WHERE session = ? AND packet_id = ?",
                arguments: [receipt.session, Int64(receipt.packetID)]
            ).flatMap(EventID.init)
        }
    }

    func retire(_ receipts: [InboundReceipt]) async throws {
        try await pool.write { db in
            let delete = try db.cachedStatement(sql: "DELETE FROM mqtt_receipts WHERE session = ? AND packet_id = ?")
            for receipt in receipts { try delete.execute(arguments: [receipt.session, Int64(receipt.packetID)]) }
        }
    }

    func retireAll(session: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM mqtt_receipts WHERE session = ?", arguments: [session])
        }
    }

    // MARK: topics and head, from the view

    func isKnownNotOpen(_ topic: String) -> Bool {
        !view.withLock { $0.topics[topic]?.isOpen ?? false }
    }

    func openTopic(_ name: String) async throws -> TopicState? {
        guard let record = view.withLock({ $0.topics[name] }), record.isOpen else { return nil }
        return record.state(name: name)
    }

    func openTopicCount() async throws -> Int {
        view.withLock { $0.topics.values.filter(\.isOpen).count }
    }

    func openTopics(offset: Int, limit: Int) async throws -> [TopicState] {
        let open = view.withLock { view in
            view.topics.filter { $0.value.isOpen }.sorted { $0.value.order < $1.value.order }
        }
        return open.dropFirst(offset).prefix(limit).map { $0.value.state(name: $0.key) }
    }

    func head() async throws -> StoredHead {
        view.withLock { StoredHead(height: $0.height, lastHash: $0.lastHash, eventCount: $0.eventCount) }
    }

    func tree() async throws -> TreeBorder {
        view.withLock { $0.tree }
    }
}

extension GroupLedger {
    /// Opens (creating if needed) the embedded ledger of `groupID` under `directory`. Writes wait
    /// until its write loop runs (`LedgerSet.services`, or `LedgerSet.withRunning` for tools and tests).
    public static func openSQLite(
        groupID: String,
        directory: String,
        blockMaxEvents: Int = 1000,
        blockMaxDelay: Duration = .zero,
        logger: Logger = Logger(label: "weevent.ledger")
    ) throws -> GroupLedger {
        let file = try PrivateFiles.file("ledger.sqlite", in: directory)
        var config = GRDB.Configuration()
        config.label = "ledger-\(groupID)"
        config.prepareDatabase { db in
            // WAL (DatabasePool's default) with FULL: every commit fsyncs the WAL before returning.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Content removed by pruning or erasure is overwritten where it lay, not left in free space.
            try db.execute(sql: "PRAGMA secure_delete = FAST")
        }
        let pool = try DatabasePool(path: file, configuration: config)
        // A new file gives back the pages pruned events free (`reclaimSpace`). The pool has put
        // the file in WAL mode already, which writes its header: SQLite then takes a new
        // auto-vacuum mode only with a VACUUM, instant while the file holds no table.
        try pool.writeWithoutTransaction { db in
            if try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") == 0 {
                try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                try db.execute(sql: "VACUUM")
            }
        }
        let (ledgerID, format) = try pool.write { db in try LedgerSchema.create(db, groupID: groupID) }
        let view = try pool.read { db in try LedgerView.load(db) }
        let core = LedgerCore(
            groupID: groupID, ledgerID: ledgerID, format: format, head: view.eventCount, blockMaxEvents: blockMaxEvents, blockMaxDelay: blockMaxDelay,
            logger: logger
        )
        return GroupLedger(SQLiteDriver(core: core, pool: pool, view: view))
    }
}

/// What readers see: the durable state as of the last commit.
struct LedgerView: Sendable {
    var topics: [String: TopicRecord] = [:]
    var topicsByHash: [String: [String]] = [:]
    var height: UInt64 = 0
    var lastHash: [UInt8] = BlockHash.zero
    var eventCount: UInt64 = 0
    var tree = TreeBorder()

    static func load(_ db: Database) throws -> LedgerView {
        var view = LedgerView()
        for row in try Row.fetchAll(db, sql: "SELECT * FROM topics") {
            let name: String = row["name"]
            view.add(
                name,
                TopicRecord(
                    created: row["created"], sequence: UInt64(clamping: row["seq"] as Int64),
                    lastBlock: UInt64(clamping: row["last_block"] as Int64), lastTimestamp: row["last_timestamp"],
                    isOpen: (row["open"] as Int64) != 0, order: Int(row["ord"] as Int64),
                    idPrefix: EventID.topicHash(name)
                ))
        }
        if let row = try Row.fetchOne(db, sql: "SELECT height, hash, first_position, event_count FROM blocks ORDER BY height DESC LIMIT 1") {
            view.height = UInt64(clamping: row["height"] as Int64)
            view.lastHash = Array(row["hash"] as Data)
            view.eventCount = UInt64(clamping: (row["first_position"] as Int64) &+ (row["event_count"] as Int64) &- 1)
        }
        // A file whose blocks were altered may name events that are not stored: it still opens
        // (verify names the damage), with an empty tree.
        view.tree = try LedgerSchema.storedTree(db, size: view.eventCount) ?? TreeBorder()
        return view
    }

    mutating func add(_ name: String, _ record: TopicRecord) {
        if topics.updateValue(record, forKey: name) == nil {
            topicsByHash[record.idPrefix, default: []].append(name)
        }
    }
}
