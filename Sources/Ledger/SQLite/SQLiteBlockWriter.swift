import Foundation
import GRDB
import Logging
import WeEvent

/// The embedded store's writer, called by its write loop (`LedgerWriter`): on GRDB's writer
/// queue, hands each batch of queued writes to a `BlockSealer`, writes what it sealed in one
/// durable transaction, makes that visible to readers, then answers every waiting caller.
struct SQLiteBlockWriter {
    let driver: SQLiteDriver
    var core: LedgerCore { driver.core }

    /// Queues `batch` on GRDB's writer queue and returns: there it is written, then every batch
    /// due by the time it committed (`LedgerWriter.afterCommit`), and callers are answered from
    /// there. Under load the queue goes from one commit to the next without a trip back to the
    /// write loop (each trip through the task pool cost 10-20% of the publishes per second at
    /// 1-64 connections).
    func submit(_ batch: [WriteOp]) {
        driver.pool.asyncWriteWithoutTransaction { db in
            var next: [WriteOp]? = batch
            while let batch = next {
                commit(batch, in: db)
                next = core.writer.afterCommit()
            }
        }
    }

    /// Seals one batch, writes it in one transaction, makes it visible, answers its callers.
    private func commit(_ batch: [WriteOp], in db: Database) {
        var sealer = BlockSealer(
            head: chainHead(), timestamp: Int64(Date().timeIntervalSince1970 * 1000),
            maxEvents: core.blockMaxEvents, groupID: core.groupID
        )
        var round = WriteRound()
        round.accepted.reserveCapacity(batch.count)
        for op in batch { round.take(op, into: &sealer) }
        let sealed = sealer.finish()
        if sealed.isEmpty {
            round.finish(.success(()))
            return
        }
        do {
            try db.inTransaction {
                try Self.insert(sealed, round.receiptsToStore, into: db)
                return .commit
            }
        } catch {
            core.logger.error(
                "ledger commit failed; refusing every writer of this batch",
                metadata: [
                    "error": "\(error)", "blocks": "\(sealed.blocks.count)",
                ])
            round.finish(.failure(LedgerError.commitFailed(groupID: core.groupID, reason: "\(error)")))
            return
        }
        announce(sealed)
        round.finish(.success(()))
    }

    /// The chain as of the last commit. Only the write loop moves it, so it stays the head until our commit.
    private func chainHead() -> ChainHead {
        driver.view.withLock { view in
            ChainHead(
                height: view.height, lastHash: view.lastHash, eventCount: view.eventCount,
                topics: view.topics, nextOrder: view.topics.count, tree: view.tree, format: driver.core.format
            )
        }
    }

    /// Blocks, receipts and topics, inside the one transaction: all of the batch is durable, or none.
    private static func insert(_ sealed: BlockSealer.Sealed, _ receipts: [(InboundReceipt, String)], into db: Database) throws {
        try insert(sealed.blocks, into: db)
        if !receipts.isEmpty {
            let upsert = try db.cachedStatement(sql: "INSERT OR REPLACE INTO mqtt_receipts(session, packet_id, event_id) VALUES (?, ?, ?)")
            for (receipt, id) in receipts {
                try upsert.execute(arguments: [receipt.session, Int64(receipt.packetID), id])
            }
        }
        try upsert(sealed.topics, into: db)
        if !sealed.treeNodes.isEmpty {
            let node = try db.cachedStatement(sql: "INSERT INTO tree_nodes(level, idx, hash) VALUES (?, ?, ?)")
            for completed in sealed.treeNodes {
                try node.execute(arguments: [completed.subtree.level, Int64(completed.subtree.index), Data(completed.hash)])
            }
        }
    }

    /// After the commit: readers' view first, then the feed, so a woken reader finds the new head.
    private func announce(_ sealed: BlockSealer.Sealed) {
        driver.view.withLock { view in
            for (name, record) in sealed.topics { view.add(name, record) }
            if let last = sealed.blocks.last {
                view.height = last.header.height
                view.lastHash = last.header.hash
                view.eventCount = last.lastPosition
                view.tree = sealed.tree
            }
        }
        if let last = sealed.blocks.last {
            core.commits.committed(through: last.lastPosition) { SealedBlock.positioned(sealed.blocks) }
        }
    }

    private static func upsert(_ topics: [String: TopicRecord], into db: Database) throws {
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO topics(name, created, seq, last_block, last_timestamp, open, ord) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, last_block = excluded.last_block,
                last_timestamp = excluded.last_timestamp, open = excluded.open
                """)
        for (name, record) in topics {
            try upsert.execute(arguments: [
                name, record.created, Int64(record.sequence), Int64(record.lastBlock), record.lastTimestamp,
                record.isOpen ? 1 : 0, record.order,
            ])
        }
    }

    private static func insert(_ blocks: [SealedBlock], into db: Database) throws {
        guard !blocks.isEmpty else { return }
        let insertEvent = try db.cachedStatement(
            sql: """
                INSERT INTO events(position, block, topic, seq, timestamp, content, extensions, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
        let insertBlock = try db.cachedStatement(
            sql: """
                INSERT INTO blocks(height, prev_hash, merkle_root, hash, timestamp, event_count, first_position, tree_root)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
        for block in blocks {
            let header = block.header
            var position = Int64(block.firstPosition)
            for event in block.events {
                insertEvent.setUncheckedArguments([
                    position, Int64(header.height), event.topic, Int64(event.sequence), header.timestamp,
                    Data(event.content), ExtensionCoding.encode(event.extensions), Data(event.hash),
                ])
                try insertEvent.execute()
                position += 1
            }
            try insertBlock.execute(arguments: [
                Int64(header.height), Data(header.previousHash), Data(header.merkleRoot), Data(header.hash),
                header.timestamp, Int64(header.eventCount), Int64(block.firstPosition), header.tree.map { Data($0.root) },
            ])
        }
    }
}
