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

    @Test func withoutADelayTheLoopTakesWhatIsQueuedAtOnce() {
        var queue = Queue(maxEvents: 100, maxDelay: .zero)
        let answer1 = queue.next(now: t0)
        #expect(answer1 == .wait(until: nil))
        let answer2 = queue.park("loop", now: t0)
        #expect(answer2)
        // The first write wakes the parked loop; the next ones find it awake.
        guard case .queuedWaking(let loop) = queue.enqueue(TestWrite(eventCount: 1), now: t0) else {
            Issue.record("the parked loop was not woken")
            return
        }
        #expect(loop == "loop")
        guard case .queued = queue.enqueue(TestWrite(eventCount: 2), now: t0) else {
            Issue.record("an awake loop was woken again")
            return
        }
        guard case .batch(let batch) = queue.next(now: t0) else {
            Issue.record("no batch")
            return
        }
        #expect(batch == [TestWrite(eventCount: 1), TestWrite(eventCount: 2)])
        #expect(queue.eventCount == 0)
        let answer3 = queue.next(now: t0)
        #expect(answer3 == .wait(until: nil))
    }

    @Test func withADelayTheLoopWaitsForTheOldestWriteToAgeOrTheBlockToFill() {
        var queue = Queue(maxEvents: 10, maxDelay: .milliseconds(5))
        _ = queue.enqueue(TestWrite(eventCount: 3), now: t0)
        let answer4 = queue.next(now: t0 + .milliseconds(1))
        #expect(answer4 == .wait(until: t0 + .milliseconds(5)))
        let answer5 = queue.park("loop", now: t0 + .milliseconds(1))
        #expect(answer5)
        // Not full yet: the loop sleeps on.
        guard case .queued = queue.enqueue(TestWrite(eventCount: 6), now: t0 + .milliseconds(2)) else {
            Issue.record("woken before the block is full")
            return
        }
        // Full: woken, and the batch goes before the deadline.
        guard case .queuedWaking = queue.enqueue(TestWrite(eventCount: 1), now: t0 + .milliseconds(3)) else {
            Issue.record("a full block did not wake the loop")
            return
        }
        let answer6 = queue.next(now: t0 + .milliseconds(3))
        #expect(answer6 == .batch([TestWrite(eventCount: 3), TestWrite(eventCount: 6), TestWrite(eventCount: 1)]))
        // A lone write goes at its deadline, not before.
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0 + .milliseconds(10))
        let answer7 = queue.next(now: t0 + .milliseconds(14))
        #expect(answer7 == .wait(until: t0 + .milliseconds(15)))
        let answer8 = queue.next(now: t0 + .milliseconds(15))
        #expect(answer8 == .batch([TestWrite(eventCount: 1)]))
    }

    @Test func aTopicChangeIsNotHeldBackByTheDelay() {
        var queue = Queue(maxEvents: 10, maxDelay: .milliseconds(5))
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0)
        let answer9 = queue.park("loop", now: t0)
        #expect(answer9)
        guard case .queuedWaking = queue.enqueue(TestWrite(eventCount: 0), now: t0) else {
            Issue.record("a topic change did not wake the loop")
            return
        }
        let answer10 = queue.next(now: t0)
        #expect(answer10 == .batch([TestWrite(eventCount: 1), TestWrite(eventCount: 0)]))
    }

    @Test func theDeadlineResumesTheLoopOnceAndAWriteAfterItFindsItAwake() {
        var queue = Queue(maxEvents: 10, maxDelay: .milliseconds(5))
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0)
        let answer11 = queue.park("loop", now: t0)
        #expect(answer11)
        let answer12 = queue.deadlinePassed()
        #expect(answer12 == "loop")
        let answer13 = queue.deadlinePassed()
        #expect(answer13 == nil)
        guard case .queued = queue.enqueue(TestWrite(eventCount: 1), now: t0) else {
            Issue.record("a resumed loop was resumed again")
            return
        }
    }

    @Test func aLoopDoesNotParkWhenAWriteCameBetweenItsQuestionAndParking() {
        var queue = Queue(maxEvents: 10, maxDelay: .zero)
        let answer14 = queue.next(now: t0)
        #expect(answer14 == .wait(until: nil))
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0)
        let answer15 = queue.park("loop", now: t0)
        #expect(!answer15)
        let answer16 = queue.next(now: t0)
        #expect(answer16 == .batch([TestWrite(eventCount: 1)]))
    }

    @Test func stoppingDrainsWhatIsQueuedAndThenEndsTheLoop() {
        var queue = Queue(maxEvents: 10, maxDelay: .milliseconds(50))
        let answer17 = queue.next(now: t0)
        #expect(answer17 == .wait(until: nil))
        _ = queue.enqueue(TestWrite(eventCount: 1), now: t0)
        let answer18 = queue.park("loop", now: t0)
        #expect(answer18)
        guard case .draining(let wake) = queue.stop("stopper") else {
            Issue.record("a running loop was not drained")
            return
        }
        #expect(wake == "loop")
        guard case .refused = queue.enqueue(TestWrite(eventCount: 1), now: t0) else {
            Issue.record("a write after stop was queued")
            return
        }
        // Queued writes go at once while stopping, whatever the delay.
        let answer19 = queue.next(now: t0)
        #expect(answer19 == .batch([TestWrite(eventCount: 1)]))
        guard case .finished(let waiters) = queue.next(now: t0) else {
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
        let answer20 = queue.next(now: t0)
        #expect(answer20 == .finished([]))
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
