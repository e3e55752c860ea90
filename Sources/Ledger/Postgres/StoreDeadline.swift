import Logging
import PostgresNIO
import Synchronization

/// Runs `body`, but answers by `timeout` whatever happens: with the body's result, or with a
/// `LedgerStoreError` naming `what`. On the deadline the body is cancelled and left to end on
/// its own; its late result is dropped. This is how a request to a PostgreSQL that stopped
/// answering (a dead connection, a full pool waiting for a server that is gone) becomes a clear
/// error instead of a request that never returns.
func withStoreDeadline<T: Sendable>(
    _ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = FirstOutcome<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            outcome.install(continuation)
            let work = Task {
                do { outcome.resume(.success(try await body())) } catch { outcome.resume(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if outcome.resume(.failure(LedgerStoreError("no answer from PostgreSQL within \(timeout) (\(what))"))) {
                    work.cancel()
                }
            }
            outcome.onResume {
                work.cancel(); timer.cancel()
            }
        }
    } onCancel: {
        outcome.resume(.failure(CancellationError()))
    }
}

/// The first of several possible answers, given to one continuation exactly once.
private final class FirstOutcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var done = false
        var cleanup: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { state in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Stops the losers once there is an answer (at once if there already is one).
    func onResume(_ cleanup: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.done { return true }
            state.cleanup = cleanup
            return false
        }
        if now { cleanup() }
    }

    /// True when this was the first answer.
    @discardableResult
    func resume(_ result: Result<T, any Error>) -> Bool {
        let (continuation, cleanup, first): (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?, Bool) = state.withLock { state in
            guard !state.done else { return (nil, nil, false) }
            state.done = true
            defer { state.continuation = nil; state.cleanup = nil }
            if state.continuation == nil { state.early = result }
            return (state.continuation, state.cleanup, true)
        }
        continuation?.resume(with: result)
        cleanup?()
        return first
    }
}

extension PostgresConnection {
    /// Runs a statement and reads its result to the end. An error raised while a statement runs
    /// arrives with its rows; left unread, a transaction whose statement failed would COMMIT as
    /// a silent ROLLBACK.
    func perform(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}
