import Synchronization
import WeEvent

/// Bounds how many long-lived calls (streams, requests waiting for replies) are under way at
/// once; past the limit a call is refused with the gate's error instead of holding memory.
final class AdmissionGate: Sendable {
    let limit: Int
    private let refusal: @Sendable (Int) -> WeEventError
    private let open = Mutex(0)

    init(limit: Int, refusal: @escaping @Sendable (_ limit: Int) -> WeEventError) {
        self.limit = limit
        self.refusal = refusal
    }

    /// A place, or the refusal when every place is taken.
    func enter() throws(WeEventError) -> Place {
        let admitted = open.withLock { count -> Bool in
            guard count < limit else { return false }
            count += 1
            return true
        }
        guard admitted else { throw refusal(limit) }
        return Place(gate: self)
    }

    fileprivate func leave() { open.withLock { $0 -= 1 } }

    /// One call's place: given back once, by `release()` or when dropped.
    final class Place: Sendable {
        private let gate: AdmissionGate
        private let released = Atomic(false)

        fileprivate init(gate: AdmissionGate) { self.gate = gate }

        func release() {
            if !released.exchange(true, ordering: .relaxed) { gate.leave() }
        }

        deinit { release() }
    }
}
