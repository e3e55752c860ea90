import WeEvent

/// A write waiting for the ledger's write loop, with the continuation of the caller it answers.
enum WriteOp: QueuedWrite {
    case publish(NewEvent, CheckedContinuation<EventID, any Error>)
    /// Events in order; `receipts`, when given, has one entry per event to record in the same transaction.
    case publishBatch([NewEvent], [InboundReceipt?]?, CheckedContinuation<[Result<EventID, WeEventError>], any Error>)
    /// A topic to open; `Bool`: whether a closed one may be reopened.
    case open(String, Bool, CheckedContinuation<Bool, any Error>)
    case close(String, CheckedContinuation<Void, any Error>)

    var eventCount: Int {
        switch self {
        case .publish: 1
        case .publishBatch(let events, _, _): events.count
        case .open, .close: 0
        }
    }

    /// Answers the caller once the op is durable. `ids` are what the sealer made of the op's
    /// events, in order (none for topic ops); a refused single publish is failed instead.
    func succeed(_ ids: [Result<EventID, WeEventError>]) {
        switch self {
        case .publish(_, let c): c.resume(with: ids[0])
        case .publishBatch(_, _, let c): c.resume(returning: ids)
        case .open(_, _, let c): c.resume(returning: true)
        case .close(_, let c): c.resume()
        }
    }

    func fail(_ error: any Error) {
        switch self {
        case .publish(_, let c): c.resume(throwing: error)
        case .publishBatch(_, _, let c): c.resume(throwing: error)
        case .open(_, _, let c): c.resume(throwing: error)
        case .close(_, let c): c.resume(throwing: error)
        }
    }
}

/// What the queue needs to know of a write: how many events it carries (none for a topic change).
protocol QueuedWrite {
    var eventCount: Int { get }
}

/// The hand-off between publishers (any task) and a ledger's one writer, as a value: each
/// transition returns what its caller must do (resume the loop, fail ops, wait), so the rules
/// (`WriteQueueStateTests`) are tested without tasks or clocks.
///
/// Group commit: the writer takes everything queued as one batch. With a delay, it first waits
/// until the oldest queued write is `maxDelay` old, the batch holds `maxEvents` events, or a
/// topic change came (nobody should wait for a topic to open). A batch handed out starts a
/// drain: after each commit the writer takes the next batch that is due (`afterCommit`) until
/// none is, and only then does the loop look again; so under load commits follow each other
/// without a trip back to the loop. While stopping, whatever is queued goes at once; stopped and
/// drained, the loop ends.
struct WriteQueueState<Op: QueuedWrite, Waiter> {
    enum Phase: Equatable {
        /// Taking writes; `running`: a loop has started.
        case open(running: Bool)
        /// Taking no more writes; the loop drains what is queued.
        case stopping
        /// The loop ended (or never ran): nothing more is taken or written.
        case stopped
    }

    private(set) var phase: Phase = .open(running: false)
    private(set) var ops: [Op] = []
    private(set) var eventCount = 0
    /// Queued topic changes (ops without events): nobody waits for a topic to open.
    private var topicChanges = 0
    /// A batch was handed out and its drain has not ended.
    private(set) var draining = false
    private var oldest: ContinuousClock.Instant?
    /// The write loop, when it waits.
    private var parked: Waiter?
    /// Callers of `stop` waiting for the loop to end.
    private var stopWaiters: [Waiter] = []
    let maxEvents: Int
    let maxDelay: Duration

    init(maxEvents: Int, maxDelay: Duration) {
        self.maxEvents = maxEvents
        self.maxDelay = maxDelay
    }

    enum Enqueued {
        /// Stopping or stopped: the op is not queued; fail it.
        case refused
        case queued
        /// Queued, and the loop must be resumed: it waits for this.
        case queuedWaking(Waiter)
    }

    /// A publisher's write. A drain in progress takes it after its commit; otherwise the parked
    /// loop is woken by the first write, a full block, or a topic change.
    mutating func enqueue(_ op: Op, now: ContinuousClock.Instant) -> Enqueued {
        guard case .open = phase else { return .refused }
        if ops.isEmpty { oldest = now }
        ops.append(op)
        eventCount += op.eventCount
        if op.eventCount == 0 { topicChanges += 1 }
        guard !draining, parked != nil, ops.count == 1 || eventCount >= maxEvents || op.eventCount == 0 else { return .queued }
        defer { parked = nil }
        return .queuedWaking(parked!)
    }

    enum Next {
        /// Write these, in order; the drain this starts ends with `afterCommit`.
        case batch([Op])
        /// Nothing to hand out now: park, and look again when resumed or at the deadline (if any).
        case wait(until: ContinuousClock.Instant?)
        /// Stopped and drained: the loop ends.
        case finished([Waiter])
    }

    /// The loop asks for its next batch.
    mutating func next(now: ContinuousClock.Instant) -> Next {
        if case .open = phase { phase = .open(running: true) }
        if case .stopped = phase { return .finished([]) }
        if draining { return .wait(until: nil) }
        switch phase {
        case .stopping where ops.isEmpty:
            phase = .stopped
            defer { stopWaiters = [] }
            return .finished(stopWaiters)
        case .open:
            if let deadline = waitingUntil(now: now) { return .wait(until: deadline) }
        default:
            break
        }
        draining = true
        return .batch(takeQueued())
    }

    enum AfterCommit {
        /// Due now: write it too (the drain goes on).
        case batch([Op])
        /// The drain ended; `wake`: the parked loop, when it has something to look at (writes
        /// waiting for their delay, or a stop).
        case idle(wake: Waiter?)
    }

    /// The writer committed a batch of the drain: the next batch when one is due already.
    mutating func afterCommit(now: ContinuousClock.Instant) -> AfterCommit {
        switch phase {
        case .open where !ops.isEmpty && waitingUntil(now: now) == nil, .stopping where !ops.isEmpty:
            return .batch(takeQueued())
        default:
            draining = false
            guard !ops.isEmpty || phase == .stopping else { return .idle(wake: nil) }
            defer { parked = nil }
            return .idle(wake: parked)
        }
    }

    /// While open: `.some` when the loop should wait (until the deadline, or `.some(nil)` for any
    /// write), nil when there is a batch to take now.
    private func waitingUntil(now: ContinuousClock.Instant) -> ContinuousClock.Instant?? {
        if ops.isEmpty { return .some(nil) }
        if maxDelay > .zero, eventCount > 0, eventCount < maxEvents, topicChanges == 0,
            let oldest, now < oldest + maxDelay
        {
            return .some(oldest + maxDelay)
        }
        return nil
    }

    /// The loop parks after `next` said `wait(until: deadline)`; false when that is no longer
    /// the wait to make (a write, the end of a drain or a stop came in between, or a drain ended
    /// leaving writes with a deadline of their own), and the loop asks again instead.
    mutating func park(_ waiter: Waiter, until deadline: ContinuousClock.Instant?, now: ContinuousClock.Instant) -> Bool {
        switch phase {
        case .stopped:
            return false
        case .stopping:
            guard draining, deadline == nil else { return false }
        case .open:
            if draining {
                guard deadline == nil else { return false }
            } else {
                guard let wait = waitingUntil(now: now), wait == deadline else { return false }
            }
        }
        parked = waiter
        return true
    }

    /// The deadline of a parked loop passed: the loop to resume, if it still waits.
    mutating func deadlinePassed() -> Waiter? {
        defer { parked = nil }
        return parked
    }

    /// Everything queued right now: for a writer that waited for a lock and can seal what
    /// arrived meanwhile into the same commit.
    mutating func takeQueued() -> [Op] {
        defer {
            ops = []
            eventCount = 0
            topicChanges = 0
            oldest = nil
        }
        return ops
    }

    enum Stopped {
        /// The loop drains what is queued, then resumes the waiter; `wake`: the parked loop to resume now.
        case draining(wake: Waiter?)
        /// No loop ever ran: fail these ops (nobody else will answer them); the queue is stopped.
        case neverRan([Op])
        /// The loop has ended already.
        case ended
    }

    /// Takes no more writes. `waiter` is resumed once the loop ended (not when `ended` or `neverRan`).
    mutating func stop(_ waiter: Waiter) -> Stopped {
        switch phase {
        case .open(running: false):
            phase = .stopped
            return .neverRan(takeQueued())
        case .open(running: true), .stopping:
            phase = .stopping
            stopWaiters.append(waiter)
            defer { parked = nil }
            return .draining(wake: parked)
        case .stopped:
            return .ended
        }
    }
}

extension WriteQueueState.Next: Equatable where Op: Equatable, Waiter: Equatable {}
