import NIOCore
import PostgresNIO

extension PostgresBlockWriter.Writes {
    /// What a sealed batch writes: its blocks, the topics it changed, its receipts, the new head.
    init(round: WriteRound, sealed: BlockSealer.Sealed) {
        self.init(
            blocks: sealed.blocks, topics: sealed.topics, receipts: round.receiptsToStore,
            newHead: sealed.blocks.last, topicCount: sealed.nextOrder,
            tree: sealed.blocks.isEmpty ? nil : sealed.tree, treeNodes: sealed.treeNodes
        )
    }
}

/// A block write as a prepared statement: its text is the same for every batch, so each pooled
/// connection parses and plans it once instead of once per block (about half of a lone block's
/// time on the server). Data-modifying CTEs; every column goes as one array, unnested by the server.
struct BlockWriteStatement: PostgresPreparedStatement {
    typealias Row = Int64

    static let name = "weevent_block_write_v4"

    static let sql = """
        WITH hd AS (
            UPDATE ledgers SET height = COALESCE($1::int8, height), last_hash = COALESCE($2::bytea, last_hash),
                event_count = COALESCE($3::int8, event_count), topic_count = GREATEST(topic_count, $4::int4),
                tree_border = COALESCE($38::bytea, tree_border), version = version + 1
            WHERE group_id = $5
                AND ($6::int8 IS NULL OR (version = $6::int8 AND height = $36::int8 AND last_hash = $37::bytea))
            RETURNING version),
        ev AS (
            INSERT INTO events(group_id, position, block, topic, seq, timestamp, content, extensions, hash)
            SELECT $5, u.* FROM unnest($7::int8[], $8::int8[], $9::text[], $10::int8[], $11::int8[], $12::bytea[],
                $13::text[], $14::bytea[]) AS u
            WHERE EXISTS (SELECT FROM hd)),
        bl AS (
            INSERT INTO blocks(group_id, height, prev_hash, merkle_root, hash, timestamp, event_count, first_position, tree_root)
            SELECT $5, u.h, u.p, u.m, u.x, u.t, u.c, u.f, NULLIF(u.r, ''::bytea)
            FROM unnest($15::int8[], $16::bytea[], $17::bytea[], $18::bytea[], $19::int8[], $20::int8[], $21::int8[],
                $42::bytea[]) AS u(h, p, m, x, t, c, f, r)
            WHERE EXISTS (SELECT FROM hd)),
        tp AS (
            INSERT INTO topics(group_id, name, id_prefix, created, seq, last_block, last_timestamp, open, ord)
            SELECT $5, u.* FROM unnest($22::text[], $23::text[], $24::int8[], $25::int8[], $26::int8[], $27::int8[],
                $28::bool[], $29::int4[]) AS u
            WHERE EXISTS (SELECT FROM hd)
            ON CONFLICT (group_id, name) DO UPDATE SET seq = excluded.seq, last_block = excluded.last_block,
                last_timestamp = excluded.last_timestamp, open = excluded.open),
        rc AS (
            INSERT INTO mqtt_receipts(group_id, session, packet_id, event_id)
            SELECT $5, u.* FROM unnest($30::text[], $31::int4[], $32::text[]) AS u
            WHERE EXISTS (SELECT FROM hd)
            ON CONFLICT (group_id, session, packet_id) DO UPDATE SET event_id = excluded.event_id),
        tn AS (
            INSERT INTO tree_nodes(group_id, level, idx, hash)
            SELECT $5, u.* FROM unnest($39::int4[], $40::int8[], $41::bytea[]) AS u
            WHERE EXISTS (SELECT FROM hd)),
        nt AS (
            SELECT pg_notify($33, $34) FROM hd WHERE $35::bool)
        SELECT version, (SELECT count(*) FROM nt) FROM hd
        """

    static let bindingDataTypes: [PostgresDataType] = [
        .int8, .bytea, .int8, .int4, .text, .int8,
        .int8Array, .int8Array, .textArray, .int8Array, .int8Array, .byteaArray, .textArray, .byteaArray,
        .int8Array, .byteaArray, .byteaArray, .byteaArray, .int8Array, .int8Array, .int8Array,
        .textArray, .textArray, .int8Array, .int8Array, .int8Array, .int8Array, .boolArray, .int4Array,
        .textArray, .int4Array, .textArray,
        .text, .text, .bool,
        .int8, .bytea,
        .bytea, .int4Array, .int8Array, .byteaArray,
        .byteaArray,
    ]

    let writes: PostgresBlockWriter.Writes
    let group: String
    /// The head the batch was sealed on, when it is written only if that is still the stored one.
    let expected: KnownHead?
    let notification: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: Self.bindingDataTypes.count)
        let head = writes.newHead
        bindings.append(head.map { Int64($0.header.height) })
        bindings.append(head.map { ByteBuffer(bytes: $0.header.hash) })
        bindings.append(head.map { Int64($0.lastPosition) })
        bindings.append(Int32(clamping: writes.topicCount))
        bindings.append(group)
        bindings.append(expected?.version)

        let events = PostgresBlockWriter.EventColumns(writes.blocks)
        bindings.append(events.positions)
        bindings.append(events.heights)
        bindings.append(events.topics)
        bindings.append(events.sequences)
        bindings.append(events.timestamps)
        bindings.append(events.contents)
        bindings.append(events.extensions)
        bindings.append(events.hashes)

        let headers = writes.blocks.map(\.header)
        bindings.append(headers.map { Int64($0.height) })
        bindings.append(headers.map { ByteBuffer(bytes: $0.previousHash) })
        bindings.append(headers.map { ByteBuffer(bytes: $0.merkleRoot) })
        bindings.append(headers.map { ByteBuffer(bytes: $0.hash) })
        bindings.append(headers.map(\.timestamp))
        bindings.append(headers.map { Int64($0.eventCount) })
        bindings.append(writes.blocks.map { Int64($0.firstPosition) })

        let names = Array(writes.topics.keys)
        let records = names.map { writes.topics[$0]! }
        bindings.append(names)
        bindings.append(records.map(\.idPrefix))
        bindings.append(records.map(\.created))
        bindings.append(records.map { Int64($0.sequence) })
        bindings.append(records.map { Int64($0.lastBlock) })
        bindings.append(records.map(\.lastTimestamp))
        bindings.append(records.map(\.isOpen))
        bindings.append(records.map { Int32($0.order) })

        bindings.append(writes.receipts.map(\.0.session))
        bindings.append(writes.receipts.map { Int32($0.0.packetID) })
        bindings.append(writes.receipts.map(\.1))

        bindings.append(PostgresDriver.commitChannel)
        bindings.append(notification)
        bindings.append(head != nil)
        bindings.append(expected.map { Int64($0.head.height) })
        bindings.append(expected.map { ByteBuffer(bytes: $0.head.lastHash) })
        bindings.append(writes.tree.map { ByteBuffer(bytes: Array($0.hashes.joined())) })
        bindings.append(writes.treeNodes.map { Int32($0.subtree.level) })
        bindings.append(writes.treeNodes.map { Int64($0.subtree.index) })
        bindings.append(writes.treeNodes.map { ByteBuffer(bytes: $0.hash) })
        // Format 1 blocks have no tree root: an empty value, stored as NULL.
        bindings.append(headers.map { ByteBuffer(bytes: $0.tree?.root ?? []) })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 {
        try row.decode((Int64, Int64).self).0
    }
}
