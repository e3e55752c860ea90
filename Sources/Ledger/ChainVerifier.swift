import Foundation
import GRDB
import WeEvent

/// Recomputes a stored chain: every event hash from its fields, every Merkle root,
/// every block hash and link, and stops at the first block that does not match.
enum ChainVerifier {
    static func verify(_ db: Database, groupID: String) throws -> VerificationReport {
        var report = VerificationReport(groupID: groupID, blocksChecked: 0, eventsChecked: 0)
        var previousHash = BlockHash.zero
        var expectedHeight: UInt64 = 1
        var expectedPosition: Int64 = 1
        let blocks = try Row.fetchCursor(db, sql: "SELECT * FROM blocks ORDER BY height")
        let eventsOfBlock = try db.makeStatement(sql: """
            SELECT position, block, topic, seq, timestamp, content, extensions, hash FROM events
            WHERE position >= ? AND position < ? ORDER BY position
            """)
        func bad(_ height: UInt64, _ problem: String) -> VerificationReport {
            var failed = report
            failed.firstBadBlock = height
            failed.problem = problem
            return failed
        }
        while let block = try blocks.next() {
            let height = UInt64(block["height"] as Int64)
            let first: Int64 = block["first_position"]
            let count: Int64 = block["event_count"]
            let timestamp: Int64 = block["timestamp"]
            let storedRoot = Array(block["merkle_root"] as Data)
            let storedHash = Array(block["hash"] as Data)
            let storedPrevious = Array(block["prev_hash"] as Data)
            if height != expectedHeight { return bad(expectedHeight, "block \(expectedHeight) is missing (next stored is \(height))") }
            if storedPrevious != previousHash { return bad(height, "previous hash does not match block \(height - 1)") }
            if first != expectedPosition { return bad(height, "events start at position \(first), expected \(expectedPosition)") }
            var leaves: [[UInt8]] = []
            leaves.reserveCapacity(Int(count))
            let rows = try Row.fetchCursor(eventsOfBlock, arguments: [first, first + count])
            while let row = try rows.next() {
                if (row["block"] as Int64) != Int64(height) {
                    return bad(height, "event at position \(row["position"] as Int64) names block \(row["block"] as Int64)")
                }
                let hash = BlockHash.event(
                    topic: row["topic"], sequence: UInt64(row["seq"] as Int64), timestamp: row["timestamp"],
                    content: Array(row["content"] as Data), extensions: ExtensionCoding.decode(row["extensions"])
                )
                if hash != Array(row["hash"] as Data) {
                    return bad(height, "event \(EventID(topic: row["topic"], sequence: UInt64(row["seq"] as Int64), blockHeight: height)) does not match its stored hash")
                }
                leaves.append(hash)
            }
            if Int64(leaves.count) != count { return bad(height, "holds \(leaves.count) events, header says \(count)") }
            if BlockHash.merkleRoot(leaves) != storedRoot { return bad(height, "Merkle root does not match its events") }
            let hash = BlockHash.block(
                height: height, previousHash: previousHash, merkleRoot: storedRoot, timestamp: timestamp, eventCount: UInt32(count)
            )
            if hash != storedHash { return bad(height, "block hash does not match its header") }
            previousHash = hash
            expectedHeight += 1
            expectedPosition += count
            report.blocksChecked += 1
            report.eventsChecked += UInt64(count)
        }
        let stray = try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE position >= ?", arguments: [expectedPosition]) ?? 0
        if stray > 0 { return bad(expectedHeight, "\(stray) events stored after the last block") }
        return report
    }
}
