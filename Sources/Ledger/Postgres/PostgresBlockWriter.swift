import Foundation
import Logging
import NIOCore
import PostgresNIO
import WeEvent

/// One batch of one instance's queued writes sealed onto the shared chain in one transaction:
/// lock the group's head row, read the topics the batch names, seal with the `BlockSealer`, write
/// blocks, events, topics, receipts, the new head and the NOTIFY (one statement), COMMIT; then
/// answer. Few round trips matter: the head stays locked until COMMIT.
struct PostgresBlockWriter: Sendable {
    let ledger: PostgresLedger

    func write(_ batch: [WriteOp]) async {
        let logger = ledger.logger
        do {
            let (round, sealed, before) = try await withStoreDeadline(ledger.store.timeout, "commit of group \(ledger.groupID)") {
                try await ledger.client.withTransaction(logger: logger) { connection in
                    try await seal(batch, connection)
                }
            }
            if let last = sealed.blocks.last {
                // Commits of other instances just before ours reach followers from the store.
                ledger.commits.advanced(to: before)
                ledger.commits.committed(through: last.lastPosition) { SealedBlock.positioned(sealed.blocks) }
            }
            round.finish(.success(()))
        } catch {
            // Nobody was answered yet: the transaction's round is answered only here. A commit that
            // timed out may still land; its publishers were told it failed (at-least-once for them).
            let failure = error as? LedgerStoreError ?? LedgerStoreError("commit to PostgreSQL failed: \(Self.describe(error))")
            logger.error("ledger commit failed; answering every writer of this batch with 200500", metadata: ["error": "\(failure)"])
            for op in batch { op.fail(failure) }
        }
    }

    /// Inside the transaction: the sealed batch, its round (answered after COMMIT) and the head it went onto.
    /// Three statements besides BEGIN and COMMIT: the head (locked), the batch's topics, all writes.
    private func seal(_ batch: [WriteOp], _ connection: PostgresConnection) async throws -> (WriteRound, BlockSealer.Sealed, UInt64) {
        let head = try await lockHead(connection, topics: Self.topics(of: batch))
        var sealer = BlockSealer(
            head: head, timestamp: Int64(Date().timeIntervalSince1970 * 1000),
            maxEvents: ledger.blockMaxEvents, groupID: ledger.groupID
        )
        var round = WriteRound()
        for op in batch { round.take(op, into: &sealer) }
        let sealed = sealer.finish()
        if !sealed.isEmpty {
            try await write(Writes(
                blocks: sealed.blocks, topics: sealed.topics, receipts: round.receiptsToStore,
                newHead: sealed.blocks.last, topicCount: sealed.nextOrder
            ), connection)
        }
        return (round, sealed, head.eventCount)
    }

    /// Every topic the batch names: the sealer needs their records as of the lock.
    static func topics(of batch: [WriteOp]) -> [String] {
        var names = Set<String>()
        for op in batch {
            switch op {
            case .publish(let event, _): names.insert(event.topic)
            case .publishBatch(let events, _, _): for event in events { names.insert(event.topic) }
            case .open(let topic, _), .close(let topic, _): names.insert(topic)
            }
        }
        return Array(names)
    }

    /// Locks the group's head row until COMMIT, then reads the batch's topics. Two statements: the
    /// topics must be read after the lock was granted, or a writer that waited for it would see
    /// the sequences as they were before the previous holder's commit.
    private func lockHead(_ connection: PostgresConnection, topics: [String]) async throws -> ChainHead {
        let group = ledger.groupID
        let rows = try await connection.query(
            "SELECT height, last_hash, event_count, topic_count FROM ledgers WHERE group_id = \(group) FOR UPDATE",
            logger: ledger.logger
        )
        var head: ChainHead?
        for try await (height, hash, count, topicCount) in rows.decode((Int64, ByteBuffer, Int64, Int32).self) {
            head = ChainHead(
                height: UInt64(clamping: height), lastHash: Array(hash.readableBytesView),
                eventCount: UInt64(clamping: count), topics: [:], nextOrder: Int(topicCount)
            )
        }
        guard var head else { throw LedgerStoreError("group \(group) has no head row") }
        guard !topics.isEmpty else { return head }
        let records = try await connection.query("""
            SELECT name, created, seq, last_block, last_timestamp, open, ord, id_prefix FROM topics
            WHERE group_id = \(group) AND name = ANY(\(topics))
            """, logger: ledger.logger)
        for try await row in records.decode((String, Int64, Int64, Int64, Int64, Bool, Int32, String).self) {
            head.topics[row.0] = TopicRecord(
                created: row.1, sequence: UInt64(clamping: row.2), lastBlock: UInt64(clamping: row.3),
                lastTimestamp: row.4, isOpen: row.5, order: Int(row.6), idPrefix: row.7
            )
        }
        return head
    }

    /// What one transaction writes: blocks with their events, topic records, receipts and the head.
    struct Writes {
        var blocks: [SealedBlock] = []
        var topics: [String: TopicRecord] = [:]
        var receipts: [(InboundReceipt, String)] = []
        /// The block the head moves to; nil leaves height, hash and event count as they are.
        var newHead: SealedBlock?
        /// The creation order of the next new topic (the stored one only grows).
        var topicCount: Int = 0
    }

    /// Everything in one statement (data-modifying CTEs; arrays unnested by the server), ending
    /// with the NOTIFY that other instances' readers wake on (sent at COMMIT) when the head moved.
    func write(_ writes: Writes, _ connection: PostgresConnection) async throws {
        let events = EventColumns(writes.blocks)
        let headers = writes.blocks.map(\.header)
        let names = Array(writes.topics.keys)
        let records = names.map { writes.topics[$0]! }
        let group = ledger.groupID
        let head = writes.newHead
        let payload = "\(ledger.store.schema) \(group) \(head?.lastPosition ?? 0)"
        try await connection.perform("""
            WITH ev AS (
                INSERT INTO events(group_id, position, block, topic, seq, timestamp, content, extensions, hash)
                SELECT \(group), * FROM unnest(\(events.positions)::int8[], \(events.heights)::int8[], \(events.topics)::text[],
                    \(events.sequences)::int8[], \(events.timestamps)::int8[], \(events.contents)::bytea[],
                    \(events.extensions)::text[], \(events.hashes)::bytea[])),
            bl AS (
                INSERT INTO blocks(group_id, height, prev_hash, merkle_root, hash, timestamp, event_count, first_position)
                SELECT \(group), * FROM unnest(\(headers.map { Int64($0.height) })::int8[],
                    \(headers.map { ByteBuffer(bytes: $0.previousHash) })::bytea[], \(headers.map { ByteBuffer(bytes: $0.merkleRoot) })::bytea[],
                    \(headers.map { ByteBuffer(bytes: $0.hash) })::bytea[], \(headers.map(\.timestamp))::int8[],
                    \(headers.map { Int64($0.eventCount) })::int8[], \(writes.blocks.map { Int64($0.firstPosition) })::int8[])),
            tp AS (
                INSERT INTO topics(group_id, name, id_prefix, created, seq, last_block, last_timestamp, open, ord)
                SELECT \(group), * FROM unnest(\(names)::text[], \(records.map(\.idPrefix))::text[], \(records.map(\.created))::int8[],
                    \(records.map { Int64($0.sequence) })::int8[], \(records.map { Int64($0.lastBlock) })::int8[],
                    \(records.map(\.lastTimestamp))::int8[], \(records.map(\.isOpen))::bool[], \(records.map { Int32($0.order) })::int4[])
                ON CONFLICT (group_id, name) DO UPDATE SET seq = excluded.seq, last_block = excluded.last_block,
                    last_timestamp = excluded.last_timestamp, open = excluded.open),
            rc AS (
                INSERT INTO mqtt_receipts(group_id, session, packet_id, event_id)
                SELECT \(group), * FROM unnest(\(writes.receipts.map(\.0.session))::text[],
                    \(writes.receipts.map { Int32($0.0.packetID) })::int4[], \(writes.receipts.map(\.1))::text[])
                ON CONFLICT (group_id, session, packet_id) DO UPDATE SET event_id = excluded.event_id),
            hd AS (
                UPDATE ledgers SET height = COALESCE(\(head.map { Int64($0.header.height) })::int8, height),
                    last_hash = COALESCE(\(head.map { ByteBuffer(bytes: $0.header.hash) })::bytea, last_hash),
                    event_count = COALESCE(\(head.map { Int64($0.lastPosition) })::int8, event_count),
                    topic_count = GREATEST(topic_count, \(Int32(clamping: writes.topicCount))::int4)
                WHERE group_id = \(group) RETURNING 1)
            SELECT pg_notify(\(PostgresLedger.commitChannel), \(payload)) FROM hd WHERE \(head != nil)
            """, logger: ledger.logger)
    }

    /// The events of some blocks as one array per column, in position order.
    private struct EventColumns {
        var positions: [Int64] = [], heights: [Int64] = [], topics: [String] = [], sequences: [Int64] = []
        var timestamps: [Int64] = [], contents: [ByteBuffer] = [], extensions: [String] = [], hashes: [ByteBuffer] = []

        init(_ blocks: [SealedBlock]) {
            for block in blocks {
                var position = Int64(block.firstPosition)
                for event in block.events {
                    positions.append(position)
                    heights.append(Int64(block.header.height))
                    topics.append(event.topic)
                    sequences.append(Int64(event.sequence))
                    timestamps.append(block.header.timestamp)
                    contents.append(ByteBuffer(bytes: event.content))
                    extensions.append(ExtensionCoding.encode(event.extensions))
                    hashes.append(ByteBuffer(bytes: event.hash))
                    position += 1
                }
            }
        }
    }

    /// PSQLError hides the server's message from `description`; logs and errors need it.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PostgresTransactionError {
            return [error.beginError, error.closureError, error.commitError].compactMap { $0 }.map(describe).joined(separator: "; ")
        }
        if let error = error as? PSQLError {
            let server = error.serverInfo?[.message].map { ": \($0)" } ?? ""
            return "\(error.code)\(server)"
        }
        return String(describing: error)
    }
}
