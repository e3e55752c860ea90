internal import CZooKeeper
import NIOConcurrencyHelpers

/// What a C completion delivered, copied out of the C library's buffers before the callback returns.
struct Reply: Sendable {
    var rc: Int32
    var string: String? = nil
    var data: [UInt8]? = nil
    var stat: Stat? = nil
    var strings: [String]? = nil
}

/// One in-flight asynchronous C call.
///
/// The box is retained once (`Unmanaged.passRetained`) when its pointer is handed to the C library
/// and released once, by the C completion (the library calls every completion exactly once,
/// with ZCLOSING for calls still pending when the handle is closed) or by the submitter when the
/// submission itself failed. The locked state makes sure the awaiting caller is resumed exactly
/// once even when a cancellation and the C completion race.
final class CompletionBox: Sendable {
    /// The client's record of boxes the C library holds; see `InFlightCalls`.
    let inFlight: InFlightCalls

    init(inFlight: InFlightCalls) {
        self.inFlight = inFlight
    }

    private enum State {
        case initial
        case waiting(CheckedContinuation<Reply?, Never>)
        /// `nil`: the caller's task was cancelled before the reply came.
        case completed(Reply?)
    }

    private let state = NIOLockedValueBox(State.initial)

    /// Records the outcome and resumes the caller if it is waiting. Later calls are ignored.
    func complete(_ reply: Reply?) {
        let continuation: CheckedContinuation<Reply?, Never>? = state.withLockedValue { state in
            switch state {
            case .initial:
                state = .completed(reply)
                return nil
            case .waiting(let continuation):
                state = .completed(reply)
                return continuation
            case .completed:
                return nil
            }
        }
        continuation?.resume(returning: reply)
    }

    /// Waits for the reply; `nil` when the calling task was cancelled first.
    func wait(cancellable: Bool) async -> Reply? {
        if !cancellable {
            return await waitForReply()
        }
        return await withTaskCancellationHandler {
            await waitForReply()
        } onCancel: {
            self.complete(nil)
        }
    }

    private func waitForReply() async -> Reply? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Reply?, Never>) in
            let done: Reply?? = state.withLockedValue { state in
                switch state {
                case .initial:
                    state = .waiting(continuation)
                    return .none
                case .completed(let reply):
                    return .some(reply)
                case .waiting:
                    preconditionFailure("a CompletionBox is awaited once")
                }
            }
            if case .some(let reply) = done {
                continuation.resume(returning: reply)
            }
        }
    }
}

// MARK: - C completion callbacks (top-level functions matching the C typedefs)

/// Takes back the reference `passRetained` gave the C library; the library calls each completion
/// at most once, and a box it never calls back is taken back by `InFlightCalls.abandonAll`.
private func takeBox(_ data: UnsafeRawPointer?) -> CompletionBox? {
    guard let data else { return nil }
    let box = Unmanaged<CompletionBox>.fromOpaque(data).takeRetainedValue()
    box.inFlight.remove(box)
    return box
}

/// The boxes the C library holds a reference to.
///
/// `zookeeper_close` hands pending completions ZCLOSING by queueing fake replies for its
/// completion thread, which may already have stopped: such completions are then never called.
/// Once `zookeeper_close` has returned the library calls nothing any more, so the boxes still
/// listed here are given back and their callers resumed with ZCLOSING.
final class InFlightCalls: Sendable {
    private let boxes = NIOLockedValueBox([ObjectIdentifier: CompletionBox]())

    func insert(_ box: CompletionBox) {
        boxes.withLockedValue { $0[ObjectIdentifier(box)] = box }
    }

    func remove(_ box: CompletionBox) {
        boxes.withLockedValue { _ = $0.removeValue(forKey: ObjectIdentifier(box)) }
    }

    /// Only after `zookeeper_close` returned.
    func abandonAll() {
        let abandoned = boxes.withLockedValue { boxes in
            defer { boxes = [:] }
            return Array(boxes.values)
        }
        for box in abandoned {
            Unmanaged.passUnretained(box).release()  // the library's reference
            box.complete(Reply(rc: ZCLOSING.rawValue))
        }
    }
}

extension Stat {
    init(_ c: CZooKeeper.Stat) {
        self.init(
            czxid: c.czxid, mzxid: c.mzxid, pzxid: c.pzxid, ctime: c.ctime, mtime: c.mtime,
            version: c.version, cversion: c.cversion, aversion: c.aversion,
            ephemeralOwner: c.ephemeralOwner, dataLength: c.dataLength, numChildren: c.numChildren
        )
    }
}

/// `void_completion_t`: delete, add_auth.
func zkVoidCompletion(_ rc: Int32, _ data: UnsafeRawPointer?) {
    takeBox(data)?.complete(Reply(rc: rc))
}

/// `stat_completion_t`: set, exists.
func zkStatCompletion(_ rc: Int32, _ stat: UnsafePointer<CZooKeeper.Stat>?, _ data: UnsafeRawPointer?) {
    takeBox(data)?.complete(Reply(rc: rc, stat: stat.map { Stat($0.pointee) }))
}

/// `data_completion_t`: get.
func zkDataCompletion(
    _ rc: Int32, _ value: UnsafePointer<CChar>?, _ length: Int32,
    _ stat: UnsafePointer<CZooKeeper.Stat>?, _ data: UnsafeRawPointer?
) {
    var bytes: [UInt8] = []
    if let value, length > 0 {
        bytes = value.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
            Array(UnsafeBufferPointer(start: $0, count: Int(length)))
        }
    }
    takeBox(data)?.complete(Reply(rc: rc, data: bytes, stat: stat.map { Stat($0.pointee) }))
}

/// `strings_completion_t`: get_children.
func zkStringsCompletion(_ rc: Int32, _ strings: UnsafePointer<String_vector>?, _ data: UnsafeRawPointer?) {
    var names: [String] = []
    if let strings, let items = strings.pointee.data {
        let count = max(0, Int(strings.pointee.count))
        names.reserveCapacity(count)
        for index in 0..<count {
            if let item = items[index] { names.append(String(cString: item)) }
        }
    }
    takeBox(data)?.complete(Reply(rc: rc, strings: names))
}

/// `string_completion_t`: create.
func zkStringCompletion(_ rc: Int32, _ value: UnsafePointer<CChar>?, _ data: UnsafeRawPointer?) {
    takeBox(data)?.complete(Reply(rc: rc, string: value.map { String(cString: $0) }))
}
