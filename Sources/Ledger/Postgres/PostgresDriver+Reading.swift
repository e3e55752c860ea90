import Foundation
import NIOCore
import PostgresNIO
import WeEvent

/// Reads of the shared ledger: straight from the database, so every instance answers the same.
/// Only committed rows are visible, so nobody sees a write that is not durable.
extension PostgresDriver {
    typealias TopicRow = (String, Int64, Int64, Int64, Int64, Bool, Int32, String)
    static let topicColumns = "name, created, seq, last_block, last_timestamp, open, ord, id_prefix"

    /// Runs a read and decodes all its rows, within the store's deadline; failures are a `LedgerStoreError`.
    func fetchRows<Row: Sendable>(_ query: PostgresQuery, _ decode: @escaping @Sendable (PostgresRow) throws -> Row) async throws -> [Row] {
        let client = self.client, logger = self.logger
        do {
            return try await withStoreDeadline(store.timeout, "read of group \(groupID)") {
                var rows: [Row] = []
                for try await row in try await client.query(query, logger: logger) { rows.append(try decode(row)) }
                return rows
            }
        } catch let error as LedgerStoreError {
            throw error
        } catch {
            throw LedgerStoreError("reading from PostgreSQL failed: \(PostgresBlockWriter.describe(error))")
        }
    }

    func openTopic(_ topic: String) async throws -> TopicState? {
        let rows = try await fetchRows(
            "SELECT \(unescaped: Self.topicColumns) FROM topics WHERE group_id = \(groupID) AND name = \(topic) AND open"
        ) { try $0.decode(TopicRow.self) }
        return rows.first.map(Self.state)
    }

    static func state(_ row: TopicRow) -> TopicState {
        TopicState(
            name: row.0, createdTimestamp: row.1, sequenceNumber: UInt64(clamping: row.2),
            blockNumber: UInt64(clamping: row.3), lastTimestamp: row.4
        )
    }

    func openTopicCount() async throws -> Int {
        let rows = try await fetchRows("SELECT count(*) FROM topics WHERE group_id = \(groupID) AND open") { try $0.decode(Int64.self) }
        return Int(rows.first ?? 0)
    }

    func openTopics(offset: Int, limit: Int) async throws -> [TopicState] {
        try await fetchRows(
            """
            SELECT \(unescaped: Self.topicColumns) FROM topics WHERE group_id = \(groupID) AND open
            ORDER BY ord LIMIT \(Int64(limit)) OFFSET \(Int64(offset))
            """
        ) { Self.state(try $0.decode(TopicRow.self)) }
    }

    /// Height, last hash and event count of the chain as committed now.
    func head() async throws -> StoredHead {
        let rows = try await fetchRows("SELECT height, last_hash, event_count FROM ledgers WHERE group_id = \(groupID)") {
            try $0.decode((Int64, ByteBuffer, Int64).self)
        }
        guard let (height, hash, count) = rows.first else { throw LedgerStoreError("group \(groupID) has no head row") }
        return StoredHead(height: UInt64(clamping: height), lastHash: Array(hash.readableBytesView), eventCount: UInt64(clamping: count))
    }

    /// One autocommitted DELETE per session (synchronous commit: durable when it returns).
    func retire(_ receipts: [InboundReceipt]) async throws {
        for (session, ids) in Dictionary(grouping: receipts, by: \.session) {
            let packetIDs = ids.map { Int32($0.packetID) }
            _ = try await fetchRows(
                """
                DELETE FROM mqtt_receipts WHERE group_id = \(groupID) AND session = \(session) AND packet_id = ANY(\(packetIDs))
                """
            ) { _ in () }
        }
    }

    func retireAll(session: String) async throws {
        _ = try await fetchRows("DELETE FROM mqtt_receipts WHERE group_id = \(groupID) AND session = \(session)") { _ in () }
    }

    func receipt(_ receipt: InboundReceipt) async throws -> EventID? {
        let rows = try await fetchRows(
            """
            SELECT event_id FROM mqtt_receipts
            WHERE group_id = \(groupID) AND session = \(receipt.session) AND packet_id = \(Int32(receipt.packetID))
            """
        ) { try $0.decode(String.self) }
        return rows.first.flatMap(EventID.init)
    }

    func locate(_ id: EventID) async throws -> PositionedEvent {
        let height = try await head().height
        if id.blockHeight > height {
            throw WeEventError(.eventIdIsMismatch, detail: "block \(id.blockHeight) above height \(height) in group \(groupID)")
        }
        let rows = try await fetchRows(
            """
            SELECT e.position, e.block, e.topic, e.timestamp, e.content, e.extensions, e.pruned_at, e.pruned_reason,
            CASE WHEN e.pruned_at = 0 THEN NULL ELSE e.hash END FROM events e
            JOIN topics t ON t.group_id = e.group_id AND t.name = e.topic
            WHERE e.group_id = \(groupID) AND t.id_prefix = \(id.topicHash) AND e.seq = \(Int64(id.sequence))
            """
        ) { try $0.decode((Int64, Int64, String, Int64, ByteBuffer, String, Int64, Int32, ByteBuffer?).self) }
        guard
            let (position, _, topic, timestamp, content, extensions, prunedAt, prunedReason, prunedHash) = rows.first(where: {
                UInt64(clamping: $0.1) == id.blockHeight
            })
        else {
            if let other = rows.first { throw WeEventError(.eventIdIsMismatch, detail: "\(id) is in block \(other.1)") }
            throw WeEventError(.eventIdNotExist, detail: "\(id) in group \(groupID)")
        }
        return PositionedEvent(
            position: UInt64(clamping: position),
            event: Event(
                id: id, topic: topic, content: Array(content.readableBytesView),
                extensions: ExtensionCoding.decode(extensions), timestamp: timestamp,
                pruned: Self.pruning(at: prunedAt, reason: prunedReason, hash: prunedHash)
            ))
    }

    /// How an event row says its content was removed (`pruned_at` 0 and no hash read: it was not).
    static func pruning(at time: Int64, reason: Int32, hash: ByteBuffer?) -> Pruning? {
        guard time != 0, let hash else { return nil }
        return Pruning(time: time, reason: Pruning.Reason(rawValue: Int(reason)) ?? .retention, eventHash: Array(hash.readableBytesView))
    }

    /// What reads of events select: the hash only for a pruned event (the one the reader then gets).
    static let eventColumns =
        "position, block, topic, seq, timestamp, content, extensions, pruned_at, pruned_reason, CASE WHEN pruned_at = 0 THEN NULL ELSE hash END"

    func events(after position: UInt64, through: UInt64?, matching filter: TopicFilter, limit: Int) async throws -> EventRange {
        // Up to what is committed now, by any instance (the feed may not have heard of it yet).
        let head = try await self.head().eventCount
        let upper = min(through ?? head, head)
        if position >= upper || limit <= 0 { return EventRange(events: [], scannedThrough: max(position, upper)) }
        // Concrete topics are selected by the server; patterns are matched here, over a page of
        // rows in position order, so `scannedThrough` still says how far the page looked.
        let lower = Int64(position), top = Int64(upper), group = groupID
        let sql: PostgresQuery =
            filter.isConcrete
            ? """
            SELECT \(unescaped: Self.eventColumns) FROM events
            WHERE group_id = \(group) AND position > \(lower) AND position <= \(top) AND topic = ANY(\(Array(filter.topics)))
            ORDER BY position LIMIT \(limit)
            """
            : """
            SELECT \(unescaped: Self.eventColumns) FROM events
            WHERE group_id = \(group) AND position > \(lower) AND position <= \(top)
            ORDER BY position LIMIT \(limit)
            """
        let rows = try await fetchRows(sql) {
            try $0.decode((Int64, Int64, String, Int64, Int64, ByteBuffer, String, Int64, Int32, ByteBuffer?).self)
        }
        var events: [PositionedEvent] = []
        for (at, block, topic, seq, timestamp, content, extensions, prunedAt, prunedReason, prunedHash) in rows where filter.matches(topic) {
            let id = EventID(topic: topic, sequence: UInt64(clamping: seq), blockHeight: UInt64(clamping: block))
            events.append(
                PositionedEvent(
                    position: UInt64(clamping: at),
                    event: Event(
                        id: id, topic: topic, content: Array(content.readableBytesView),
                        extensions: ExtensionCoding.decode(extensions), timestamp: timestamp,
                        pruned: Self.pruning(at: prunedAt, reason: prunedReason, hash: prunedHash)
                    )))
        }
        let last = rows.last.map { UInt64(clamping: $0.0) } ?? upper
        return EventRange(events: events, scannedThrough: rows.count == limit ? last : upper)
    }

    func lastPosition(before timestamp: Int64) async throws -> UInt64 {
        let rows = try await fetchRows(
            "SELECT MAX(first_position + event_count - 1) FROM blocks WHERE group_id = \(groupID) AND timestamp < \(timestamp)"
        ) { try $0.decode(Int64?.self) }
        return rows.first.flatMap { $0 }.map { UInt64(clamping: $0) } ?? 0
    }
}
