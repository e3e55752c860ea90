/// How long to wait before trying again: `initial`, doubled after every failed attempt, at most
/// `maximum`. One type for every retry loop of the broker (the ledger store's connections,
/// ZooKeeper sessions, bridge terms, outbound publishers, inbound stores, callback deliveries),
/// so they all behave alike; `retrying` is the loop itself.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(200), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay after `failures` failed attempts in a row (1 for the first failure).
    public func delay(afterFailures failures: Int) -> Duration {
        let doublings = min(max(failures - 1, 0), 30)
        let grown = initial * (1 << doublings)
        return grown > maximum || grown < initial ? maximum : grown
    }

    /// Sleeps for `delay(afterFailures:)`; returns early (without throwing) when cancelled.
    public func pause(afterFailures failures: Int) async {
        try? await Task.sleep(for: delay(afterFailures: failures))
    }

    /// Runs `attempt` until it returns, pausing `delay(afterFailures:)` after each failure.
    /// `failed` hears every failure with the number of failures in a row and the pause that
    /// follows (to log, count and show it); it ends the retrying by throwing (an error no retry
    /// mends, a deadline, too many attempts). A cancelled task ends it with `CancellationError`,
    /// before an attempt, during a pause, or when an attempt fails once the task is cancelled
    /// (a failure caused by the cancellation is not one to report).
    public func retrying<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ attempt: () async throws -> T,
        failed: (_ error: any Error, _ failures: Int, _ pause: Duration) async throws -> Void
    ) async throws -> T {
        var failures = 0
        while true {
            try Task.checkCancellation()
            do {
                return try await attempt()
            } catch {
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                failures += 1
                let pause = delay(afterFailures: failures)
                try await failed(error, failures, pause)
                try await Task.sleep(for: pause)
            }
        }
    }
}
