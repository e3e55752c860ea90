import Synchronization
import WeEvent

/// A ledger's write path up to its store, the same for both stores: the queue publishers hand
/// their writes to (`WriteQueueState`), and the one async loop that hands them in batches (group
/// commit) to the store's writer. The loop runs in the ledgers' service (`LedgerService`), so it
/// starts and stops with the broker's service group.
final class LedgerWriter: Sendable {
    typealias Waiter = CheckedContinuation<Void, Never>

    let groupID: String
    private let queue: Mutex<WriteQueueState<WriteOp, Waiter>>

    init(groupID: String, maxEvents: Int, maxDelay: Duration) {
        self.groupID = groupID
        self.queue = Mutex(WriteQueueState(maxEvents: maxEvents, maxDelay: maxDelay))
    }

    /// The write loop, for a store whose writes are async calls (PostgreSQL): `write` gets every
    /// batch, in order, one at a time, and after each the next one due, until none is. Returns
    /// once `stop` was called and everything queued before it was written.
    func run(writing write: ([WriteOp]) async -> Void) async {
        await loop { batch in
            var next: [WriteOp]? = batch
            while let batch = next {
                await write(batch)
                next = afterCommit()
            }
        }
    }

    /// The write loop, for a store that writes on a serial queue of its own (SQLite: GRDB's
    /// writer queue): `submit` queues a batch there and returns at once; the work it queues
    /// writes the batch, then calls `afterCommit()` and writes what it returns until nil. The
    /// callers are answered from that queue, without a trip through the task pool per commit.
    func run(submitting submit: ([WriteOp]) -> Void) async {
        await loop(submit)
    }

    private func loop(_ drain: ([WriteOp]) async -> Void) async {
        while true {
            switch queue.withLock({ $0.next(now: .now) }) {
            case .batch(let batch):
                await drain(batch)
            case .wait(let deadline):
                await park(until: deadline)
            case .finished(let stopWaiters):
                for waiter in stopWaiters { waiter.resume() }
                return
            }
        }
    }

    /// After a commit of a drain: the next batch when one is due already; nil ends the drain.
    func afterCommit() -> [WriteOp]? {
        switch queue.withLock({ $0.afterCommit(now: .now) }) {
        case .batch(let batch):
            return batch
        case .idle(let wake):
            wake?.resume()
            return nil
        }
    }

    /// Waits until a write worth sealing or a stop comes, or until `deadline` (a timer task
    /// only when there is one).
    private func park(until deadline: ContinuousClock.Instant?) async {
        guard let deadline else { return await wait(for: nil) }
        await withTaskGroup(of: Void.self) { timer in
            timer.addTask { [self] in
                guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
                queue.withLock { $0.deadlinePassed() }?.resume()
            }
            await wait(for: deadline)
            timer.cancelAll()
        }
    }

    private func wait(for deadline: ContinuousClock.Instant?) async {
        await withCheckedContinuation { (waiter: Waiter) in
            if !queue.withLock({ $0.park(waiter, until: deadline, now: .now) }) { waiter.resume() }
        }
    }

    /// Queues a write and waits for its answer; `queued` runs once it has its place in the order.
    /// `LedgerError.shuttingDown` once the ledger is shutting down.
    func submit<T>(_ make: (CheckedContinuation<T, any Error>) -> WriteOp, queued: @Sendable () -> Void = {}) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let op = make(continuation)
            switch queue.withLock({ $0.enqueue(op, now: .now) }) {
            case .refused: op.fail(LedgerError.shuttingDown(groupID: groupID))
            case .queued: break
            case .queuedWaking(let loop): loop.resume()
            }
            queued()
        }
    }

    /// Queues events in order (with a receipt slot per event, or none), as both stores' batch
    /// publishes do; an empty batch is answered at once.
    func publish(
        _ events: [NewEvent], receipts: [InboundReceipt?]?, queued: @escaping @Sendable () -> Void = {}
    ) async throws -> [Result<EventID, WeEventError>] {
        if let receipts { precondition(events.count == receipts.count, "one receipt slot per event") }
        if events.isEmpty {
            queued()
            return []
        }
        return try await submit({ .publishBatch(events, receipts, $0) }, queued: queued)
    }

    /// During a batch: what was queued since the batch was taken.
    func takeQueued() -> [WriteOp] { queue.withLock { $0.takeQueued() } }

    /// Takes no more writes and waits until the loop wrote what was queued and ended. Writes
    /// queued on a ledger whose loop never ran fail with `LedgerError.shuttingDown`.
    func stop() async {
        await withCheckedContinuation { (waiter: Waiter) in
            switch queue.withLock({ $0.stop(waiter) }) {
            case .draining(let loop):
                loop?.resume()
            case .neverRan(let ops):
                for op in ops { op.fail(LedgerError.shuttingDown(groupID: groupID)) }
                waiter.resume()
            case .ended:
                waiter.resume()
            }
        }
    }
}
