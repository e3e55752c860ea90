/// How long to wait before trying again: `initial`, doubled after every failed attempt, at most
/// `maximum`. One type for every retry loop of the broker (ZooKeeper sessions, bridge terms,
/// outbound publishers, inbound stores, callback deliveries), so they all behave alike.
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
}
