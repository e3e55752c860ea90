import Foundation
import WeEvent

/// A write waiting for the ledger's writer thread, with the continuation of the caller it answers.
enum WriteOp {
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

/// The hand-off between publishers (any task) and the one writer thread of a ledger.
///
/// `@unchecked Sendable` is safe: every stored property is read and written only while
/// `condition` is locked.
final class WriteQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var ops: [WriteOp] = []
    private var eventCount = 0
    private var oldestEnqueued: UInt64 = 0
    private var stopping = false
    private var writerWaiting = false
    private let maxEvents: Int
    private let maxDelayNanoseconds: UInt64

    init(maxEvents: Int, maxDelayMilliseconds: Int) {
        self.maxEvents = maxEvents
        self.maxDelayNanoseconds = UInt64(maxDelayMilliseconds) * 1_000_000
    }

    /// Queues a write; false when the ledger is shutting down (the op is not queued).
    func enqueue(_ op: WriteOp) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if stopping { return false }
        if ops.isEmpty { oldestEnqueued = DispatchTime.now().uptimeNanoseconds }
        ops.append(op)
        eventCount += op.eventCount
        if writerWaiting && (ops.count == 1 || eventCount >= maxEvents || op.eventCount == 0) {
            condition.signal()
        }
        return true
    }

    /// Blocks the writer thread until there is work worth sealing: a full block, a
    /// block `maxDelay` old, or anything at all during shutdown. Returns nil when
    /// stopped and drained.
    func takeBatch() -> [WriteOp]? {
        condition.lock()
        defer { condition.unlock() }
        while ops.isEmpty && !stopping {
            writerWaiting = true
            condition.wait()
            writerWaiting = false
        }
        if ops.isEmpty { return nil }
        if maxDelayNanoseconds > 0 {
            let deadline = oldestEnqueued &+ maxDelayNanoseconds
            while !stopping, eventCount > 0, eventCount < maxEvents {
                let now = DispatchTime.now().uptimeNanoseconds
                if now >= deadline { break }
                writerWaiting = true
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(deadline - now) / 1e9))
                writerWaiting = false
            }
        }
        let batch = ops
        ops = []
        eventCount = 0
        return batch
    }

    /// Everything queued right now, without waiting (empty when nothing is): for a writer that
    /// waited for a lock and can seal what arrived meanwhile into the same commit.
    func takeQueued() -> [WriteOp] {
        condition.lock()
        defer { condition.unlock() }
        let taken = ops
        ops = []
        eventCount = 0
        return taken
    }

    /// Refuses new writes; the writer drains what is queued and then `takeBatch` returns nil.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }
}
