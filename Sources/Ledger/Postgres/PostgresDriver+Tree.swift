import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The group tree in the shared store: its border in the head row (`tree_border`, the hashes
/// concatenated), full subtrees at the stored levels in `tree_nodes`, leaves in `events`.
extension PostgresDriver {
    /// The border a head row holds; nil when absent or not the decomposition of `size`.
    static func tree(size: Int64, border: ByteBuffer?) -> TreeBorder? {
        guard let border, border.readableBytes % 32 == 0 else { return nil }
        let bytes = Array(border.readableBytesView)
        return TreeBorder(size: UInt64(clamping: size), hashes: stride(from: 0, to: bytes.count, by: 32).map { Array(bytes[$0..<($0 + 32)]) })
    }

    func tree() async throws -> TreeBorder {
        let rows = try await fetchRows("SELECT event_count, tree_border FROM ledgers WHERE group_id = \(groupID)") {
            try $0.decode((Int64, ByteBuffer?).self)
        }
        guard let (count, border) = rows.first, let tree = Self.tree(size: count, border: border) else {
            throw LedgerStoreError("group \(groupID): the stored tree border does not match the chain")
        }
        return tree
    }

    func storedHashes(level: Int, indexes: Range<UInt64>) async throws -> [[UInt8]] {
        let (low, high) = (Int64(clamping: indexes.lowerBound), Int64(clamping: indexes.upperBound))
        let query: PostgresQuery =
            level == 0
            ? "SELECT hash FROM events WHERE group_id = \(groupID) AND position > \(low) AND position <= \(high) ORDER BY position"
            : """
            SELECT hash FROM tree_nodes WHERE group_id = \(groupID) AND level = \(Int32(level)) AND idx >= \(low) AND idx < \(high)
            ORDER BY idx
            """
        return try await fetchRows(query) { Array(try $0.decode(ByteBuffer.self).readableBytesView) }
    }

    /// A chain stored before the group tree existed gets its tree from its events, once: the
    /// first instance to start locks the head row, reads the events in position order, and
    /// writes the stored subtrees and the border in the same transaction.
    static func buildTreeIfMissing(groupID: String, connection: PostgresConnection, logger: Logger) async throws {
        var missing = false
        for try await border in try await connection.query("SELECT tree_border FROM ledgers WHERE group_id = \(groupID)", logger: logger)
            .decode(ByteBuffer?.self)
        {
            missing = border == nil
        }
        guard missing else { return }
        try await connection.withTransaction(logger: logger) { connection in
            var count: Int64?
            for try await (events, border) in try await connection.query(
                "SELECT event_count, tree_border FROM ledgers WHERE group_id = \(groupID) FOR UPDATE", logger: logger
            ).decode((Int64, ByteBuffer?).self) where border == nil {
                count = events
            }
            guard let count else { return }  // another instance built it meanwhile
            logger.info("building the group tree from the stored events", metadata: ["events": "\(count)"])
            var tree = TreeBorder()
            var after: Int64 = 0
            while after < count {
                var nodes: [TreeBorder.Node] = []
                let page = try await connection.query(
                    """
                    SELECT position, hash FROM events WHERE group_id = \(groupID) AND position > \(after) AND position <= \(count)
                    ORDER BY position LIMIT 10000
                    """, logger: logger)
                var read = 0
                for try await (position, hash) in page.decode((Int64, ByteBuffer).self) {
                    nodes += tree.append(Array(hash.readableBytesView))
                    after = position
                    read += 1
                }
                guard read > 0 else { throw LedgerStoreError("group \(groupID): events end at position \(after), the head says \(count)") }
                for try await _ in try await connection.query(
                    """
                    INSERT INTO tree_nodes(group_id, level, idx, hash)
                    SELECT \(groupID), u.* FROM unnest(\(nodes.map { Int32($0.subtree.level) })::int4[], \(nodes.map { Int64($0.subtree.index) })::int8[],
                        \(nodes.map { ByteBuffer(bytes: $0.hash) })::bytea[]) AS u
                    """, logger: logger)
                {}
            }
            for try await _ in try await connection.query(
                "UPDATE ledgers SET tree_border = \(ByteBuffer(bytes: Array(tree.hashes.joined()))) WHERE group_id = \(groupID)", logger: logger
            ) {}
        }
    }
}
