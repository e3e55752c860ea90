import Foundation
import NIOCore
import PostgresNIO
import WeEvent

/// Proofs and verification on the shared ledger: the same rules as the embedded one
/// (`BlockHash`, `ChainCheck`), fed from PostgreSQL.
extension PostgresLedger {
    typealias BlockRow = (Int64, ByteBuffer, ByteBuffer, ByteBuffer, Int64, Int64, Int64)
    static let blockColumns = "height, prev_hash, merkle_root, hash, timestamp, event_count, first_position"

    static func storedBlock(_ row: BlockRow) -> ChainCheck.StoredBlock {
        ChainCheck.StoredBlock(
            height: UInt64(clamping: row.0), previousHash: Array(row.1.readableBytesView), merkleRoot: Array(row.2.readableBytesView),
            hash: Array(row.3.readableBytesView), timestamp: row.4, eventCount: UInt64(clamping: row.5),
            firstPosition: UInt64(clamping: row.6)
        )
    }

    static func header(_ block: ChainCheck.StoredBlock) -> BlockHeader {
        BlockHeader(
            height: block.height, previousHash: block.previousHash, merkleRoot: block.merkleRoot, hash: block.hash,
            timestamp: block.timestamp, eventCount: UInt32(clamping: block.eventCount)
        )
    }

    public func blockHeader(at height: UInt64) async throws -> BlockHeader {
        guard height >= 1, let block = try await blocks(from: height, limit: 1).first, block.height == height else {
            throw WeEventError(.blockHeightInvalid, detail: "block \(height) in group \(groupID)")
        }
        return Self.header(block)
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
            SELECT position, block, topic, seq, timestamp, content, extensions, hash FROM events
            WHERE group_id = \(groupID) AND position >= \(Int64(clamping: first)) AND position < \(Int64(clamping: end))
            ORDER BY position
            """
        ) { row in
            let row = try row.decode((Int64, Int64, String, Int64, Int64, ByteBuffer, String, ByteBuffer).self)
            return ChainCheck.StoredEvent(
                position: UInt64(clamping: row.0), block: UInt64(clamping: row.1), topic: row.2, sequence: UInt64(clamping: row.3),
                timestamp: row.4, content: Array(row.5.readableBytesView), extensions: ExtensionCoding.decode(row.6),
                hash: Array(row.7.readableBytesView)
            )
        }
    }

    public func proof(of id: EventID, through head: UInt64) async throws -> EventProof {
        let located = try await locate(id)
        guard let block = try await blocks(from: id.blockHeight, limit: 1).first, block.height == id.blockHeight else {
            throw WeEventError(.eventIdIsMismatch, detail: "no block \(id.blockHeight) in group \(groupID)")
        }
        let leaves = try await storedEvents(from: block.firstPosition, to: block.firstPosition + block.eventCount).map(\.hash)
        let offset = located.position &- block.firstPosition
        guard located.position >= block.firstPosition, offset < UInt64(leaves.count) else {
            throw LedgerError.inconsistent("event \(id) at position \(located.position) is outside block \(id.blockHeight)")
        }
        let index = Int(offset)
        var links: [BlockHeader] = []
        var next = id.blockHeight + 1
        while next <= head {
            let page = try await blocks(from: next, limit: Int(min(1000, head - next + 1)))
            links.append(contentsOf: page.map(Self.header))
            guard page.count == 1000, let last = page.last else { break }
            next = last.height + 1
        }
        return EventProof(
            groupID: groupID, event: located.event, eventHash: leaves[index], index: index,
            path: BlockHash.merklePath(leaves, index: index), block: Self.header(block), links: links
        )
    }

    public func verify() async throws -> VerificationReport {
        var check = ChainCheck(groupID: groupID)
        var next: UInt64 = 1
        while true {
            let page = try await blocks(from: next, limit: 500)
            for block in page {
                let events = try await storedEvents(from: block.firstPosition, to: block.firstPosition &+ block.eventCount)
                if let failed = check.check(block, events: events) { return failed }
            }
            guard page.count == 500, let last = page.last else { break }
            next = last.height + 1
        }
        let stray = try await fetchRows(
            "SELECT count(*) FROM events WHERE group_id = \(groupID) AND position >= \(Int64(clamping: check.nextPosition))"
        ) { try $0.decode(Int64.self) }
        return check.finish(strayEvents: UInt64(clamping: stray.first ?? 0))
    }
}
