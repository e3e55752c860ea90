import WeEvent

/// One batch of queued writes on its way through a `BlockSealer` (both stores' writers use it):
/// the ops the sealer took with the results of their events, the ops it refused, and the
/// receipts to write in the same transaction. Nobody is answered before `finish`, after the
/// commit: a store whose commit may time out must answer each op exactly once, from one place.
struct WriteRound: Sendable {
    var accepted: [(op: WriteOp, ids: [Result<EventID, WeEventError>])] = []
    var refused: [(op: WriteOp, error: WeEventError)] = []
    /// One per receipt: a QoS 2 message that several inbound bindings of one group store as
    /// several events carries its receipt once per event, and the receipt names the last of them
    /// (a store would refuse, or silently collapse, one row written twice in one statement).
    var receiptsToStore: [(InboundReceipt, String)] = []
    private var receiptIndex: [InboundReceipt: Int] = [:]

    /// Hands one op to the sealer.
    mutating func take(_ op: WriteOp, into sealer: inout BlockSealer) {
        switch op {
        case .publish(let event, _):
            switch sealer.append(event) {
            case .success(let id): accepted.append((op, [.success(id)]))
            case .failure(let error): refused.append((op, error))
            }
        case .publishBatch(let events, let receipts, _):
            var ids: [Result<EventID, WeEventError>] = []
            ids.reserveCapacity(events.count)
            for (i, event) in events.enumerated() {
                let result = sealer.append(event)
                if case .success(let id) = result, let receipt = receipts?[i] {
                    if let at = receiptIndex[receipt] {
                        receiptsToStore[at].1 = id.description
                    } else {
                        receiptIndex[receipt] = receiptsToStore.count
                        receiptsToStore.append((receipt, id.description))
                    }
                }
                ids.append(result)
            }
            accepted.append((op, ids))
        case .open(let topic, let reopening, _):
            switch sealer.open(topic: topic, reopening: reopening) {
            case .success: accepted.append((op, []))
            case .failure(let error): refused.append((op, error))
            }
        case .close(let topic, _):
            switch sealer.close(topic: topic) {
            case .success: accepted.append((op, []))
            case .failure(let error): refused.append((op, error))
            }
        }
    }

    /// Answers every op once the commit's outcome is known: refused ops get their refusal
    /// either way, accepted ones their ids, or the commit's failure.
    func finish(_ commit: Result<Void, any Error>) {
        for (op, error) in refused { op.fail(error) }
        switch commit {
        case .success: for (op, ids) in accepted { op.succeed(ids) }
        case .failure(let error): for (op, _) in accepted { op.fail(error) }
        }
    }
}
