import NIOConcurrencyHelpers

/// A current value that many consumers observe: each `stream()` starts with the current value and
/// then gets every change, in order; observers are called synchronously on change.
final class StateBroadcast<Value: Sendable & Equatable>: Sendable {
    private struct Storage {
        var current: Value
        var finished = false
        var nextID = 0
        var streams: [Int: AsyncStream<Value>.Continuation] = [:]
        var observers: [Int: @Sendable (Value) -> Void] = [:]
    }

    private let storage: NIOLockedValueBox<Storage>

    init(_ initial: Value) {
        self.storage = NIOLockedValueBox(Storage(current: initial))
    }

    var current: Value {
        storage.withLockedValue { $0.current }
    }

    /// Sets the value computed by `transform` from the current one (`nil`: keep it). Streams and
    /// observers hear of a change under the lock, so they all see the same order; observers must
    /// therefore be quick and must not call back into this broadcast. With `finish`, every stream
    /// ends after the value and nothing changes any more.
    @discardableResult
    func update(finish: Bool = false, _ transform: (Value) -> Value?) -> Bool {
        let (changed, toFinish): (Bool, [AsyncStream<Value>.Continuation]) = storage.withLockedValue { storage in
            guard !storage.finished else { return (false, []) }
            var changed = false
            if let next = transform(storage.current), next != storage.current {
                storage.current = next
                changed = true
                for continuation in storage.streams.values { continuation.yield(next) }
                for observer in storage.observers.values { observer(next) }
            }
            guard finish else { return (changed, []) }
            storage.finished = true
            let streams = Array(storage.streams.values)
            storage.streams = [:]
            storage.observers = [:]
            return (changed, streams)
        }
        // finish() runs onTermination, which takes the lock: call it outside.
        for continuation in toFinish { continuation.finish() }
        return changed
    }

    func set(_ value: Value, finish: Bool = false) {
        update(finish: finish) { _ in value }
    }

    /// The current value, then every change; ends when the broadcast finishes or the consumer stops.
    func stream() -> AsyncStream<Value> {
        let (stream, continuation) = AsyncStream<Value>.makeStream(bufferingPolicy: .unbounded)
        let id: Int? = storage.withLockedValue { storage in
            continuation.yield(storage.current)
            guard !storage.finished else { return nil }
            let id = storage.nextID
            storage.nextID += 1
            storage.streams[id] = continuation
            return id
        }
        if let id {
            continuation.onTermination = { [weak self] _ in
                self?.storage.withLockedValue { _ = $0.streams.removeValue(forKey: id) }
            }
        } else {
            continuation.finish()
        }
        return stream
    }

    /// Calls `observer` with the current value now and with every change later, until removed.
    func addObserver(_ observer: @escaping @Sendable (Value) -> Void) -> Int {
        storage.withLockedValue { storage in
            let id = storage.nextID
            storage.nextID += 1
            observer(storage.current)
            if !storage.finished { storage.observers[id] = observer }
            return id
        }
    }

    func removeObserver(_ id: Int) {
        storage.withLockedValue { _ = $0.observers.removeValue(forKey: id) }
    }
}
