import Foundation
import GRDB
import WeEvent

/// Reading in ledger order: pages by position, event positions, block starts, proofs.
/// All of it reads committed rows through SQLite's WAL snapshots, never blocking the writer.
extension SQLiteLedger {
    public func events(after position: UInt64, through: UInt64?, matching filter: TopicFilter, limit: Int) async throws -> EventRange {
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
        var sql = "SELECT position, block, topic, seq, timestamp, content, extensions FROM events NOT INDEXED WHERE position > ? AND position <= ?"
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
                        event: Event(id: id, topic: topic, content: Array(content), extensions: ExtensionCoding.decode(extensions), timestamp: row["timestamp"])
                    ))
            }
            return events
        }
        let scanned = events.count == limit ? events[events.count - 1].position : upper
        return EventRange(events: events, scannedThrough: scanned)
    }

    public func position(of id: EventID) async throws -> UInt64 {
        try await locate(id).position
    }

    public func firstPosition(ofBlock height: UInt64) async throws -> UInt64 {
        let chainHeight = view.withLock { $0.height }
        guard height >= 1, height <= chainHeight else {
            throw WeEventError(.blockHeightInvalid, detail: "block \(height), chain height \(chainHeight) in group \(groupID)")
        }
        let first = try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT first_position FROM blocks WHERE height = ?", arguments: [Int64(height)])
        }
        guard let first else { throw WeEventError(.blockHeightInvalid, detail: "block \(height) in group \(groupID)") }
        return UInt64(clamping: first)
    }

    public func blockHeader(at height: UInt64) async throws -> BlockHeader {
        let chainHeight = view.withLock { $0.height }
        guard height >= 1, height <= chainHeight,
            let header = try await pool.read({ db in try Self.header(db, height: height) })
        else {
            throw WeEventError(.blockHeightInvalid, detail: "block \(height), chain height \(chainHeight) in group \(groupID)")
        }
        return header
    }

    public func lastPosition(before timestamp: Int64) async throws -> UInt64 {
        let last = try await pool.read { db in
            try Int64.fetchOne(
                db, sql: "SELECT MAX(first_position + event_count - 1) FROM blocks WHERE timestamp < ?",
                arguments: [timestamp]
            )
        }
        return last.map { UInt64(clamping: $0) } ?? 0
    }

    public func proof(of id: EventID, through head: UInt64) async throws -> EventProof {
        let located = try await locate(id)
        let groupID = self.groupID
        return try await pool.read { db in
            guard let block = try Self.header(db, height: id.blockHeight) else {
                throw WeEventError(.eventIdIsMismatch, detail: "no block \(id.blockHeight) in group \(groupID)")
            }
            let first = try Int64.fetchOne(db, sql: "SELECT first_position FROM blocks WHERE height = ?", arguments: [Int64(id.blockHeight)]) ?? 1
            let rows = try Row.fetchAll(db, sql: "SELECT position, hash FROM events WHERE block = ? ORDER BY position", arguments: [Int64(id.blockHeight)])
            let leaves = rows.map { Array($0["hash"] as Data) }
            let index = Int(Int64(clamping: located.position) &- first)
            guard index >= 0, index < leaves.count else {
                throw LedgerError.inconsistent("event \(id) at position \(located.position) is outside block \(id.blockHeight)")
            }
            var links: [BlockHeader] = []
            let later = try Row.fetchCursor(
                db, sql: "SELECT * FROM blocks WHERE height > ? AND height <= ? ORDER BY height",
                arguments: [Int64(id.blockHeight), Int64(clamping: head)]
            )
            while let row = try later.next() { links.append(Self.header(row)) }
            return EventProof(
                groupID: groupID, event: located.event, eventHash: leaves[index], index: index,
                path: BlockHash.merklePath(leaves, index: index), block: block, links: links
            )
        }
    }

    // MARK: helpers

    /// The stored event named by `id` with its position; 100304/100303 as `event(id:)`.
    func locate(_ id: EventID) async throws -> PositionedEvent {
        let (height, candidates) = view.withLock { ($0.height, $0.topicsByHash[id.topicHash] ?? []) }
        if id.blockHeight > height {
            throw WeEventError(.eventIdIsMismatch, detail: "block \(id.blockHeight) above height \(height) in group \(groupID)")
        }
        let found: PositionedEvent? = try await pool.read { db in
            for topic in candidates {
                guard
                    let row = try Row.fetchOne(
                        db, sql: "SELECT position, block, timestamp, content, extensions FROM events WHERE topic = ? AND seq = ?",
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
                        extensions: ExtensionCoding.decode(extensions), timestamp: row["timestamp"]
                    ))
            }
            return nil
        }
        guard let found else { throw WeEventError(.eventIdNotExist, detail: "\(id) in group \(groupID)") }
        return found
    }

    private static func header(_ db: Database, height: UInt64) throws -> BlockHeader? {
        try Row.fetchOne(db, sql: "SELECT * FROM blocks WHERE height = ?", arguments: [Int64(height)]).map(header)
    }

    private static func header(_ row: Row) -> BlockHeader {
        BlockHeader(
            height: UInt64(clamping: row["height"] as Int64), previousHash: Array(row["prev_hash"] as Data),
            merkleRoot: Array(row["merkle_root"] as Data), hash: Array(row["hash"] as Data),
            timestamp: row["timestamp"], eventCount: UInt32(clamping: row["event_count"] as Int64)
        )
    }
}
