import Foundation
import NIOCore
import PostgresNIO
import WeEvent

/// Blocks and their events as stored, for proofs, `verify` and `ledger copy`.
extension PostgresDriver {
    typealias BlockRow = (Int64, ByteBuffer, ByteBuffer, ByteBuffer, Int64, Int64, Int64, ByteBuffer?)
    static let blockColumns = "height, prev_hash, merkle_root, hash, timestamp, event_count, first_position, tree_root"

    static func storedBlock(_ row: BlockRow) -> ChainCheck.StoredBlock {
        ChainCheck.StoredBlock(
            height: UInt64(clamping: row.0), previousHash: Array(row.1.readableBytesView), merkleRoot: Array(row.2.readableBytesView),
            hash: Array(row.3.readableBytesView), timestamp: row.4, eventCount: UInt64(clamping: row.5),
            firstPosition: UInt64(clamping: row.6), treeRoot: row.7.map { Array($0.readableBytesView) }
        )
    }

    /// Blocks from height `from` on, in order, at most `limit`.
    func blocks(from: UInt64, limit: Int) async throws -> [ChainCheck.StoredBlock] {
        try await fetchRows(
            """
            SELECT \(unescaped: Self.blockColumns) FROM blocks WHERE group_id = \(groupID) AND height >= \(Int64(clamping: from))
            ORDER BY height LIMIT \(limit)
            """
        ) { Self.storedBlock(try $0.decode(BlockRow.self)) }
    }

    /// The events stored in positions `[first, end)`, in order.
    func storedEvents(from first: UInt64, to end: UInt64) async throws -> [ChainCheck.StoredEvent] {
        try await fetchRows(
            """
            SELECT position, block, topic, seq, timestamp, content, extensions, hash, pruned_at, pruned_reason FROM events
            WHERE group_id = \(groupID) AND position >= \(Int64(clamping: first)) AND position < \(Int64(clamping: end))
            ORDER BY position
            """
        ) { row in
            let row = try row.decode((Int64, Int64, String, Int64, Int64, ByteBuffer, String, ByteBuffer, Int64, Int32).self)
            return ChainCheck.StoredEvent(
                position: UInt64(clamping: row.0), block: UInt64(clamping: row.1), topic: row.2, sequence: UInt64(clamping: row.3),
                timestamp: row.4, content: Array(row.5.readableBytesView), extensions: ExtensionCoding.decode(row.6),
                hash: Array(row.7.readableBytesView), pruned: PostgresDriver.pruning(at: row.8, reason: row.9, hash: row.7)
            )
        }
    }

    func eventCount(from position: UInt64) async throws -> UInt64 {
        let rows = try await fetchRows(
            "SELECT count(*) FROM events WHERE group_id = \(groupID) AND position >= \(Int64(clamping: position))"
        ) { try $0.decode(Int64.self) }
        return UInt64(clamping: rows.first ?? 0)
    }
}
