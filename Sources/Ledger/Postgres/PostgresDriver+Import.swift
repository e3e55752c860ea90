import Foundation
import NIOCore
import PostgresNIO
import WeEvent

/// What `LedgerCopy` writes: blocks exactly as another store sealed them (hashes, ids and
/// positions kept), then the topics and QoS 2 receipts.
extension PostgresDriver {
    /// Appends already sealed blocks on top of this chain's head, in one transaction; they must
    /// continue it (next height, previous hash, next position) or nothing is written.
    func importBlocks(_ blocks: [(ChainCheck.StoredBlock, [ChainCheck.StoredEvent])]) async throws {
        guard !blocks.isEmpty else { return }
        let sealed = blocks.map { block, events in
            SealedBlock(
                header: block.header, firstPosition: block.firstPosition,
                events: events.map { SealedEvent(topic: $0.topic, sequence: $0.sequence, content: $0.content, extensions: $0.extensions, hash: $0.hash) }
            )
        }
        let writer = PostgresBlockWriter(driver: self)
        let group = groupID
        try await withStoreDeadline(.seconds(120), "import into group \(group)") {
            try await self.client.withTransaction(logger: self.logger) { connection in
                let rows = try await connection.query(
                    "SELECT height, last_hash, event_count, tree_border FROM ledgers WHERE group_id = \(group) FOR UPDATE", logger: self.logger
                )
                var head: (Int64, ByteBuffer, Int64, ByteBuffer?)?
                for try await row in rows.decode((Int64, ByteBuffer, Int64, ByteBuffer?).self) { head = row }
                guard let (height, hash, count, border) = head, let first = sealed.first,
                    UInt64(clamping: height) + 1 == first.header.height, Array(hash.readableBytesView) == first.header.previousHash,
                    UInt64(clamping: count) + 1 == first.firstPosition
                else { throw LedgerStoreError("group \(group): the blocks to import do not continue the chain's head") }
                guard var tree = Self.tree(size: count, border: border) else {
                    throw LedgerStoreError("group \(group): the stored tree border does not match the chain")
                }
                var nodes: [TreeBorder.Node] = []
                for block in sealed { for event in block.events { nodes += tree.append(event.hash) } }
                try await writer.write(PostgresBlockWriter.Writes(blocks: sealed, newHead: sealed.last, tree: tree, treeNodes: nodes), connection)
                // Events the source pruned are pruned here too, with the same time and reason.
                let pruned = blocks.flatMap(\.1).compactMap { event in
                    event.pruned.map { PruneChange(position: event.position, extensions: event.extensions, time: $0.time, reason: $0.reason) }
                }
                if !pruned.isEmpty {
                    for try await _ in try await connection.query(Self.pruneQuery(group: group, pruned), logger: self.logger) {}
                }
            }
        }
    }

    /// Gives this group's chain `format` when it holds no block yet (a copy keeps the source's
    /// format); a chain that holds blocks of another format is refused.
    func adoptFormat(_ format: LedgerFormat) async throws {
        let rows = try await fetchRows(
            """
            UPDATE ledgers SET format = CASE WHEN height = 0 THEN \(format.rawValue) ELSE format END
            WHERE group_id = \(groupID) RETURNING format
            """
        ) { try $0.decode(Int.self) }
        guard rows.first == format.rawValue else {
            throw LedgerStoreError(
                "group \(groupID): the destination chain is of format \(rows.first ?? 0), the source of format \(format.rawValue); copy into an empty schema")
        }
    }

    /// The source's topics (sequences, open flags, creation order) and QoS 2 receipts.
    func importState(topics: [String: TopicRecord], receipts: [(InboundReceipt, String)]) async throws {
        let writer = PostgresBlockWriter(driver: self)
        let group = groupID
        let nextOrder = (topics.values.map(\.order).max() ?? -1) + 1
        _ = try await withStoreDeadline(.seconds(120), "import into group \(group)") {
            try await self.client.withTransaction(logger: self.logger) { connection in
                try await writer.write(PostgresBlockWriter.Writes(topics: topics, receipts: receipts, topicCount: nextOrder), connection)
            }
        }
    }
}
