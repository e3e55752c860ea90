import Testing
@testable import Ledger

/// A write as the queue sees it: how many events it carries (0: a topic change).
struct TestWrite: QueuedWrite, Equatable {
    var eventCount: Int
}

/// The rules of a ledger's write queue (`WriteQueueState`), walked without tasks or clocks:
/// what a publisher's write and the write loop's questions do, and who is resumed when.
@Suite struct WriteQueueStateTests {
    typealias Queue = WriteQueueState<TestWrite, String>
    let t0 = ContinuousClock.now

    /// `next` for a test: what the loop is told.
    static func next(_ queue: inout Queue, at now: ContinuousClock.Instant) -> Queue.Next { queue.next(now: now) }

    /// `afterCommit` for a test: the batch due, or the loop woken (nil when none) when the drain ended.
    static func afterCommit(_ queue: inout Queue, at now: ContinuousClock.Instant) -> (batch: [TestWrite]?, woken: String?) {
        switch queue.afterCommit(now: now) {
        case .batch(let batch): (batch, nil)
        case .idle(let wake): (nil, wake)
        }
    }

    /// A publisher's write: the loop it woke, if any.
    static func enqueue(_ queue: inout Queue, _ events: Int, at now: ContinuousClock.Instant) -> String? {
        if case .queuedWaking(let loop) = queue.enqueue(TestWrite(eventCount: events), now: now) { return loop }
        return nil
    }

    /// The loop parks for the wait `next` told it (`until`: its deadline, if any).
    static func park(
        _ queue: inout Queue, _ loop: String, until deadline: ContinuousClock.Instant? = nil, at now: ContinuousClock.Instant
    ) -> Bool {
        queue.park(loop, until: deadline, now: now)
    }

    static func deadlinePassed(_ queue: inout Queue) -> String? { Self.deadlinePassed(&queue) }

    @Test func withoutADelayTheFirstWriteWakesTheLoopAndTheDrainTakesTheRest() {
        var queue = Queue(maxEvents: 100, maxDelay: .zero)
        #expect(Self.next(&queue, at: t0) == .wait(until: nil))
        #expect(Self.park(&queue, "loop", at: t0))
        #expect(Self.enqueue(&queue, 1, at: t0) == "loop")
        #expect(Self.enqueue(&queue, 2, at: t0) == nil, "an awake loop is not woken again")
        #expect(Self.next(&queue, at: t0) == .batch([TestWrite(eventCount: 1), TestWrite(eventCount: 2)]))
        #expect(queue.eventCount == 0)
        // While the batch is written, the loop waits and new writes do not wake it: the drain
        // takes them after its commit.
        #expect(Self.next(&queue, at: t0) == .wait(until: nil))
        #expect(Self.park(&queue, "loop", at: t0))
        #expect(Self.enqueue(&queue, 1, at: t0) == nil)
        #expect(Self.enqueue(&queue, 0, at: t0) == nil)
        let more = Self.afterCommit(&queue, at: t0)
        #expect(more.batch == [TestWrite(eventCount: 1), TestWrite(eventCount: 0)])
        // Nothing more: the drain ends; the loop has nothing to look at and sleeps on, and the
        // next write wakes it.
        let end = Self.afterCommit(&queue, at: t0)
        #expect(end.batch == nil && end.woken == nil)
        #expect(Self.enqueue(&queue, 1, at: t0) == "loop")
    }

    @Test func withADelayTheLoopWaitsForTheOldestWriteToAgeOrTheBlockToFill() {
        var queue = Queue(maxEvents: 10, maxDelay: .milliseconds(5))
        _ = queue.enqueue(TestWrite(eventCount: 3), now: t0)
        #expect(Self.next(&queue, at: t0 + .milliseconds(1)) == .wait(until: t0 + .milliseconds(5)))
        #expect(Self.park(&queue, "loop", until: t0 + .milliseconds(5), at: t0 + .milliseconds(1)))
        #expect(Self.enqueue(&queue, 6, at: t0 + .milliseconds(2)) == nil, "woken before the block is full")
        #expect(Self.enqueue(&queue, 1, at: t0 + .milliseconds(3)) == "loop", "a full block wakes the loop")
        #expect(Self.next(&queue, at: t0 + .milliseconds(3)) == .batch([TestWrite(eventCount: 3), TestWrite(eventCount: 6), TestWrite(eventCount: 1)]))
        // A lone write during the commit is not due yet: the drain ends and wakes the loop, which
        // waits for its deadline.
        #expect(Self.park(&queue, "loop", at: t0 + .milliseconds(4)))
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0 + .milliseconds(10))
        let end = Self.afterCommit(&queue, at: t0 + .milliseconds(11))
        #expect(end.batch == nil && end.woken == "loop")
        #expect(Self.next(&queue, at: t0 + .milliseconds(14)) == .wait(until: t0 + .milliseconds(15)))
        #expect(Self.next(&queue, at: t0 + .milliseconds(15)) == .batch([TestWrite(eventCount: 1)]))
    }

    @Test func aTopicChangeIsNotHeldBackByTheDelay() {
        var queue = Queue(maxEvents: 10, maxDelay: .milliseconds(5))
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0)
        #expect(Self.park(&queue, "loop", until: t0 + .milliseconds(5), at: t0))
        #expect(Self.enqueue(&queue, 0, at: t0) == "loop")
        #expect(Self.next(&queue, at: t0) == .batch([TestWrite(eventCount: 1), TestWrite(eventCount: 0)]))
    }

    @Test func theDeadlineResumesTheLoopOnceAndAWriteAfterItFindsItAwake() {
        var queue = Queue(maxEvents: 10, maxDelay: .milliseconds(5))
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0)
        #expect(Self.park(&queue, "loop", until: t0 + .milliseconds(5), at: t0))
        let first = queue.deadlinePassed()
        let second = queue.deadlinePassed()
        #expect(first == "loop")
        #expect(second == nil)
        #expect(Self.enqueue(&queue, 1, at: t0) == nil)
    }

    /// The loop was told to wait for a drain; the drain ended before it parked, leaving a write
    /// with a deadline: the loop must not park without that deadline (it would sleep past it).
    @Test func aLoopToldToWaitForADrainDoesNotParkOnceTheDrainLeftWritesWithADeadline() {
        var queue = Queue(maxEvents: 10, maxDelay: .milliseconds(5))
        _ = queue.enqueue(TestWrite(eventCount: 10), now: t0)
        #expect(Self.next(&queue, at: t0) == .batch([TestWrite(eventCount: 10)]))
        #expect(Self.next(&queue, at: t0) == .wait(until: nil))
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0 + .milliseconds(1))
        let end = Self.afterCommit(&queue, at: t0 + .milliseconds(2))
        #expect(end.batch == nil && end.woken == nil, "the loop was not parked yet")
        #expect(!Self.park(&queue, "loop", until: nil, at: t0 + .milliseconds(2)))
        #expect(Self.next(&queue, at: t0 + .milliseconds(2)) == .wait(until: t0 + .milliseconds(6)))
        #expect(Self.park(&queue, "loop", until: t0 + .milliseconds(6), at: t0 + .milliseconds(2)))
    }

    @Test func aLoopDoesNotParkWhenAWriteCameBetweenItsQuestionAndParking() {
        var queue = Queue(maxEvents: 10, maxDelay: .zero)
        #expect(Self.next(&queue, at: t0) == .wait(until: nil))
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0)
        #expect(!Self.park(&queue, "loop", at: t0))
        #expect(Self.next(&queue, at: t0) == .batch([TestWrite(eventCount: 1)]))
    }

    @Test func stoppingDuringADrainLetsItFinishThenEndsTheLoop() {
        var queue = Queue(maxEvents: 10, maxDelay: .milliseconds(50))
        _ = queue.enqueue(TestWrite(eventCount: 10), now: t0)
        #expect(Self.next(&queue, at: t0) == .batch([TestWrite(eventCount: 10)]))
        #expect(Self.park(&queue, "loop", at: t0))
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0)
        guard case .draining(let wake) = queue.stop("stopper") else {
            Issue.record("a running loop was not drained")
            return
        }
        #expect(wake == "loop")
        guard case .refused = queue.enqueue(TestWrite(eventCount: 1), now: t0) else {
            Issue.record("a write after stop was queued")
            return
        }
        // The woken loop finds the drain still going and waits for it.
        #expect(Self.next(&queue, at: t0) == .wait(until: nil))
        #expect(Self.park(&queue, "loop", at: t0))
        // What was queued before the stop goes at once, whatever the delay; then the drain ends
        // and wakes the loop, which ends and resumes the stopper.
        #expect(Self.afterCommit(&queue, at: t0).batch == [TestWrite(eventCount: 1)])
        #expect(Self.afterCommit(&queue, at: t0).woken == "loop")
        guard case .finished(let waiters) = Self.next(&queue, at: t0) else {
            Issue.record("the loop did not end")
            return
        }
        #expect(waiters == ["stopper"])
        guard case .ended = queue.stop("late") else {
            Issue.record("a stop after the end waits")
            return
        }
    }

    @Test func stoppingAQueueWhoseLoopNeverRanHandsBackItsWrites() {
        var queue = Queue(maxEvents: 10, maxDelay: .zero)
        _ = queue.enqueue(TestWrite(eventCount: 2), now: t0)
        guard case .neverRan(let ops) = queue.stop("stopper") else {
            Issue.record("waiting for a loop that never ran")
            return
        }
        #expect(ops == [TestWrite(eventCount: 2)])
        #expect(Self.next(&queue, at: t0) == .finished([]))
    }
}

/// What one instance's writer of a shared chain believes (`SharedWriterState`).
@Suite struct SharedWriterStateTests {
    let t0 = ContinuousClock.now
    let head = KnownHead(
        head: ChainHead(height: 3, lastHash: Array(repeating: 7, count: 32), eventCount: 9, topics: [:], nextOrder: 1), version: 4
    )

    @Test func aCommittedHeadIsBuiltOnUntilAnotherWriterShowsUp() {
        var state = SharedWriterState(contentionWindow: .seconds(1))
        let answer21 = state.beginBatch(now: t0)
        #expect(answer21 == nil, "no head known before the first commit")
        state.committed(head)
        state.batchEnded()
        let answer22 = state.beginBatch(now: t0)
        #expect(answer22 == head)
        state.batchEnded()
        // Another instance's notice beyond the feed: the head is stale, and for a while every
        // batch goes under the lock even once a head is known again.
        let answer23 = state.otherNotice(head: 12, feedHead: 9, now: t0)
        #expect(answer23)
        #expect(state.knownHead == nil)
        state.committed(head)
        state.batchEnded()
        let answer24 = state.beginBatch(now: t0 + .milliseconds(999))
        #expect(answer24 == nil)
        state.batchEnded()
        let answer25 = state.beginBatch(now: t0 + .seconds(1))
        #expect(answer25 == head)
    }

    @Test func oldNoticesOfOthersChangeNothing() {
        var state = SharedWriterState()
        state.committed(head)
        let answer26 = state.otherNotice(head: 9, feedHead: 9, now: t0)
        #expect(!answer26)
        #expect(state.knownHead == head)
        let answer27 = state.beginBatch(now: t0)
        #expect(answer27 == head)
    }

    @Test func ownNoticesAreFollowedOnlyBetweenBatches() {
        var state = SharedWriterState()
        #expect(state.shouldFollowOwnNotice())
        _ = state.beginBatch(now: t0)
        #expect(!state.shouldFollowOwnNotice())
        state.committed(head)
        #expect(!state.shouldFollowOwnNotice(), "the writer hands the batch to the feed itself")
        state.batchEnded()
        #expect(state.shouldFollowOwnNotice())
        _ = state.beginBatch(now: t0)
        state.failed()
        #expect(state.shouldFollowOwnNotice(), "a failed commit may have landed: its notice counts")
    }

    @Test func aFailedOrRefusedWriteAndACatchUpForgetTheHead() {
        var state = SharedWriterState(contentionWindow: .seconds(1))
        state.committed(head)
        _ = state.beginBatch(now: t0)
        state.failed()
        #expect(state.knownHead == nil)

        state.committed(head)
        state.refusedOnKnownHead(now: t0)
        #expect(state.knownHead == nil)
        state.committed(head)
        let answer28 = state.beginBatch(now: t0 + .milliseconds(500))
        #expect(answer28 == nil, "refused: another writer is active")

        state.committed(head)
        state.forgetHead()
        #expect(state.knownHead == nil)
    }
}
