import Foundation

/// Waits (at most `timeout`, only so a failing test cannot hang) for the first element
/// of `sequence` that satisfies `predicate`.
public func firstElement<S: AsyncSequence & Sendable>(
    of sequence: S,
    within timeout: Duration = .seconds(30),
    where predicate: @escaping @Sendable (S.Element) -> Bool
) async throws -> S.Element? where S.Element: Sendable {
    do {
        return try await withDeadline(timeout, "an element of the sequence") {
            for try await element in sequence where predicate(element) { return element }
            return nil
        }
    } catch is DeadlineExceeded {
        return nil
    }
}

/// Evaluates `condition` every 50 ms until it holds or `timeout` passes (a guard against hangs);
/// the last evaluation's answer.
public func eventually(within timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
