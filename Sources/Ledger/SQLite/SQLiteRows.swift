import Foundation
import GRDB
import WeEvent

/// Stored rows of the embedded ledger as `ChainCheck` reads them.
enum SQLiteRows {
    static func storedBlock(_ row: Row) -> ChainCheck.StoredBlock {
        ChainCheck.StoredBlock(
            height: UInt64(clamping: row["height"] as Int64), previousHash: Array(row["prev_hash"] as Data),
            merkleRoot: Array(row["merkle_root"] as Data), hash: Array(row["hash"] as Data),
            timestamp: row["timestamp"], eventCount: UInt64(clamping: row["event_count"] as Int64),
            firstPosition: UInt64(clamping: row["first_position"] as Int64), treeRoot: (row["tree_root"] as Data?).map { Array($0) }
        )
    }

    static func storedEvent(_ row: Row) -> ChainCheck.StoredEvent {
        ChainCheck.StoredEvent(
            position: UInt64(clamping: row["position"] as Int64), block: UInt64(clamping: row["block"] as Int64), topic: row["topic"],
            sequence: UInt64(clamping: row["seq"] as Int64), timestamp: row["timestamp"], content: Array(row["content"] as Data),
            extensions: ExtensionCoding.decode(row["extensions"]), hash: Array(row["hash"] as Data),
            pruned: pruning(at: row["pruned_at"], reason: row["pruned_reason"], hash: row["hash"])
        )
    }

    /// A read's pruning columns (`pruned_at`, `pruned_reason`, `pruned_hash`: the hash, only when pruned).
    static func pruning(_ row: Row) -> Pruning? {
        guard let hash = row["pruned_hash"] as Data? else { return nil }
        return pruning(at: row["pruned_at"], reason: row["pruned_reason"], hash: hash)
    }

    /// How an event row says its content was removed (`pruned_at` 0: it was not).
    static func pruning(at time: Int64, reason: Int64, hash: Data) -> Pruning? {
        guard time != 0 else { return nil }
        return Pruning(time: time, reason: Pruning.Reason(rawValue: Int(clamping: reason)) ?? .retention, eventHash: Array(hash))
    }

    /// The group tree's stored hashes at `level` (0: the events' hashes, by position - 1; 8, 16,
    /// ...: `tree_nodes`) with an index in `indexes`, in index order.
    static func storedHashes(_ db: Database, level: Int, indexes: Range<UInt64>) throws -> [[UInt8]] {
        let (low, high) = (Int64(clamping: indexes.lowerBound), Int64(clamping: indexes.upperBound))
        let rows =
            level == 0
            ? try Data.fetchAll(db, sql: "SELECT hash FROM events WHERE position > ? AND position <= ? ORDER BY position", arguments: [low, high])
            : try Data.fetchAll(
                db, sql: "SELECT hash FROM tree_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx", arguments: [level, low, high])
        return rows.map { Array($0) }
    }
}
