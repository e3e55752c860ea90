/// What one instance's writer of a shared chain believes, as one value: the head it may build on
/// without the lock, whether a batch is in flight, and when another instance was last seen
/// writing. Every transition is a method (`SharedWriterStateTests` walk them); `PostgresDriver`
/// keeps the value behind one lock and does what the transitions answer.
struct SharedWriterState: Sendable {
    /// The head as this instance last committed it (the commit's answer arrived in time), with
    /// the head row's version then; nil when unknown. A write on it applies only while the head row
    /// still has its version, height and last hash.
    private(set) var knownHead: KnownHead?
    /// From taking a batch until its publishers and the feed were told the outcome.
    private(set) var inFlight = false
    /// When another instance was last seen writing this chain. While others write, seals on the
    /// known head would mostly be refused (their payload sent in vain), so batches go under the
    /// lock until `contentionWindow` passed without a sign of another writer.
    private var anotherWriterSeen: ContinuousClock.Instant?
    let contentionWindow: Duration

    init(contentionWindow: Duration = .seconds(1)) {
        self.contentionWindow = contentionWindow
    }

    /// The write loop takes a batch: the head to seal it on without the lock, or nil to go under it.
    mutating func beginBatch(now: ContinuousClock.Instant) -> KnownHead? {
        inFlight = true
        if let seen = anotherWriterSeen, now - seen < contentionWindow { return nil }
        return knownHead
    }

    /// A write on the known head was refused (the head row moved): another instance wrote.
    mutating func refusedOnKnownHead(now: ContinuousClock.Instant) {
        sawAnotherWriter(now: now)
    }

    /// The batch committed and the answer came in time: its head is one this instance may build on.
    /// Still in flight until `batchEnded`, once the feed has the batch's events.
    mutating func committed(_ head: KnownHead) {
        knownHead = head
    }

    mutating func batchEnded() {
        inFlight = false
    }

    /// The batch failed (its commit may still land): the head is unknown, and live readers must
    /// learn the stored head (a catch-up).
    mutating func failed() {
        knownHead = nil
        inFlight = false
    }

    /// This instance's own commit notice: whether it should advance the feed. While a batch is in
    /// flight the writer hands its events to the feed itself, and the notice, arriving first as
    /// it often does, would send every live reader to the store for them. Between batches it
    /// does: a commit the writer gave up on (a deadline) may still have landed.
    func shouldFollowOwnNotice() -> Bool {
        !inFlight
    }

    /// Another instance's commit notice reaching `head`, where the feed is at `feedHead`: whether
    /// it is news to follow. Old news (a notice sent again, or one that arrived after this
    /// instance read or wrote past it) says nothing about who writes now.
    mutating func otherNotice(head: UInt64, feedHead: UInt64, now: ContinuousClock.Instant) -> Bool {
        guard head > feedHead else { return false }
        sawAnotherWriter(now: now)
        return true
    }

    /// The LISTEN connection (re)connected, or a commit's outcome is unknown: another instance may
    /// have written with its notice lost, so the next batch goes under the lock.
    mutating func forgetHead() {
        knownHead = nil
    }

    private mutating func sawAnotherWriter(now: ContinuousClock.Instant) {
        knownHead = nil
        anotherWriterSeen = now
    }
}

/// A chain head with the version of the head row it was read or written at.
struct KnownHead: Sendable, Equatable {
    var head: ChainHead
    var version: Int64
}
