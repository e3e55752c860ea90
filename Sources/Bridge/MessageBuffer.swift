import MQTT
import Synchronization

/// The hand-off between the reader and the committer: bounded in messages and payload bytes,
/// one reader, one taker.
final class MessageBuffer: Sendable {
    private struct State {
        var messages: [MQTTMessage] = []
        var bytes = 0
        var finished = false
        var taker: CheckedContinuation<[MQTTMessage]?, Never>?
        var readers: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    let limit: Int
    let byteLimit: Int

    init(limit: Int, byteLimit: Int = .max) {
        self.limit = limit
        self.byteLimit = byteLimit
    }

    func append(_ message: MQTTMessage) async {
        let full: Bool = state.withLock { state in
            if let taker = state.taker {
                state.taker = nil
                taker.resume(returning: [message])
                return false
            }
            state.messages.append(message)
            state.bytes += message.payload.readableBytes
            return state.messages.count >= limit || state.bytes >= byteLimit
        }
        if full {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.messages.count < limit && state.bytes < byteLimit { return true }
                    state.readers.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    func finish() {
        state.withLock { state in
            state.finished = true
            if let taker = state.taker, state.messages.isEmpty {
                state.taker = nil
                taker.resume(returning: nil)
            }
        }
    }

    /// Everything buffered, waiting for at least one message; nil once finished and drained.
    func take() async -> [MQTTMessage]? {
        await withCheckedContinuation { continuation in
            let (batch, readers): ([MQTTMessage]??, [CheckedContinuation<Void, Never>]) = state.withLock { state in
                if !state.messages.isEmpty {
                    let batch = state.messages
                    state.messages = []
                    state.bytes = 0
                    let readers = state.readers
                    state.readers = []
                    return (.some(batch), readers)
                }
                if state.finished { return (.some(nil), []) }
                state.taker = continuation
                return (nil, [])
            }
            for reader in readers { reader.resume() }
            if let batch { continuation.resume(returning: batch) }
        }
    }
}

extension ThrowingTaskGroup where Failure == any Error {
    /// Waits for every task; the first failure cancels the others and is thrown. Not
    /// `waitForAll()`, which leaves the other tasks running after a failure and waits for them:
    /// a bridge's half that waits for new events would then keep the whole bridge alive.
    mutating func waitForAllOrFirstFailure() async throws {
        do {
            while try await next() != nil {}
        } catch {
            cancelAll()
            throw error
        }
    }
}
