import Foundation
import GRDB
import WeEvent

/// Retention on the embedded store: finding what still has content, removing it in short
/// durable transactions between the write loop's commits (GRDB's one writer queue), and
/// handing the freed pages back to the file system.
extension SQLiteDriver {
    func topicNames() async throws -> [String] {
        view.withLock { Array($0.topics.keys) }
    }

    func prunable(after position: UInt64, through: UInt64, topics: [String]?, limit: Int) async throws -> [PrunableEvent] {
        guard position < through, limit > 0, topics?.isEmpty != true else { return [] }
        let (sql, arguments) = Self.unpruned(
            "position, extensions, length(content) + length(CAST(extensions AS BLOB)) AS bytes", after: position, through: through, topics: topics)
        return try await pool.read { db in
            try Row.fetchAll(db, sql: sql + " ORDER BY position LIMIT ?", arguments: arguments + [limit]).map { row in
                PrunableEvent(
                    position: UInt64(clamping: row["position"] as Int64), extensions: ExtensionCoding.decode(row["extensions"]),
                    bytes: UInt64(clamping: row["bytes"] as Int64))
            }
        }
    }

    func retainedBytes(after position: UInt64, through: UInt64, topics: [String]?) async throws -> UInt64 {
        guard position < through, topics?.isEmpty != true else { return 0 }
        let (sql, arguments) = Self.unpruned(
            "COALESCE(SUM(length(content) + length(CAST(extensions AS BLOB))), 0)", after: position, through: through, topics: topics)
        let total = try await pool.read { db in try Int64.fetchOne(db, sql: sql, arguments: arguments) ?? 0 }
        return UInt64(clamping: total)
    }

    /// `SELECT columns` of the events in `(after, through]` still holding their content, of `topics` when given.
    private static func unpruned(_ columns: String, after: UInt64, through: UInt64, topics: [String]?) -> (String, StatementArguments) {
        // NOT INDEXED: walk the position range (see `events(after:)`).
        var sql = "SELECT \(columns) FROM events NOT INDEXED WHERE position > ? AND position <= ? AND pruned_at = 0"
        var arguments: StatementArguments = [Int64(clamping: after), Int64(clamping: through)]
        if let topics {
            sql += " AND topic IN (\(topics.map { _ in "?" }.joined(separator: ",")))"
            arguments += StatementArguments(topics)
        }
        return (sql, arguments)
    }

    func prune(_ changes: [PruneChange]) async throws -> Int {
        guard !changes.isEmpty else { return 0 }
        return try await pool.write { db in
            // Not an UPDATE (nor a REPLACE, which SQLite turns into one): SQLite shrinks a row in
            // place and never merges the pages left mostly empty, so nothing would be freed. A
            // DELETE merges a page left two-thirds empty with its neighbours and puts the pages it
            // frees on the free list (which new events reuse, and `reclaimSpace` gives back);
            // the row is then written again without its content.
            let read = try db.cachedStatement(sql: "SELECT block, topic, seq, timestamp, hash FROM events WHERE position = ? AND pruned_at = 0")
            let delete = try db.cachedStatement(sql: "DELETE FROM events WHERE position = ?")
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO events(position, block, topic, seq, timestamp, content, extensions, hash, pruned_at, pruned_reason)
                    VALUES (?, ?, ?, ?, ?, x'', ?, ?, ?, ?)
                    """)
            var changed = 0
            for change in changes {
                let position = Int64(clamping: change.position)
                guard let row = try Row.fetchOne(read, arguments: [position]) else { continue }
                try delete.execute(arguments: [position])
                try insert.execute(arguments: [
                    position, row["block"] as Int64, row["topic"] as String, row["seq"] as Int64, row["timestamp"] as Int64,
                    ExtensionCoding.encode(change.extensions), row["hash"] as Data, change.time, change.reason.rawValue,
                ])
                changed += 1
            }
            return changed
        }
    }

    /// A reader on an older snapshot makes the checkpoint wait (SQLITE_BUSY): it is tried again
    /// for up to 5 s (readers' transactions are short), then the erasure fails with the store's
    /// error and can be asked again (the row itself is already without the content).
    func scrub() async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            do {
                _ = try await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
                return
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                if ContinuousClock.now >= deadline { throw error }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Files made with incremental auto-vacuum (every file made since retention exists) give
    /// their free pages back; older files keep them and reuse them for new events.
    func reclaimSpace() async throws -> Int64 {
        try await pool.writeWithoutTransaction { db in
            guard try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") == 2 else { return 0 }
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            if free > 0 { try db.execute(sql: "PRAGMA incremental_vacuum") }
            return free * (try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096)
        }
    }
}
