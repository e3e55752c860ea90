import Synchronization
import WeEvent

/// Follows one ledger from a position on, for one reader: the stored events first, read
/// page by page, then each commit as the writer announces it (`CommitFeed`), without polling.
///
/// Memory is bounded: the live buffer holds at most `bufferBytes` (about); a reader that
/// falls further behind loses the buffer and catches up from the store, page by page, so a
/// slow reader costs reads, never publisher time or unbounded memory.
///
/// A read of the shared store that fails (`LedgerStoreError`: unreachable, no answer in time,
/// failing over to a standby) is tried again, at a slowing pace, until it succeeds or the tail
/// is closed: the events are durable and will be there, and every reader (a stream, a callback,
/// the outbound bridge, a rest/request waiting for its reply) would otherwise end on a failover.
///
/// One task calls `next()` at a time; `wake()` and `close()` may come from anywhere.
public final class EventTail: Sendable {
    public static let defaultBufferBytes = 1 << 20
    static let pageSize = 256

    private let ledger: any LedgerReading
    private let feed: CommitFeed
    private let id: Int
    public let filter: TopicFilter
    private let cursorState: Mutex<Cursor>
    private let closed = Atomic<Bool>(false)

    struct Cursor {
        /// Every matching event up to here has been returned.
        var position: UInt64
        /// Events up to here are read from the store; after it they come from the feed.
        var storeThrough: UInt64
        /// Store reads in a row that found nothing where the feed said events were.
        var emptyReads = 0
        /// Store reads in a row that failed.
        var failedReads = 0
    }

    init(ledger: any LedgerReading, after position: UInt64, matching filter: TopicFilter, bufferBytes: Int) {
        self.ledger = ledger
        self.feed = ledger.commits
        self.filter = filter
        let (id, head) = feed.register(filter: filter, capacity: bufferBytes)
        self.id = id
        self.cursorState = Mutex(Cursor(position: position, storeThrough: max(head, position)))
    }

    deinit { feed.remove(id) }

    /// Between reads of a store that ends before the head its feed announced.
    static let storeBehindFeed = Backoff(initial: .milliseconds(10), maximum: .seconds(1))
    /// Between reads of a shared store that failed.
    static let storeFailing = Backoff(initial: .milliseconds(100), maximum: .seconds(2))

    /// The position this reader has passed: every matching event up to it was returned.
    public var position: UInt64 { cursorState.withLock { $0.position } }

    /// The next events, in ledger order; an empty array when `wake()` was called and nothing
    /// is new; nil when the tail or the ledger was closed or the task cancelled.
    public func next() async throws -> [PositionedEvent]? {
        while true {
            let cursor = cursorState.withLock { $0 }
            if cursor.position < cursor.storeThrough {
                let range: EventRange
                do {
                    range = try await ledger.events(after: cursor.position, through: cursor.storeThrough, matching: filter, limit: Self.pageSize)
                } catch is LedgerStoreError {
                    guard await pauseBeforeReading(again: \.failedReads, Self.storeFailing) else { return nil }
                    continue
                }
                cursorState.withLock { $0.failedReads = 0 }
                if range.events.isEmpty, range.scannedThrough <= cursor.position {
                    // The store ends before the head the feed announced. Never the case for a head
                    // this broker's writers or sealed notices announce; should it happen, ask again
                    // at a slowing pace (up to once a second) rather than in a tight loop, and
                    // skip nothing meanwhile.
                    guard await pauseBeforeReading(again: \.emptyReads, Self.storeBehindFeed) else { return nil }
                    continue
                }
                cursorState.withLock {
                    $0.position = range.scannedThrough
                    $0.emptyReads = 0
                }
                if !range.events.isEmpty { return range.events }
                continue
            }
            switch await feed.take(id) {
            case .events(let events, let through):
                let fresh = events.filter { $0.position > cursor.position }
                cursorState.withLock { $0.position = max($0.position, through) }
                if !fresh.isEmpty { return fresh }
            case .gap(let through):
                cursorState.withLock { $0.storeThrough = max($0.storeThrough, through) }
            case .woken:
                return []
            case .closed:
                return nil
            }
        }
    }

    /// Makes a waiting `next()` return an empty batch (a reader's heartbeat tick).
    public func wake() { feed.wake(id) }

    /// Ends the tail: a waiting or later `next()` returns nil.
    public func close() {
        closed.store(true, ordering: .releasing)
        feed.remove(id)
    }

    /// Counts one more read in a row that came to nothing (`reads`) and waits as `backoff` says
    /// after that many, looking every 100 ms whether the tail was closed: false when it was, or
    /// the task was cancelled.
    private func pauseBeforeReading(again reads: WritableKeyPath<Cursor, Int>, _ backoff: Backoff) async -> Bool {
        let pause = cursorState.withLock { cursor -> Duration in
            cursor[keyPath: reads] += 1
            return backoff.delay(afterFailures: cursor[keyPath: reads])
        }
        let until = ContinuousClock.now + pause
        while !closed.load(ordering: .acquiring) {
            let now = ContinuousClock.now
            guard now < until else { return true }
            do { try await Task.sleep(for: min(.milliseconds(100), until - now)) } catch { return false }
        }
        return false
    }
}
