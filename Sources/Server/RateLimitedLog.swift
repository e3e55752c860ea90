import Logging
import Synchronization

/// A log line that a client can make the broker write over and over (a refusal) is written at
/// most once per `interval`; the next one says how many were left out meanwhile.
final class RateLimitedLog: Sendable {
    private let interval: Duration
    private let state = Mutex<(last: ContinuousClock.Instant?, suppressed: Int)>((nil, 0))

    init(interval: Duration = .seconds(10)) {
        self.interval = interval
    }

    func notice(_ logger: Logger, _ message: @autoclosure () -> Logger.Message, metadata: Logger.Metadata = [:]) {
        let suppressed = state.withLock { state -> Int? in
            let now = ContinuousClock.now
            if let last = state.last, now - last < interval {
                state.suppressed += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.suppressed
        }
        guard let suppressed else { return }
        var metadata = metadata
        if suppressed > 0 { metadata["alsoRefusedSinceLastLog"] = "\(suppressed)" }
        logger.notice(message(), metadata: metadata)
    }
}
