import Foundation
import Logging
import PostgresNIO
import Synchronization
import WeEvent

/// One group's chain in the shared PostgreSQL store (`PostgresLedgerStore`).
///
/// Every instance may publish. Each instance's writer (`PostgresBlockWriter`) takes what its
/// publishers queued (group commit, like the embedded ledger) and seals it onto the chain in one
/// commit that either appends whole blocks on the current head or writes nothing, so writers on
/// different instances append whole blocks one after the other and the chain never forks.
/// Publishers are answered after COMMIT returned, with `synchronous_commit` on.
///
/// Reads go to the database, so every instance answers the same. Live readers follow the
/// `CommitFeed`, which this instance's writer feeds with its own events and the store's
/// LISTEN connection advances for commits made elsewhere.
final class PostgresDriver: LedgerDriver {
    /// The NOTIFY channel every instance announces its commits on: payload a `CommitNotice`,
    /// `<schema> <groupId> <head> <writer> [events]` (several deployments may share a database,
    /// each in its own schema; the writer tells an instance its own commits from the others').
    static let commitChannel = "weevent_commits"

    let core: LedgerCore
    let store: PostgresLedgerStore
    /// What the writer believes (known head, batch in flight, others writing): see `SharedWriterState`.
    let writerState = Mutex(SharedWriterState())
    /// Catch-ups asked for (after a commit whose outcome is unknown), run by `runWrites` one at a time.
    private let catchUps: (requests: AsyncStream<Void>, ask: AsyncStream<Void>.Continuation)

    var client: PostgresClient { store.client }
    var groupID: String { core.groupID }
    var logger: Logger { core.logger }
    var commits: CommitFeed { core.commits }

    /// Creates the group's head row if this is the chain's first use (on the start-up connection).
    /// Writes wait until the ledger's loop runs (`LedgerSet.services`).
    static func open(
        groupID: String, store: PostgresLedgerStore, connection: PostgresConnection,
        blockMaxEvents: Int, blockMaxDelay: Duration, logger: Logger
    ) async throws -> PostgresDriver {
        let candidate = UUID().uuidString.lowercased()
        for try await _ in try await connection.query(
            """
            INSERT INTO ledgers(group_id, ledger_id, height, last_hash, event_count, topic_count, format)
            VALUES (\(groupID), \(candidate), 0, \(Data(BlockHash.zero)), 0, 0, \(LedgerFormat.current.rawValue))
            ON CONFLICT (group_id) DO NOTHING
            """, logger: logger)
        {}
        try await buildTreeIfMissing(groupID: groupID, connection: connection, logger: logger)
        let rows = try await connection.query(
            "SELECT ledger_id, event_count, format FROM ledgers WHERE group_id = \(groupID)", logger: logger
        )
        var found: (String, Int64, Int)?
        for try await row in rows.decode((String, Int64, Int).self) { found = row }
        guard let (ledgerID, head, formatValue) = found else { throw LedgerStoreError("group \(groupID) has no head row after creating it") }
        guard let format = LedgerFormat(rawValue: formatValue) else {
            throw LedgerStoreError("group \(groupID) has ledger format \(formatValue), which this broker does not know")
        }
        let core = LedgerCore(
            groupID: groupID, ledgerID: ledgerID, format: format, head: UInt64(clamping: head), blockMaxEvents: blockMaxEvents,
            blockMaxDelay: blockMaxDelay, logger: logger
        )
        return PostgresDriver(core: core, store: store)
    }

    private init(core: LedgerCore, store: PostgresLedgerStore) {
        self.core = core
        self.store = store
        let (requests, ask) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.catchUps = (requests, ask)
    }

    /// The write loop, and beside it the catch-ups the writer asks for (a failed commit may have
    /// landed: readers learn the stored head without holding up the next batch while the store
    /// does not answer). Returns once `shutdown` stopped the loop and it drained.
    func runWrites() async {
        let blocks = PostgresBlockWriter(driver: self)
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                for await _ in catchUps.requests { try? await catchUp() }
            }
            await core.writer.run(writing: blocks.write)
            catchUps.ask.finish()
        }
    }

    /// Asks `runWrites` for a catch-up with the stored head (at most one waits).
    func requestCatchUp() {
        catchUps.ask.yield()
    }

    /// Tests only: runs inside a locked write's transaction after its statement, before COMMIT.
    let faultBeforeCommit = Mutex<(@Sendable (PostgresConnection) async throws -> Void)?>(nil)

    /// This instance's own commit reached `head` (its NOTIFY): followed only between batches
    /// (`SharedWriterState.shouldFollowOwnNotice`).
    func committedHere(through head: UInt64) {
        if writerState.withLock({ $0.shouldFollowOwnNotice() }) { commits.advanced(to: head) }
    }

    /// Another instance's commit reached `head`: what this instance knows of the head is old.
    /// Its events, when the NOTIFY carried them, go to live readers without a read of the store.
    func committedElsewhere(through head: UInt64, events: [PositionedEvent]? = nil) {
        let feedHead = commits.head
        guard writerState.withLock({ $0.otherNotice(head: head, feedHead: feedHead, now: .now) }) else { return }
        if let events {
            commits.committed(elsewhere: events, through: head)
        } else {
            commits.advanced(to: head)
        }
    }

    /// After the LISTEN connection (re)connected, or a commit whose outcome is unknown: commits
    /// it may have missed reach the feed, and the writer forgets the head it knew (another
    /// instance may have written since, its NOTIFY lost), so its next batch goes under the lock.
    func catchUp() async throws {
        writerState.withLock { $0.forgetHead() }
        commits.advanced(to: try await head().eventCount)
    }

    /// Nothing to release: the pool is the store's, a service of its own.
    func close() async {}

    /// Knowing needs a read of the shared store; the sealer refuses under the head's lock.
    func isKnownNotOpen(_ topic: String) -> Bool { false }
}
