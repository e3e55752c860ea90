import Cluster
import Testing

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
}
