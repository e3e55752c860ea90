import Foundation
import Logging
import PostgresNIO
import Synchronization
import WeEvent

/// One group's chain in the shared PostgreSQL store (`PostgresLedgerStore`).
///
/// Every instance may publish. Each instance's writer takes what its publishers queued
/// (group commit, like the embedded ledger) and seals it onto the chain in one transaction
/// that first locks the group's head row (`SELECT ... FOR UPDATE`): height, previous hash,
/// positions and the topics' sequences are read under that lock, so writers on different
/// instances append whole blocks one after the other and the chain never forks. Publishers
/// are answered after COMMIT returned, with `synchronous_commit` on.
///
/// Reads go to the database, so every instance answers the same. Live readers follow the
/// `CommitFeed`, which this instance's writer feeds with its own events and the store's
/// LISTEN connection advances for commits made elsewhere.
public final class PostgresLedger: EventLedger {
    /// The NOTIFY channel every instance announces its commits on: payload a `CommitNotice`,
    /// `<schema> <groupId> <head> <writer> [events]` (several deployments may share a database,
    /// each in its own schema; the writer tells an instance its own commits from the others').
    static let commitChannel = "weevent_commits"

    public let groupID: String
    public let ledgerID: String
    public let commits: CommitFeed
    let store: PostgresLedgerStore
    let writer: LedgerWriter
    let blockMaxEvents: Int
    /// The head as this instance last committed it (the commit's answer arrived in time), with
    /// the head row's version then; nil when unknown. Only the writer sets it; a commit by another
    /// instance (its NOTIFY), a failed commit and a catch-up clear it, so the next batch goes
    /// under the lock instead of trying in vain. A write on it applies only while the head row
    /// still has its version, height and last hash.
    let knownHead = Mutex<KnownHead?>(nil)
    /// When another instance was last seen writing this chain. While others write, seals on the
    /// known head would mostly be refused (their payload sent in vain), so batches go under the
    /// lock until `contentionWindow` passed without a sign of another writer.
    private let anotherWriterSeen = Mutex<ContinuousClock.Instant?>(nil)
    static let contentionWindow: Duration = .seconds(1)
    let logger: Logger

    var client: PostgresClient { store.client }

    /// Creates the group's head row if this is the chain's first use, and starts the writer.
    static func open(
        groupID: String, store: PostgresLedgerStore, blockMaxEvents: Int, blockMaxDelayMilliseconds: Int, logger: Logger
    ) async throws -> PostgresLedger {
        let candidate = UUID().uuidString.lowercased()
        for try await _ in try await store.client.query("""
            INSERT INTO ledgers(group_id, ledger_id, height, last_hash, event_count, topic_count)
            VALUES (\(groupID), \(candidate), 0, \(Data(BlockHash.zero)), 0, 0) ON CONFLICT (group_id) DO NOTHING
            """, logger: logger) {}
        let rows = try await store.client.query(
            "SELECT ledger_id, event_count FROM ledgers WHERE group_id = \(groupID)", logger: logger
        )
        var found: (String, Int64)?
        for try await row in rows.decode((String, Int64).self) { found = row }
        guard let (ledgerID, head) = found else { throw LedgerStoreError("group \(groupID) has no head row after creating it") }
        var logger = logger
        logger[metadataKey: "group"] = "\(groupID)"
        let ledger = PostgresLedger(
            groupID: groupID, ledgerID: ledgerID, head: UInt64(clamping: head), store: store,
            blockMaxEvents: blockMaxEvents, blockMaxDelayMilliseconds: blockMaxDelayMilliseconds, logger: logger
        )
        ledger.startWriter()
        return ledger
    }

    private init(
        groupID: String, ledgerID: String, head: UInt64, store: PostgresLedgerStore,
        blockMaxEvents: Int, blockMaxDelayMilliseconds: Int, logger: Logger
    ) {
        self.groupID = groupID
        self.ledgerID = ledgerID
        self.store = store
        self.commits = CommitFeed(head: head)
        self.blockMaxEvents = blockMaxEvents
        self.writer = LedgerWriter(groupID: groupID, maxEvents: blockMaxEvents, maxDelayMilliseconds: blockMaxDelayMilliseconds)
        self.logger = logger
    }

    /// The writer thread waits for each batch's transaction, which runs on the client's event loops.
    private func startWriter() {
        let blocks = PostgresBlockWriter(ledger: self)
        writer.start { batch in
            let done = DispatchSemaphore(value: 0)
            Task {
                await blocks.write(batch)
                done.signal()
            }
            done.wait()
        }
    }

    /// Tests only: runs inside a locked write's transaction after its statement, before COMMIT.
    let faultBeforeCommit = Mutex<(@Sendable (PostgresConnection) async throws -> Void)?>(nil)

    /// Whether this instance's writer has a batch in flight: from sending it until its
    /// publishers and the feed have been told the outcome.
    let writing = Mutex<Bool>(false)

    /// This instance's own commit reached `head` (its NOTIFY). The writer hands a batch's events
    /// to the feed itself, so while a batch is in flight the NOTIFY is not needed and, arriving
    /// first as it often does, would send every live reader to the store for events the feed is
    /// about to hand them. Between batches it advances the feed: a commit the writer gave up on
    /// (a deadline) may still have landed.
    func committedHere(through head: UInt64) {
        if !writing.withLock({ $0 }) { commits.advanced(to: head) }
    }

    /// Another instance's commit reached `head`: what this instance knows of the head is old.
    /// Its events, when the NOTIFY carried them, go to live readers without a read of the store.
    func committedElsewhere(through head: UInt64, events: [PositionedEvent]? = nil) {
        // Old news (a notice sent again, or one that arrived after this instance read or wrote
        // past it) says nothing about who writes now.
        guard head > commits.head else { return }
        sawAnotherWriter()
        if let events {
            commits.committed(elsewhere: events, through: head)
        } else {
            commits.advanced(to: head)
        }
    }

    /// Another instance wrote since this one's last write (its NOTIFY, or a refused write).
    func sawAnotherWriter() {
        knownHead.withLock { $0 = nil }
        anotherWriterSeen.withLock { $0 = .now }
    }

    /// Whether another instance wrote within the last `contentionWindow`.
    var othersAreWriting: Bool {
        anotherWriterSeen.withLock { seen in seen.map { ContinuousClock.now - $0 < Self.contentionWindow } ?? false }
    }

    /// After the LISTEN connection (re)connected, or a commit whose outcome is unknown: commits
    /// it may have missed reach the feed, and the writer forgets the head it knew (another
    /// instance may have written since, its NOTIFY lost), so its next batch goes under the lock.
    func catchUp() async throws {
        knownHead.withLock { $0 = nil }
        commits.advanced(to: try await head().events)
    }

    // MARK: writes

    public func open(topic: String, reopening: Bool) async throws -> Bool {
        try await writer.submit { .open(topic, reopening, $0) }
    }

    public func close(topic: String) async throws {
        try await writer.submit { .close(topic, $0) }
    }

    public func publish(_ event: NewEvent) async throws -> EventID {
        try await writer.submit { .publish(event, $0) }
    }

    public func publish(_ events: [NewEvent]) async throws -> [Result<EventID, WeEventError>] {
        try await writer.publish(events, receipts: nil)
    }

    public func publish(
        _ events: [NewEvent], receipts: [InboundReceipt?], queued: @escaping @Sendable () -> Void
    ) async throws -> [Result<EventID, WeEventError>] {
        try await writer.publish(events, receipts: receipts, queued: queued)
    }

    public func shutdown() async {
        await writer.stop()
        commits.close()
    }
}

/// A chain head with the version of the head row it was read or written at.
struct KnownHead: Sendable {
    var head: ChainHead
    var version: Int64
}
