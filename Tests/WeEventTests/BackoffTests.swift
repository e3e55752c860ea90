import Synchronization
import Testing
import WeEvent

@Suite struct BackoffTests {
    @Test func delaysDoubleFromTheInitialOneUpToTheMaximum() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        let delays = (1...6).map { backoff.delay(afterFailures: $0) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
    }

    @Test(arguments: [0, -5, 31, 64, Int.max])
    func anyFailureCountGivesADelayWithinTheBounds(failures: Int) {
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        let delay = backoff.delay(afterFailures: failures)
        #expect(delay >= .milliseconds(200) && delay <= .seconds(5))
    }

    struct Refused: Error {}

    @Test func retryingTriesAgainAfterEachFailureWithTheGrowingPause() async throws {
        let backoff = Backoff(initial: .milliseconds(1), maximum: .milliseconds(4))
        let attempts = Mutex(0)
        var heard: [(Int, Duration)] = []
        let answer = try await backoff.retrying(
            {
                let n = attempts.withLock {
                    $0 += 1; return $0
                }
                if n < 4 { throw Refused() }
                return "answer \(n)"
            },
            failed: { error, failures, pause in
                #expect(error is Refused)
                heard.append((failures, pause))
            })
        #expect(answer == "answer 4")
        #expect(heard.map(\.0) == [1, 2, 3])
        #expect(heard.map(\.1) == [.milliseconds(1), .milliseconds(2), .milliseconds(4)])
    }

    @Test func aThrowFromFailedEndsTheRetrying() async {
        let attempts = Mutex(0)
        await #expect(throws: Refused.self) {
            try await Backoff(initial: .milliseconds(1)).retrying(
                { () async throws -> Int in
                    attempts.withLock { $0 += 1 }
                    throw Unavailable()
                },
                failed: { _, failures, _ in
                    if failures == 3 { throw Refused() }
                })
        }
        #expect(attempts.withLock { $0 } == 3)
    }

    struct Unavailable: Error {}

    @Test func aCancelledTaskStopsRetryingDuringThePause() async {
        let (pausing, pause) = AsyncStream.makeStream(of: Void.self)
        let task = Task {
            try await Backoff(initial: .seconds(60)).retrying(
                { () async throws -> Int in throw Unavailable() },
                failed: { _, _, _ in
                    pause.yield()
                })
        }
        for await _ in pausing { break }
        let started = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        // Well before the 60 s pause would have ended (the bound leaves room for a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    /// An attempt that fails because its task was cancelled (a connection torn down by the
    /// cancellation) is not reported as a failure: the retrying ends with `CancellationError`.
    @Test func aFailureOnceTheTaskIsCancelledIsNotReported() async {
        let (started, start) = AsyncStream.makeStream(of: Void.self)
        let reported = Mutex(0)
        let task = Task {
            try await Backoff(initial: .milliseconds(1)).retrying(
                { () async throws -> Int in
                    start.yield()
                    while !Task.isCancelled { await Task.yield() }
                    throw Unavailable()
                }, failed: { _, _, _ in reported.withLock { $0 += 1 } })
        }
        for await _ in started { break }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(reported.withLock { $0 } == 0)
    }
}
