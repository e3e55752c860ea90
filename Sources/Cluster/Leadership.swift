/// Decides which instance runs the leader-only work (the MQTT bridge, callback delivery):
/// the ZooKeeper election, or this instance alone.
public protocol LeadershipSource: Sendable {
    /// `true` when this instance becomes leader, `false` the moment it stops being one.
    /// The stream ends when the consuming task is cancelled.
    func leadershipChanges() -> AsyncStream<Bool>
}

/// Without ZooKeeper the only instance is always the leader.
public struct SingleInstanceLeadership: LeadershipSource {
    public init() {}

    public func leadershipChanges() -> AsyncStream<Bool> {
        AsyncStream { continuation in continuation.yield(true) }
    }
}

extension LeadershipSource {
    /// Runs `term` once per stretch of leadership: started when this instance becomes leader,
    /// cancelled and awaited the moment it stops being one. Returns when the calling task is
    /// cancelled, after cancelling and awaiting the running term. `changed` is told of every
    /// start (`true`) and stop (`false`) of a term, for logs and counters.
    ///
    /// Each term is its own task: a task group would stay cancelled after the first lost leadership.
    public func runTerms(
        changed: @Sendable (Bool) -> Void = { _ in }, _ term: @escaping @Sendable () async -> Void
    ) async {
        var current: Task<Void, Never>?
        for await leading in leadershipChanges() {
            if leading, current == nil {
                changed(true)
                current = Task { await term() }
            } else if !leading, let running = current {
                changed(false)
                running.cancel()
                await running.value
                current = nil
            }
        }
        current?.cancel()
        await current?.value
    }
}
