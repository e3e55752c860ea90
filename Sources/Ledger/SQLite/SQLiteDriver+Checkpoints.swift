import GRDB

/// Checkpoints in the embedded store: one process writes the file, and its checkpoints are
/// added one at a time by the ledger's checkpointer, so no lock beyond SQLite's is needed; a
/// checkpoint no larger than a stored one is never stored.
extension SQLiteDriver {
    func checkpoints(from size: UInt64, limit: Int) async throws -> [StoredCheckpoint] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT size, note FROM checkpoints WHERE size >= ? ORDER BY size LIMIT ?",
                arguments: [Int64(clamping: size), limit]
            ).map { StoredCheckpoint(size: UInt64(clamping: $0["size"] as Int64), note: $0["note"]) }
        }
    }

    func latestCheckpoint() async throws -> StoredCheckpoint? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
                .map { StoredCheckpoint(size: UInt64(clamping: $0["size"] as Int64), note: $0["note"]) }
        }
    }

    func addCheckpoint(_ make: @escaping @Sendable (StoredCheckpoint?) async throws -> StoredCheckpoint?) async throws -> StoredCheckpoint? {
        guard let made = try await make(try await latestCheckpoint()) else { return nil }
        let stored = try await pool.write { db -> Bool in
            try db.execute(
                sql: "INSERT INTO checkpoints(size, note) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM checkpoints WHERE size >= ?)",
                arguments: [Int64(clamping: made.size), made.note, Int64(clamping: made.size)]
            )
            return db.changesCount == 1
        }
        return stored ? made : nil
    }

    func addCosignature(size: UInt64, witness: String, line: String) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO cosignatures(size, witness, line) VALUES (?, ?, ?)",
                arguments: [Int64(clamping: size), witness, line]
            )
        }
    }

    func cosignatures(size: UInt64) async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT line FROM cosignatures WHERE size = ? ORDER BY witness", arguments: [Int64(clamping: size)])
        }
    }
}
