import Foundation
import GRDB
import WeEvent

/// Reading in ledger order: pages by position, events by id, blocks and their events.
/// All of it reads committed rows through SQLite's WAL snapshots, never blocking the writer.
extension SQLiteDriver {
    func events(after position: UInt64, through: UInt64?, matching filter: TopicFilter, limit: Int) async throws -> EventRange {
        // The names are copied under the view's lock and matched after it: a long filter must
        // not hold up the writer or other readers.
        let (head, names) = view.withLock { view -> (UInt64, [String]?) in
            (view.eventCount, filter == .all ? nil : Array(view.topics.keys))
        }
        let topics = names?.filter { filter.matches($0) }
        let upper = min(through ?? head, head)
        if position >= upper || topics?.isEmpty == true || limit <= 0 {
            return EventRange(events: [], scannedThrough: max(position, upper))
        }
        // NOT INDEXED: walk the position (rowid) range in order; with `topic IN` SQLite would
        // otherwise pick the (topic, seq) index and sort every event of those topics.
        var sql = """
            SELECT position, block, topic, seq, timestamp, content, extensions, pruned_at, pruned_reason,
            CASE WHEN pruned_at = 0 THEN NULL ELSE hash END AS pruned_hash
            FROM events NOT INDEXED WHERE position > ? AND position <= ?
            """
        var arguments: StatementArguments = [Int64(position), Int64(upper)]
        if let topics {
            sql += " AND topic IN (\(topics.map { _ in "?" }.joined(separator: ",")))"
            arguments += StatementArguments(topics)
        }
        sql += " ORDER BY position LIMIT ?"
        arguments += [limit]
        let query = sql
        let queryArguments = arguments
        let events: [PositionedEvent] = try await pool.read { db in
            var topicHashes: [String: String] = [:]
            var events: [PositionedEvent] = []
            let rows = try Row.fetchCursor(db, sql: query, arguments: queryArguments)
            while let row = try rows.next() {
                let topic: String = row["topic"]
                let topicHash = topicHashes[topic] ?? EventID.topicHash(topic)
                topicHashes[topic] = topicHash
                let content: Data = row["content"]
                let extensions: String = row["extensions"]
                let id = EventID(topicHash: topicHash, sequence: UInt64(clamping: row["seq"] as Int64), blockHeight: UInt64(clamping: row["block"] as Int64))
                events.append(
                    PositionedEvent(
                        position: UInt64(clamping: row["position"] as Int64),
                        event: Event(
                            id: id, topic: topic, content: Array(content), extensions: ExtensionCoding.decode(extensions), timestamp: row["timestamp"],
                            pruned: SQLiteRows.pruning(row)
                        )))
            }
            return events
        }
        let scanned = events.count == limit ? events[events.count - 1].position : upper
        return EventRange(events: events, scannedThrough: scanned)
    }

    func lastPosition(before timestamp: Int64) async throws -> UInt64 {
        let last = try await pool.read { db in
            try Int64.fetchOne(
                db, sql: "SELECT MAX(first_position + event_count - 1) FROM blocks WHERE timestamp < ?",
                arguments: [timestamp]
            )
        }
        return last.map { UInt64(clamping: $0) } ?? 0
    }

    func blocks(from height: UInt64, limit: Int) async throws -> [ChainCheck.StoredBlock] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM blocks WHERE height >= ? ORDER BY height LIMIT ?", arguments: [Int64(clamping: height), limit]
            ).map(SQLiteRows.storedBlock)
        }
    }

    func storedEvents(from first: UInt64, to end: UInt64) async throws -> [ChainCheck.StoredEvent] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM events WHERE position >= ? AND position < ? ORDER BY position",
                arguments: [Int64(clamping: first), Int64(clamping: end)]
            ).map(SQLiteRows.storedEvent)
        }
    }

    func eventHashes(from first: UInt64, to end: UInt64) async throws -> [[UInt8]] {
        try await pool.read { db in
            try Data.fetchAll(
                db, sql: "SELECT hash FROM events WHERE position >= ? AND position < ? ORDER BY position",
                arguments: [Int64(clamping: first), Int64(clamping: end)]
            ).map { Array($0) }
        }
    }

    func storedHashes(level: Int, indexes: Range<UInt64>) async throws -> [[UInt8]] {
        try await pool.read { db in try SQLiteRows.storedHashes(db, level: level, indexes: indexes) }
    }

    /// Every run in one read transaction: one trip to a reader connection for a whole proof.
    func storedHashes(_ runs: [(level: Int, indexes: Range<UInt64>)]) async throws -> [[[UInt8]]] {
        try await pool.read { db in try runs.map { try SQLiteRows.storedHashes(db, level: $0.level, indexes: $0.indexes) } }
    }

    func eventCount(from position: UInt64) async throws -> UInt64 {
        let count = try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE position >= ?", arguments: [Int64(clamping: position)]) ?? 0
        }
        return UInt64(clamping: count)
    }

    // MARK: helpers

    func locate(_ id: EventID) async throws -> PositionedEvent {
        let (height, candidates) = view.withLock { ($0.height, $0.topicsByHash[id.topicHash] ?? []) }
        if id.blockHeight > height {
            throw WeEventError(.eventIdIsMismatch, detail: "block \(id.blockHeight) above height \(height) in group \(groupID)")
        }
        let found: PositionedEvent? = try await pool.read { db in
            for topic in candidates {
                guard
                    let row = try Row.fetchOne(
                        db,
                        sql: """
                            SELECT position, block, timestamp, content, extensions, pruned_at, pruned_reason,
                            CASE WHEN pruned_at = 0 THEN NULL ELSE hash END AS pruned_hash
                            FROM events WHERE topic = ? AND seq = ?
                            """,
                        arguments: [topic, Int64(id.sequence)]
                    )
                else { continue }
                let block: Int64 = row["block"]
                if UInt64(clamping: block) != id.blockHeight {
                    throw WeEventError(.eventIdIsMismatch, detail: "\(id) is in block \(block)")
                }
                let content: Data = row["content"]
                let extensions: String = row["extensions"]
                return PositionedEvent(
                    position: UInt64(clamping: row["position"] as Int64),
                    event: Event(
                        id: id, topic: topic, content: Array(content),
                        extensions: ExtensionCoding.decode(extensions), timestamp: row["timestamp"], pruned: SQLiteRows.pruning(row)
                    ))
            }
            return nil
        }
        guard let found else { throw WeEventError(.eventIdNotExist, detail: "\(id) in group \(groupID)") }
        return found
    }
}
