import Foundation
import Synchronization
import WeEvent

/// A ledger's write path up to its store, the same for both stores: the queue publishers hand
/// their writes to, and the one thread that takes them in batches (group commit) and gives each
/// batch to the store's writer.
final class LedgerWriter: Sendable {
    let groupID: String
    private let queue: WriteQueue
    private let finished = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init(groupID: String, maxEvents: Int, maxDelayMilliseconds: Int) {
        self.groupID = groupID
        self.queue = WriteQueue(maxEvents: maxEvents, maxDelayMilliseconds: maxDelayMilliseconds)
    }

    /// Starts the writer thread: `write` gets every batch, in order, on that thread.
    func start(_ write: @escaping @Sendable ([WriteOp]) -> Void) {
        let thread = Thread { [self] in
            while let batch = queue.takeBatch() { write(batch) }
            let waiters = finished.withLock { state in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        thread.name = "ledger-writer-\(groupID)"
        thread.start()
    }

    /// Queues a write and waits for its answer; `queued` runs once it has its place in the order.
    /// `LedgerError.shuttingDown` once the ledger is shutting down.
    func submit<T>(_ make: (CheckedContinuation<T, any Error>) -> WriteOp, queued: @Sendable () -> Void = {}) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let op = make(continuation)
            if !queue.enqueue(op) {
                op.fail(LedgerError.shuttingDown(groupID: groupID))
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

    /// On the writer thread, during a batch: what was queued since the batch was taken.
    func takeQueued() -> [WriteOp] { queue.takeQueued() }

    /// Takes no more writes, lets the thread finish what is queued, and waits until it ended.
    func stop() async {
        queue.stop()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = finished.withLock { state in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }
}
