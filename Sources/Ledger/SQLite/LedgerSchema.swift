import Foundation
import GRDB
import WeEvent

/// The tables of an embedded ledger file.
enum LedgerSchema {
    /// Creates what is missing; returns the ledger's id (made once, kept in `meta`).
    static func create(_ db: Database, groupID: String) throws -> String {
        try db.execute(
            sql: """
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS blocks(
                    height INTEGER PRIMARY KEY,
                    prev_hash BLOB NOT NULL,
                    merkle_root BLOB NOT NULL,
                    hash BLOB NOT NULL,
                    timestamp INTEGER NOT NULL,
                    event_count INTEGER NOT NULL,
                    first_position INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS events(
                    position INTEGER PRIMARY KEY,
                    block INTEGER NOT NULL,
                    topic TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    timestamp INTEGER NOT NULL,
                    content BLOB NOT NULL,
                    extensions TEXT NOT NULL,
                    hash BLOB NOT NULL);
                CREATE UNIQUE INDEX IF NOT EXISTS events_topic_seq ON events(topic, seq);
                CREATE TABLE IF NOT EXISTS mqtt_receipts(
                    session TEXT NOT NULL,
                    packet_id INTEGER NOT NULL,
                    event_id TEXT NOT NULL,
                    PRIMARY KEY(session, packet_id)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS topics(
                    name TEXT PRIMARY KEY,
                    created INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    last_block INTEGER NOT NULL,
                    last_timestamp INTEGER NOT NULL,
                    open INTEGER NOT NULL,
                    ord INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS tree_nodes(
                    level INTEGER NOT NULL,
                    idx INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    PRIMARY KEY(level, idx)) WITHOUT ROWID;
                """)
        if let stored = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'group'") {
            guard stored == groupID else {
                throw LedgerError.inconsistent("ledger file belongs to group \(stored), not \(groupID)")
            }
        } else {
            try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('group', ?), ('schema', '1')", arguments: [groupID])
        }
        // Files made before ledger ids existed get theirs on first open.
        try db.execute(
            sql: "INSERT OR IGNORE INTO meta(key, value) VALUES ('ledger_id', ?)",
            arguments: [UUID().uuidString.lowercased()]
        )
        try buildTreeIfMissing(db)
        return try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'ledger_id'") ?? ""
    }

    /// The group tree's border as stored with the last commit (`meta` keys `tree_size` and
    /// `tree_border`, base64 of the hashes); nil when absent or not the decomposition of its size.
    static func storedTree(_ db: Database) throws -> TreeBorder? {
        guard let size = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'tree_size'").flatMap({ UInt64($0) }),
            let text = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'tree_border'"),
            let bytes = Data(base64Encoded: text), bytes.count % 32 == 0
        else { return nil }
        let hashes = stride(from: 0, to: bytes.count, by: 32).map { Array(bytes[$0..<($0 + 32)]) }
        return TreeBorder(size: size, hashes: hashes)
    }

    /// Stores the border, in the transaction of the commit that made it.
    static func store(_ tree: TreeBorder, into db: Database) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('tree_size', ?), ('tree_border', ?)",
            arguments: [String(tree.size), Data(tree.hashes.joined()).base64EncodedString()]
        )
    }

    /// A ledger file made before the group tree existed (or whose border does not match its
    /// events) gets its tree from its events, in position order, once.
    static func buildTreeIfMissing(_ db: Database) throws {
        let events = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(first_position + event_count - 1), 0) FROM blocks") ?? 0
        if let tree = try storedTree(db), tree.size == UInt64(clamping: events) { return }
        try db.execute(sql: "DELETE FROM tree_nodes")
        var tree = TreeBorder()
        let insert = try db.cachedStatement(sql: "INSERT INTO tree_nodes(level, idx, hash) VALUES (?, ?, ?)")
        let hashes = try Data.fetchCursor(db, sql: "SELECT hash FROM events WHERE position <= ? ORDER BY position", arguments: [events])
        while let hash = try hashes.next() {
            for node in tree.append(Array(hash)) {
                try insert.execute(arguments: [node.subtree.level, Int64(node.subtree.index), Data(node.hash)])
            }
        }
        try store(tree, into: db)
    }
}
