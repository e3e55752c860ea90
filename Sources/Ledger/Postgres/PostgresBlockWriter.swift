import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization
import WeEvent

/// One batch of one instance's queued writes sealed onto the shared chain, then answered.
///
/// Two ways, both ending in one commit that either appends whole blocks on the current head or
/// writes nothing, so the chain never forks:
/// - **On the known head** (the usual case while this instance is the one writing): the batch is
///   sealed on the head this instance last wrote or read, and written by one autocommit statement
///   that applies only if the head row's version is still that head's. One round trip, no lock
///   held across round trips.
/// - **Under the lock**, when the head is not known (first write, a topic not seen yet) or another
///   instance wrote since: a transaction locks the head row, adds what its publishers queued
///   while it waited for the lock, reads the batch's topics, seals and writes (one statement),
///   then COMMIT.
struct PostgresBlockWriter: Sendable {
    let driver: PostgresDriver

    /// A written batch: its round (answered once the commit is known), the head it went onto,
    /// and the head it made (believed only once the commit's answer arrived in time).
    private struct Committed {
        let round: WriteRound
        let sealed: BlockSealer.Sealed
        let before: ChainHead
        let after: KnownHead
    }

    /// Every op a round answers: the batch, and under the lock what queued while the writer
    /// waited for it. Closed once the round failed, so a transaction the deadline gave up on
    /// cannot take ops from the queue that nobody would answer.
    final class Taken: Sendable {
        private let state: Mutex<(ops: [WriteOp], closed: Bool)>

        init(_ batch: [WriteOp]) { state = Mutex((batch, false)) }

        /// Adds what is queued now and returns every op; nil once closed.
        func addingQueued(from writer: LedgerWriter) -> [WriteOp]? {
            state.withLock { state in
                guard !state.closed else { return nil }
                state.ops += writer.takeQueued()
                return state.ops
            }
        }

        func close() -> [WriteOp] {
            state.withLock { state in
                state.closed = true
                return state.ops
            }
        }
    }

    func write(_ batch: [WriteOp]) async {
        let logger = driver.logger
        let known = driver.writerState.withLock { $0.beginBatch(now: .now) }
        let taken = Taken(batch)
        do {
            let committed: Committed
            if let done = try await writeOnKnownHead(batch, known) {
                committed = done
            } else {
                committed = try await withStoreDeadline(driver.store.timeout, "commit of group \(driver.groupID)") {
                    try await driver.client.withTransaction(logger: logger) { connection in
                        try await writeUnderLock(taken, connection)
                    }
                }
            }
            // Committed, and in time: only now is the new head one this instance may build on.
            driver.writerState.withLock { $0.committed(committed.after) }
            if let last = committed.sealed.blocks.last {
                // Commits of other instances just before ours reach followers from the store.
                driver.commits.advanced(to: committed.before.eventCount)
                driver.commits.committed(through: last.lastPosition) { SealedBlock.positioned(committed.sealed.blocks) }
            }
            driver.writerState.withLock { $0.batchEnded() }
            committed.round.finish(.success(()))
        } catch {
            // Nobody was answered yet: the transaction's round is answered only here. A commit that
            // timed out may still land; its publishers were told it failed (at-least-once for them),
            // and live readers learn the head from the store (its NOTIFY, ignored while in flight,
            // may have come already).
            driver.writerState.withLock { $0.failed() }
            let failure = error as? LedgerStoreError ?? LedgerStoreError("commit to PostgreSQL failed: \(Self.describe(error))")
            logger.error("ledger commit failed; answering every writer of this batch with 200500", metadata: ["error": "\(failure)"])
            for op in taken.close() { op.fail(failure) }
            driver.requestCatchUp()
        }
    }

    /// Seals the batch on `known` (the head this instance may build on) and writes it in one
    /// statement that applies only if nobody wrote since. nil when that was not possible (head or
    /// a topic unknown) or another writer came first: nothing was written, and the caller goes
    /// under the lock.
    private func writeOnKnownHead(_ batch: [WriteOp], _ known: KnownHead?) async throws -> Committed? {
        guard let known, Self.topics(of: batch).allSatisfy({ known.head.topics[$0] != nil }) else { return nil }
        let (round, sealed) = seal(batch, on: known.head)
        if sealed.isEmpty { return Committed(round: round, sealed: sealed, before: known.head, after: known) }
        let writes = Writes(round: round, sealed: sealed)
        let version = try await withStoreDeadline(driver.store.timeout, "commit of group \(driver.groupID)") {
            try await driver.client.withConnection { connection in
                try await write(writes, connection, ifHead: known)
            }
        }
        guard let version else {
            driver.logger.debug("another instance wrote since this one's last commit; sealing again under the lock")
            driver.writerState.withLock { $0.refusedOnKnownHead(now: .now) }
            return nil
        }
        return Committed(
            round: round, sealed: sealed, before: known.head, after: KnownHead(head: known.head.advanced(by: sealed), version: version)
        )
    }

    /// Inside the transaction: locks the head, adds to the batch what queued while waiting for
    /// the lock (another instance's commit may have held it for a while: those publishers would
    /// otherwise wait for another whole round), reads the batch's topics, seals and writes.
    /// Three statements besides BEGIN and COMMIT.
    private func writeUnderLock(_ taken: Taken, _ connection: PostgresConnection) async throws -> Committed {
        let (locked, version) = try await lockHead(connection)
        guard let batch = taken.addingQueued(from: driver.core.writer) else {
            throw LedgerStoreError("group \(driver.groupID): the commit was given up on")
        }
        let head = try await readTopics(Self.topics(of: batch), onto: locked, connection)
        let (round, sealed) = seal(batch, on: head)
        var newVersion = version
        if !sealed.isEmpty {
            guard let written = try await write(Writes(round: round, sealed: sealed), connection) else {
                throw LedgerStoreError("group \(driver.groupID): the locked head row was not updated")
            }
            newVersion = written
        }
        if let fault = driver.faultBeforeCommit.withLock({ $0 }) { try await fault(connection) }
        // The head this makes is not believed here: COMMIT may still fail, and a body the deadline
        // gave up on ends after the writer moved on. The writer takes it from the answer.
        return Committed(round: round, sealed: sealed, before: head, after: KnownHead(head: head.advanced(by: sealed), version: newVersion))
    }

    private func seal(_ batch: [WriteOp], on head: ChainHead) -> (WriteRound, BlockSealer.Sealed) {
        var sealer = BlockSealer(
            head: head, timestamp: Int64(Date().timeIntervalSince1970 * 1000),
            maxEvents: driver.core.blockMaxEvents, groupID: driver.groupID
        )
        var round = WriteRound()
        for op in batch { round.take(op, into: &sealer) }
        return (round, sealer.finish())
    }

    /// Every topic the batch names: the sealer needs their records as of the lock.
    static func topics(of batch: [WriteOp]) -> [String] {
        var names = Set<String>()
        for op in batch {
            switch op {
            case .publish(let event, _): names.insert(event.topic)
            case .publishBatch(let events, _, _): for event in events { names.insert(event.topic) }
            case .open(let topic, _, _), .close(let topic, _): names.insert(topic)
            }
        }
        return Array(names)
    }

    /// Locks the group's head row until COMMIT and reads it. The topics are read by a statement
    /// of their own after it (`readTopics`): read with the lock's statement, a writer that waited
    /// for the lock would see the sequences as they were before the previous holder's commit.
    private func lockHead(_ connection: PostgresConnection) async throws -> (ChainHead, version: Int64) {
        let group = driver.groupID
        let rows = try await connection.query(
            "SELECT height, last_hash, event_count, topic_count, version, tree_border FROM ledgers WHERE group_id = \(group) FOR UPDATE",
            logger: driver.logger
        )
        var locked: (ChainHead, Int64)?
        for try await (height, hash, count, topicCount, version, border) in rows.decode((Int64, ByteBuffer, Int64, Int32, Int64, ByteBuffer?).self) {
            guard let tree = PostgresDriver.tree(size: count, border: border) else {
                throw LedgerStoreError("group \(group): the stored tree border does not match the chain's \(count) events")
            }
            locked = (
                ChainHead(
                    height: UInt64(clamping: height), lastHash: Array(hash.readableBytesView),
                    eventCount: UInt64(clamping: count), topics: [:], nextOrder: Int(topicCount), tree: tree, format: driver.core.format
                ), version
            )
        }
        guard let locked else { throw LedgerStoreError("group \(group) has no head row") }
        return locked
    }

    /// The head with the records of `topics` as stored now (under the lock), and of any topic
    /// with one of their event id prefixes (a new topic may not take another's).
    private func readTopics(_ topics: [String], onto locked: ChainHead, _ connection: PostgresConnection) async throws -> ChainHead {
        let group = driver.groupID
        var head = locked
        guard !topics.isEmpty else { return head }
        let prefixes = topics.map(EventID.topicHash)
        let records = try await connection.query(
            """
            SELECT name, created, seq, last_block, last_timestamp, open, ord, id_prefix FROM topics
            WHERE group_id = \(group) AND (name = ANY(\(topics)) OR id_prefix = ANY(\(prefixes)))
            """, logger: driver.logger)
        for try await row in records.decode((String, Int64, Int64, Int64, Int64, Bool, Int32, String).self) {
            head.topics[row.0] = TopicRecord(
                created: row.1, sequence: UInt64(clamping: row.2), lastBlock: UInt64(clamping: row.3),
                lastTimestamp: row.4, isOpen: row.5, order: Int(row.6), idPrefix: row.7
            )
        }
        return head
    }

    /// What one transaction writes: blocks with their events, topic records, receipts and the head.
    struct Writes {
        var blocks: [SealedBlock] = []
        var topics: [String: TopicRecord] = [:]
        var receipts: [(InboundReceipt, String)] = []
        /// The block the head moves to; nil leaves height, hash and event count as they are.
        var newHead: SealedBlock?
        /// The creation order of the next new topic (the stored one only grows).
        var topicCount: Int = 0
        /// The tree's border after the blocks (nil leaves it as it is) and the subtrees they completed.
        var tree: TreeBorder?
        var treeNodes: [TreeBorder.Node] = []
    }

    /// Everything in one statement (`BlockWriteStatement`), prepared once per connection: the head
    /// row first, version bumped, then blocks, events, topics and receipts, which are written only
    /// if the head row was (with `ifHead`, only while its version, height and last hash are that
    /// head's), and the NOTIFY
    /// (`CommitNotice`, with the events when they fit) that other instances' readers follow,
    /// sent at commit, when the head moved. The head row's
    /// new version, or nil when it was not `ifHead` and nothing was written.
    @discardableResult
    func write(_ writes: Writes, _ connection: PostgresConnection, ifHead expected: KnownHead? = nil) async throws -> Int64? {
        let head = writes.newHead
        let statement = BlockWriteStatement(
            writes: writes, group: driver.groupID, expected: expected,
            notification: try head.map { try driver.store.noticePayload(group: driver.groupID, head: $0.lastPosition, blocks: writes.blocks) } ?? ""
        )
        // Read to the end: an error raised while the statement runs arrives with its rows.
        var version: Int64?
        for try await written in try await connection.execute(statement, logger: driver.logger) { version = written }
        return version
    }

    /// The events of some blocks as one array per column, in position order.
    struct EventColumns {
        var positions: [Int64] = [], heights: [Int64] = [], topics: [String] = [], sequences: [Int64] = []
        var timestamps: [Int64] = [], contents: [ByteBuffer] = [], extensions: [String] = [], hashes: [ByteBuffer] = []

        init(_ blocks: [SealedBlock]) {
            for block in blocks {
                var position = Int64(block.firstPosition)
                for event in block.events {
                    positions.append(position)
                    heights.append(Int64(block.header.height))
                    topics.append(event.topic)
                    sequences.append(Int64(event.sequence))
                    timestamps.append(block.header.timestamp)
                    contents.append(ByteBuffer(bytes: event.content))
                    extensions.append(ExtensionCoding.encode(event.extensions))
                    hashes.append(ByteBuffer(bytes: event.hash))
                    position += 1
                }
            }
        }
    }

    /// PSQLError hides the server's message from `description`; logs and errors need it.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PostgresTransactionError {
            return [error.beginError, error.closureError, error.commitError].compactMap { $0 }.map(describe).joined(separator: "; ")
        }
        if let error = error as? PSQLError {
            let server = error.serverInfo?[.message].map { ": \($0)" } ?? ""
            return "\(error.code)\(server)"
        }
        return String(describing: error)
    }
}
