import Synchronization

/// What `withDeadline` throws when the body did not finish in time.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let what: String
    public let after: Duration
    public var description: String { "timed out after \(after): \(what)" }
}

/// Runs `body` and returns its result, or throws `DeadlineExceeded` once `timeout` has passed.
///
/// Unlike a task group racing the body against a sleep, this returns at the deadline even when
/// the body ignores cancellation (a continuation waiting for a message that never comes): a task
/// group waits for all its children before it returns, so such a "timeout" hangs the whole test
/// run instead of failing one test. The body is cancelled and left to end on its own.
public func withDeadline<T: Sendable>(
    _ timeout: Duration,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = Once<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            outcome.install(continuation)
            let work = Task {
                do { outcome.resume(.success(try await body())) } catch { outcome.resume(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if outcome.resume(.failure(DeadlineExceeded(what: what, after: timeout))) { work.cancel() }
            }
            outcome.onResume {
                work.cancel(); timer.cancel()
            }
        }
    } onCancel: {
        outcome.resume(.failure(CancellationError()))
    }
}

/// `withDeadline` taking whole seconds.
public func withDeadline<T: Sendable>(
    seconds: Int,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withDeadline(.seconds(seconds), what, body)
}

/// Resumes one continuation exactly once, whichever of body, timer or cancellation comes first.
private final class Once<T: Sendable>: Sendable {
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

    func onResume(_ cleanup: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state in
            if state.done { return true }
            state.cleanup = cleanup
            return false
        }
        if runNow { cleanup() }
    }

    /// True when this call was the one that resumed.
    @discardableResult
    func resume(_ result: Result<T, any Error>) -> Bool {
        let (continuation, cleanup, won): (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?, Bool) = state.withLock { state in
            if state.done { return (nil, nil, false) }
            state.done = true
            if state.continuation == nil { state.early = result }
            let taken = (state.continuation, state.cleanup)
            state.continuation = nil
            state.cleanup = nil
            return (taken.0, taken.1, true)
        }
        continuation?.resume(with: result)
        cleanup?()
        return won
    }
}
