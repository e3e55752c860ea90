import ServiceLifecycle
import WeEvent

/// The wait for a device command's reply (rest/request): the first event on `replyTopic` after
/// the command whose correlation value is the command's (`CorrelatedCommand.isAnswered`), and,
/// with `bridgedOnly`, that the inbound bridge stored (it carries `weevent-mqtt-topic`, which no
/// client can set). Works on any `EventLedger`, so it is tested without HTTP.
public struct ReplySearch: Sendable {
    public let command: CorrelatedCommand
    public let replyTopic: String
    public let bridgedOnly: Bool

    public init(command: CorrelatedCommand, replyTopic: String, bridgedOnly: Bool = false) {
        self.command = command
        self.replyTopic = replyTopic
        self.bridgedOnly = bridgedOnly
    }

    public enum Outcome: Sendable {
        case reply(Event)
        case timedOut
        /// The caller went away (its connection closed).
        case callerLeft
        /// The ledger closed, or the service group is shutting down, before a reply came.
        case closed
    }

    /// Whether `event` answers the command.
    public func isAnswer(_ event: Event) -> Bool {
        command.isAnswered(by: event.content) && (!bridgedOnly || event.extensions[Validation.mqttTopicExtension] != nil)
    }

    /// Reads `replyTopic` from `position` (what is stored, then each commit) until a reply, until
    /// `deadline` (never earlier), until graceful shutdown, or until the caller leaves:
    /// `watchCaller` gets a closure to call when the caller's connection closes, and `callerGone`
    /// tells, once the wait ended for no other reason, whether that is why.
    public func wait(
        after position: UInt64, in ledger: any LedgerReading, until deadline: ContinuousClock.Instant,
        watchCaller: (@escaping @Sendable () -> Void) -> Void = { _ in }, callerGone: @escaping @Sendable () -> Bool = { false }
    ) async throws -> Outcome {
        let filter = try TopicFilter.parse(replyTopic)
        let tail = ledger.tail(after: position, matching: filter)
        defer { tail.close() }
        watchCaller { tail.close() }
        // At shutdown every waiting call answers at once instead of holding the shutdown up
        // until its timeout and then losing its answer with the connection.
        let outcome = try await withGracefulShutdownHandler {
            try await follow(tail, until: deadline, callerGone: callerGone)
        } onGracefulShutdown: {
            tail.close()
        }
        guard case .timedOut = outcome else { return outcome }
        // At the deadline the tail may not have read everything committed before it (a busy
        // store, a batch not yet taken): a reply on the ledger is an answer, however late.
        var cursor = tail.position
        while true {
            let stored = try await ledger.events(after: cursor, through: nil, matching: filter, limit: 256)
            if let reply = stored.events.first(where: { isAnswer($0.event) }) { return .reply(reply.event) }
            guard stored.scannedThrough > cursor else { return .timedOut }
            cursor = stored.scannedThrough
        }
    }

    /// Follows `tail` until a reply, the deadline, or the tail's closing (caller gone, shutdown).
    private func follow(
        _ tail: EventTail, until deadline: ContinuousClock.Instant, callerGone: @escaping @Sendable () -> Bool
    ) async throws -> Outcome {
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask {
                // The tail reads what is stored first, then follows the commits.
                while let batch = try await tail.next() {
                    if let reply = batch.first(where: { isAnswer($0.event) }) { return .reply(reply.event) }
                }
                // Closed by the deadline below, by the caller leaving, or by the ledger shutting down.
                if ContinuousClock.now >= deadline { return .timedOut }
                return callerGone() ? .callerLeft : .closed
            }
            group.addTask {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                } catch {
                    return .closed  // cancelled: the reader ended first and its outcome stands
                }
                tail.close()
                return .timedOut
            }
            // Both tasks end (the deadline closes the reader's tail); a reply the reader found in
            // the same moment wins over the deadline.
            var outcomes: [Outcome] = []
            while let next = try await group.next() {
                if case .reply = next {
                    group.cancelAll()
                    return next
                }
                outcomes.append(next)
                if outcomes.count == 1, case .timedOut = next {} else { group.cancelAll() }
            }
            if outcomes.contains(where: { if case .timedOut = $0 { true } else { false } }) { return .timedOut }
            return outcomes.first ?? .closed
        }
    }
}
