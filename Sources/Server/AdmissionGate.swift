import Synchronization
import WeEvent

/// Bounds how many long-lived calls (streams, requests waiting for replies) are under way at
/// once, in all and per client; past a limit a call is refused with the gate's error instead of
/// holding memory, so one client cannot take every place.
final class AdmissionGate: Sendable {
    let limit: Int
    let perClient: Int
    private let refusal: @Sendable (Refused) -> WeEventError
    private let state = Mutex<(open: Int, byClient: [String: Int])>((0, [:]))

    /// Which limit a call ran into.
    enum Refused {
        case total(Int)
        case client(String, Int)
    }

    init(limit: Int, perClient: Int, refusal: @escaping @Sendable (Refused) -> WeEventError) {
        self.limit = limit
        self.perClient = perClient
        self.refusal = refusal
    }

    /// A place for `client` (the address the white table sees; nil when unknown, and all unknown
    /// clients share one count), or the refusal when every place, or every place of the client,
    /// is taken.
    func enter(client: IPAddress?) throws(WeEventError) -> Place {
        let key = client?.description ?? "unknown"
        let refused = state.withLock { state -> Refused? in
            guard state.open < limit else { return .total(limit) }
            let mine = state.byClient[key, default: 0]
            guard mine < perClient else { return .client(key, perClient) }
            state.open += 1
            state.byClient[key] = mine + 1
            return nil
        }
        if let refused { throw refusal(refused) }
        return Place(gate: self, key: key)
    }

    fileprivate func leave(_ key: String) {
        state.withLock { state in
            state.open -= 1
            let left = state.byClient[key, default: 1] - 1
            state.byClient[key] = left > 0 ? left : nil
        }
    }

    /// One call's place: given back once, by `release()` or when dropped.
    final class Place: Sendable {
        private let gate: AdmissionGate
        private let key: String
        private let released = Atomic(false)

        fileprivate init(gate: AdmissionGate, key: String) {
            self.gate = gate
            self.key = key
        }

        func release() {
            if !released.exchange(true, ordering: .relaxed) { gate.leave(key) }
        }

        deinit { release() }
    }
}

/// How many connections each client has open (`server.max-connections-per-client`), shared by
/// every connection of the server.
final class ConnectionCount: Sendable {
    let perClient: Int
    private let byClient = Mutex<[String: Int]>([:])

    init(perClient: Int) {
        self.perClient = perClient
    }

    /// Counts a new connection of `client`; false (and not counted) past the limit.
    func enter(_ client: String) -> Bool {
        byClient.withLock { counts in
            let mine = counts[client, default: 0]
            guard mine < perClient else { return false }
            counts[client] = mine + 1
            return true
        }
    }

    func leave(_ client: String) {
        byClient.withLock { counts in
            let left = counts[client, default: 1] - 1
            counts[client] = left > 0 ? left : nil
        }
    }
}
