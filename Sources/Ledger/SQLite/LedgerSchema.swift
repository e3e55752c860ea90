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
        return try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'ledger_id'") ?? ""
    }
}
