import Foundation
import GRDB
import Logging
import WeEvent

/// Copies an embedded ledger into the shared store block by block, keeping every hash, id and
/// position (`weevent ledger copy`), so a deployment that outgrows one machine keeps its history.
///
/// The destination chain must be empty or a prefix of the source (a copy that was interrupted):
/// the copy goes on after the last block both hold with the same hash, and refuses otherwise.
/// Each slice of blocks is written in one transaction; topics and QoS 2 receipts at the end.
public enum LedgerCopy {
    public struct Report: Sendable, CustomStringConvertible {
        public var groupID: String
        public var blocksCopied: UInt64
        public var eventsCopied: UInt64
        public var alreadyThere: UInt64

        public var description: String {
            "group \(groupID): \(blocksCopied) blocks (\(eventsCopied) events) copied"
                + (alreadyThere > 0 ? ", \(alreadyThere) blocks were already there" : "")
        }
    }

    /// Copies `source` (an embedded ledger) into `destination` (a ledger of the shared store);
    /// `progress` hears of each slice written.
    public static func copy(
        from source: GroupLedger, to destination: GroupLedger, slice: Int = 200,
        progress: @Sendable (Report) -> Void = { _ in }
    ) async throws -> Report {
        guard let embedded = source.driver as? SQLiteDriver, let shared = destination.driver as? PostgresDriver else {
            throw LedgerStoreError("ledger copy goes from an embedded (SQLite) ledger to a shared (PostgreSQL) one")
        }
        var report = Report(groupID: source.groupID, blocksCopied: 0, eventsCopied: 0, alreadyThere: 0)
        // The copy keeps the chain's format: an empty destination takes the source's.
        try await shared.adoptFormat(source.format)
        let start = try await commonPrefix(embedded, shared)
        report.alreadyThere = start - 1
        var next = start
        while true {
            let blocks = try await embedded.blocks(from: next, limit: slice)
            guard let last = blocks.last else { break }
            var withEvents: [(ChainCheck.StoredBlock, [ChainCheck.StoredEvent])] = []
            for block in blocks {
                withEvents.append((block, try await embedded.storedEvents(from: block.firstPosition, to: block.firstPosition + block.eventCount)))
            }
            try await shared.importBlocks(withEvents)
            report.blocksCopied += UInt64(blocks.count)
            report.eventsCopied += withEvents.reduce(0) { $0 + UInt64($1.1.count) }
            progress(report)
            next = last.height + 1
        }
        try await shared.importState(topics: embedded.exportTopics(), receipts: try await embedded.exportReceipts())
        return report
    }

    /// The first height to copy: 1 for an empty destination, after the destination's head when
    /// its head block is the source's block of that height.
    static func commonPrefix(_ source: SQLiteDriver, _ destination: PostgresDriver) async throws -> UInt64 {
        let head = try await destination.head()
        guard head.height > 0 else { return 1 }
        guard let block = try await source.blocks(from: head.height, limit: 1).first, block.height == head.height,
            block.hash == head.lastHash
        else {
            throw LedgerStoreError(
                "group \(source.groupID): the destination holds another chain (block \(head.height) differs); copy into an empty schema"
            )
        }
        return head.height + 1
    }
}

/// What a copy reads from the embedded store besides blocks and events.
extension SQLiteDriver {
    func exportTopics() -> [String: TopicRecord] {
        view.withLock { $0.topics }
    }

    func exportReceipts() async throws -> [(InboundReceipt, String)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT session, packet_id, event_id FROM mqtt_receipts").map { row in
                (InboundReceipt(session: row["session"], packetID: UInt16(clamping: row["packet_id"] as Int64)), row["event_id"])
            }
        }
    }
}
