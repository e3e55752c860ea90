import Foundation
import GRDB
import WeEvent

/// `verify()` of the embedded ledger: feeds its blocks and events to a `ChainCheck`.
enum ChainVerifier {
    static func verify(_ db: Database, groupID: String) throws -> VerificationReport {
        var check = ChainCheck(groupID: groupID)
        let blocks = try Row.fetchCursor(db, sql: "SELECT * FROM blocks ORDER BY height")
        let eventsOfBlock = try db.makeStatement(
            sql: """
                SELECT position, block, topic, seq, timestamp, content, extensions, hash FROM events
                WHERE position >= ? AND position < ? ORDER BY position
                """)
        while let row = try blocks.next() {
            let block = storedBlock(row)
            // Clamped: a tampered row may hold any number; the check then names its block.
            let first = Int64(clamping: block.firstPosition)
            let end = first.addingReportingOverflow(Int64(clamping: block.eventCount)).partialValue
            let events = try Row.fetchAll(eventsOfBlock, arguments: [first, end]).map(storedEvent)
            if let failed = check.check(block, events: events) { return failed }
        }
        let stray =
            try Int64.fetchOne(
                db, sql: "SELECT COUNT(*) FROM events WHERE position >= ?", arguments: [Int64(clamping: check.nextPosition)]
            ) ?? 0
        return check.finish(strayEvents: UInt64(clamping: stray))
    }

    static func storedBlock(_ row: Row) -> ChainCheck.StoredBlock {
        ChainCheck.StoredBlock(
            height: UInt64(clamping: row["height"] as Int64), previousHash: Array(row["prev_hash"] as Data),
            merkleRoot: Array(row["merkle_root"] as Data), hash: Array(row["hash"] as Data),
            timestamp: row["timestamp"], eventCount: UInt64(clamping: row["event_count"] as Int64),
            firstPosition: UInt64(clamping: row["first_position"] as Int64)
        )
    }

    static func storedEvent(_ row: Row) -> ChainCheck.StoredEvent {
        ChainCheck.StoredEvent(
            position: UInt64(clamping: row["position"] as Int64), block: UInt64(clamping: row["block"] as Int64), topic: row["topic"],
            sequence: UInt64(clamping: row["seq"] as Int64), timestamp: row["timestamp"], content: Array(row["content"] as Data),
            extensions: ExtensionCoding.decode(row["extensions"]), hash: Array(row["hash"] as Data)
        )
    }
}
