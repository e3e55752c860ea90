import Foundation
import GRDB
import WeEvent

/// The tables of an embedded ledger file.
enum LedgerSchema {
    /// Creates what is missing; returns the ledger's id (made once, kept in `meta`) and format
    /// (`LedgerFormat.current` for a new file, recorded in `meta`; a file made before formats
    /// were recorded is format 1, and says so from then on).
    static func create(_ db: Database, groupID: String) throws -> (id: String, format: LedgerFormat) {
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
                    first_position INTEGER NOT NULL,
                    tree_root BLOB);
                CREATE TABLE IF NOT EXISTS events(
                    position INTEGER PRIMARY KEY,
                    block INTEGER NOT NULL,
                    topic TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    timestamp INTEGER NOT NULL,
                    content BLOB NOT NULL,
                    extensions TEXT NOT NULL,
                    hash BLOB NOT NULL,
                    pruned_at INTEGER NOT NULL DEFAULT 0,
                    pruned_reason INTEGER NOT NULL DEFAULT 0);
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
                CREATE TABLE IF NOT EXISTS checkpoints(
                    size INTEGER PRIMARY KEY,
                    note TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS cosignatures(
                    size INTEGER NOT NULL,
                    witness TEXT NOT NULL,
                    line TEXT NOT NULL,
                    PRIMARY KEY(size, witness)) WITHOUT ROWID;
                """)
        if let stored = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'group'") {
            guard stored == groupID else {
                throw LedgerError.inconsistent("ledger file belongs to group \(stored), not \(groupID)")
            }
            try db.execute(sql: "INSERT OR IGNORE INTO meta(key, value) VALUES ('format', '1')")
        } else {
            try db.execute(
                sql: "INSERT INTO meta(key, value) VALUES ('group', ?), ('schema', '1'), ('format', ?)",
                arguments: [groupID, String(LedgerFormat.current.rawValue)])
        }
        // Files made before the v2 header: their blocks get the column, empty (format 1 has no tree root).
        if try !db.columns(in: "blocks").contains(where: { $0.name == "tree_root" }) {
            try db.execute(sql: "ALTER TABLE blocks ADD COLUMN tree_root BLOB")
        }
        // Files made before retention: their events get the columns, none pruned.
        let eventColumns = try db.columns(in: "events").map(\.name)
        if !eventColumns.contains("pruned_at") {
            try db.execute(sql: "ALTER TABLE events ADD COLUMN pruned_at INTEGER NOT NULL DEFAULT 0")
            try db.execute(sql: "ALTER TABLE events ADD COLUMN pruned_reason INTEGER NOT NULL DEFAULT 0")
        }
        let formatValue = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'format'") ?? "1"
        guard let format = Int(formatValue).flatMap(LedgerFormat.init(rawValue:)) else {
            throw LedgerError.inconsistent("ledger file has format \(formatValue), which this broker does not know")
        }
        // Files made before ledger ids existed get theirs on first open.
        try db.execute(
            sql: "INSERT OR IGNORE INTO meta(key, value) VALUES ('ledger_id', ?)",
            arguments: [UUID().uuidString.lowercased()]
        )
        try buildTreeIfMissing(db)
        return (try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'ledger_id'") ?? "", format)
    }

    /// The group tree's border for the first `size` events, from the stored subtrees: each of
    /// its (at most 64) subtrees folded from at most 256 stored hashes of the level under it.
    /// nil when a stored hash it needs is missing.
    static func storedTree(_ db: Database, size: UInt64) throws -> TreeBorder? {
        var hashes: [[UInt8]] = []
        for subtree in MerkleTree.fullSubtrees(of: 0..<size) {
            let (level, run) = TreeReader.storedRun(of: subtree)
            let stored = try SQLiteRows.storedHashes(db, level: level, indexes: run)
            guard stored.count == run.count else { return nil }
            hashes.append(MerkleTree.root(ofFull: stored))
        }
        return TreeBorder(size: size, hashes: hashes)
    }

    /// How many events the stored blocks hold.
    static func storedEventCount(_ db: Database) throws -> UInt64 {
        UInt64(clamping: try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(first_position + event_count - 1), 0) FROM blocks") ?? 0)
    }

    /// Whether `tree_nodes` holds every full subtree of a tree of `size` leaves at each stored level.
    static func hasTreeNodes(_ db: Database, size: UInt64) throws -> Bool {
        var level = TreeBorder.tileHeight
        while level < 64, size >> UInt64(level) > 0 {
            let stored = try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM tree_nodes WHERE level = ?", arguments: [level]) ?? 0
            if UInt64(clamping: stored) != size >> UInt64(level) { return false }
            level += TreeBorder.tileHeight
        }
        return true
    }

    /// A ledger file made before the group tree existed (or whose border does not match its
    /// events) gets its tree from its events, in position order, once.
    static func buildTreeIfMissing(_ db: Database) throws {
        let events = try storedEventCount(db)
        if try hasTreeNodes(db, size: events) { return }
        try db.execute(sql: "DELETE FROM tree_nodes")
        var tree = TreeBorder()
        let insert = try db.cachedStatement(sql: "INSERT INTO tree_nodes(level, idx, hash) VALUES (?, ?, ?)")
        let hashes = try Data.fetchCursor(db, sql: "SELECT hash FROM events WHERE position <= ? ORDER BY position", arguments: [Int64(clamping: events)])
        while let hash = try hashes.next() {
            for node in tree.append(Array(hash)) {
                try insert.execute(arguments: [node.subtree.level, Int64(node.subtree.index), Data(node.hash)])
            }
        }
    }
}
