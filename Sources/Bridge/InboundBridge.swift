import Cluster
import Foundation
import Ledger
import Logging
import MQTT
import NIOCore
import Synchronization
import WeEvent

/// Device → ledger. Messages on bound filters become events; each message is acknowledged
/// to the MQTT broker (PUBACK/PUBREC) only after every event it became is durable.
///
/// A reader task moves messages from the client into a bounded buffer; a committer task
/// takes everything buffered, stores it with one ledger call per group (so one fsync covers
/// the whole batch) and then acknowledges in arrival order, as MQTT wants PUBACKs sent.
/// QoS 2 messages carry a receipt (client id, packet id → event id) stored in the same
/// transaction as their events, and retired when the broker releases the packet (PUBREL,
/// before PUBCOMP: `ReceiptRetirer`). So a receipt exists exactly while its packet id names the
/// stored message: a redelivered (DUP) QoS 2 message that finds one pointing at an event with
/// the same MQTT topic and payload was stored before (a crash before PUBREC reached the broker)
/// and is acknowledged without storing it again; one that finds none is stored.
struct InboundBridge<Messages: AsyncSequence & Sendable>: Sendable where Messages.Element == MQTTMessage, Messages.Failure == Never {
    /// The client's messages (`MQTTClient.messages`), in order of arrival.
    let messages: Messages
    let ledgers: LedgerSet
    let bindings: BindingSnapshot
    let status: BridgeStatusBoard
    let rejected: RejectedMessageLog
    /// `event.content.max-length` and `event.extensions.max-length`: the same limits as REST.
    let contentMaxLength: Int
    let extensionsMaxLength: Int
    let session: String
    let logger: Logger
    /// Most messages, and most payload bytes, held between the client and the ledger before the
    /// reader stops taking from the client; the client then stops reading the socket once its own
    /// buffer is full (`MQTTConfiguration.inboundHighWatermark`), and TCP holds the MQTT broker back.
    var bufferLimit = 50_000
    var bufferByteLimit = 32 << 20

    func run() async throws {
        let buffer = MessageBuffer(limit: bufferLimit, byteLimit: bufferByteLimit)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in messages {
                    await buffer.append(message)
                }
                buffer.finish()
            }
            group.addTask { try await commitInOrder(from: buffer) }
            try await group.waitForAllOrFirstFailure()
        }
    }

    /// Two batches in flight: the next batch goes to the ledger while the previous one waits
    /// for its fsync (the ledger's writer seals it right after), so deliveries from the MQTT
    /// broker do not stall for a whole store. Events keep arrival order: a batch is handed to
    /// the ledger only once the previous one has its place there (`queued`), since the two
    /// tasks may otherwise run in either order. Acknowledgements also go out in arrival order:
    /// a batch is acknowledged after it and every earlier batch are durable.
    private func commitInOrder(from buffer: MessageBuffer) async throws {
        let inFlight = InFlightBatches()
        try await withTaskCancellationHandler {
            var previous: Task<Void, any Error>?
            var previousQueued: OneShot?
            while let batch = await buffer.take() {
                let earlier = previous
                let earlierQueued = previousQueued
                let queued = OneShot()
                previousQueued = queued
                let current = Task {
                    await earlierQueued?.wait()
                    try await store(batch, queued: queued)
                    try await earlier?.value
                    for message in batch { message.ack() }
                }
                inFlight.set(current)
                if let earlier { try await earlier.value }
                previous = current
            }
            try await previous?.value
        } onCancel: {
            inFlight.cancel()
        }
    }

    /// Stores a batch. Retries the ledger until it succeeds: an unacknowledged message would
    /// otherwise sit in the broker until the next connection. `queued` fires once every event
    /// of the batch has its place in its ledger's order (a retry after a failed store may put
    /// it behind the next batch: a store failure is a disk failure, and order is then second).
    private func store(_ batch: [MQTTMessage], queued: OneShot) async throws {
        defer { queued.fire() }  // also when nothing was stored or the store failed: the next batch must not wait for ever
        let started = ContinuousClock.now
        defer { status.metrics?.inboundStore.record(ContinuousClock.now - started) }
        let bound = bindings.inbound()
        var perGroup: [String: PendingGroup] = [:]
        for message in batch {
            if message.underUnreleasedID { status.metrics?.reusedPacketIDs.increment() }
            let targets = bound.filter { MQTTTopic.matches(filter: $0.mqttTopic, topic: message.topic) }
            if targets.isEmpty {
                logger.debug("message on a topic no inbound binding matches; acknowledged", metadata: ["mqttTopic": "\(message.topic)"])
                continue
            }
            if let skipped = message.skippedPayloadLength {
                let reason = "payload of \(skipped) bytes exceeds event.content.max-length (\(contentMaxLength) bytes); not read"
                for binding in targets { try await reject(message, binding: binding, reason: reason) }
                continue
            }
            let content = Array(message.payload.readableBytesView)
            for binding in targets {
                var event = NewEvent(topic: binding.topic, content: content, extensions: [MQTTBridge.mqttTopicExtension: message.topic])
                if let reason = rejection(event) {
                    try await reject(message, binding: binding, reason: reason)
                    continue
                }
                // The publisher: the binding the message came through (beyond the extensions' limit, as for REST).
                event.extensions[Validation.publisherExtension] = "mqtt:\(binding.mqttTopic)"
                guard ledgers.groups.contains(binding.groupId) else {
                    // Bound through an instance that serves the group; this one (now leading) does
                    // not. The other bindings go on; this one shows the reason in mqtt_list_topic.
                    try await reject(message, binding: binding, reason: "group \(binding.groupId) is not in this instance's ledger.groups")
                    continue
                }
                let receipt = message.qos == .exactlyOnce ? message.packetID.map { InboundReceipt(session: session, packetID: $0) } : nil
                // A redelivery, or a message the broker sent as new under an id it had not
                // released (it lost that exchange): either may be a message stored already.
                perGroup[binding.groupId, default: PendingGroup()].add(
                    event, receipt: receipt, duplicateCandidate: message.dup || message.underUnreleasedID, binding: binding, message: message
                )
            }
        }
        let groups = perGroup.keys.sorted()
        for (i, groupID) in groups.enumerated() {
            let ledger = try ledgers.ledger(groupID)
            // Groups before the last are stored whole first, so the batch is queued only once all are.
            let isLast = i == groups.count - 1
            let signal: @Sendable () -> Void = { if isLast { queued.fire() } }
            try await store(perGroup[groupID]!, in: ledger, queued: signal)
        }
    }

    private func store(_ pending: PendingGroup, in ledger: any BridgeReceipts, queued: @escaping @Sendable () -> Void) async throws {
        var pending = pending
        // A redelivered QoS 2 message whose receipt names an event with the same topic and payload was stored before.
        if try await dropStored(pending.duplicateCandidates, from: &pending, in: ledger, "redelivered QoS 2 messages already stored; not storing them again") {
            queued()
            return
        }
        var retried = false
        try await Self.storeBackoff.retrying(
            {
                // The failed attempt may have committed all the same (an answer lost after the commit,
                // a timeout): its QoS 2 messages have their receipts then, and are not stored again.
                // (QoS 1 messages may be: at least once.)
                if retried,
                    try await dropStored(
                        pending.receiptCandidates, from: &pending, in: ledger, "the failed store had committed some QoS 2 messages; not storing them again")
                {
                    queued()
                    return
                }
                let results = try await ledger.publish(pending.events, receipts: pending.receipts, queued: queued)
                for (i, result) in results.enumerated() {
                    switch result {
                    case .success: status.recordBridged(pending.bindings[i].key)
                    case .failure(let error): try await reject(pending.messages[i], binding: pending.bindings[i], reason: error.message)
                    }
                }
            },
            failed: { error, failures, _ in
                if case LedgerError.shuttingDown = error { throw error }
                retried = true
                logger.error("storing inbound messages failed; retrying", metadata: ["error": "\(error)", "attempt": "\(failures)"])
                for binding in Set(pending.bindings.map(\.key)) { status.recordError(binding, "ledger: \(error)") }
            })
    }

    /// Between attempts to store inbound messages, and to record a rejected one.
    static var storeBackoff: Backoff { Backoff(initial: .milliseconds(100)) }

    /// Drops from `pending` the messages among `candidates` that are stored already (logged with
    /// `reason` when there are any); true when nothing is left to store.
    private func dropStored(
        _ candidates: [(receipt: InboundReceipt, content: [UInt8], mqttTopic: String)], from pending: inout PendingGroup,
        in ledger: any BridgeReceipts, _ reason: Logger.Message
    ) async throws -> Bool {
        let stored = try await alreadyStored(candidates, in: ledger)
        if !stored.isEmpty {
            logger.info(reason, metadata: ["count": "\(stored.count)"])
            pending.drop { stored.contains($0) }
        }
        return pending.events.isEmpty
    }

    /// The receipts among `candidates` that name an event with the same MQTT topic and payload:
    /// those messages are stored already.
    private func alreadyStored(
        _ candidates: [(receipt: InboundReceipt, content: [UInt8], mqttTopic: String)], in ledger: any BridgeReceipts
    ) async throws -> Set<InboundReceipt> {
        var held: Set<InboundReceipt> = []
        for candidate in candidates where !held.contains(candidate.receipt) {
            guard let id = try await ledger.receipt(candidate.receipt),
                let stored = try? await ledger.event(id: id),
                stored.content == candidate.content,
                stored.extensions[MQTTBridge.mqttTopicExtension] == candidate.mqttTopic
            else { continue }
            held.insert(candidate.receipt)
        }
        return held
    }

    /// Why the event cannot be stored, by the rules every publish follows (Validation), or nil.
    private func rejection(_ event: NewEvent) -> String? {
        do {
            try Validation.content(event.content, maxLength: contentMaxLength)
            try Validation.extensions(event.extensions, maxLength: extensionsMaxLength)
            return nil
        } catch {
            return "\(error.message) (\(event.content.count) bytes)"
        }
    }

    /// Records the message in the rejected log before it is acknowledged. A log that cannot be
    /// written is retried with backoff (the message, and the batch behind it, stay unacknowledged
    /// meanwhile), counted, and shown on the binding.
    private func reject(_ message: MQTTMessage, binding: Binding, reason: String) async throws {
        logger.warning(
            "inbound message rejected; acknowledged and kept in the rejected log",
            metadata: [
                "mqttTopic": "\(message.topic)", "topic": "\(binding.topic)", "group": "\(binding.groupId)", "reason": "\(reason)",
            ])
        let record = RejectedMessage(
            binding: binding, mqttTopic: message.topic, qos: Int(message.qos.rawValue),
            payload: Array(message.payload.readableBytesView), reason: reason
        )
        try await Self.storeBackoff.retrying(
            {
                try await rejected.append(record)
            },
            failed: { error, failures, _ in
                status.metrics?.rejectedLogErrors.increment()
                status.recordError(binding.key, "rejected log: \(error)")
                logger.error(
                    "recording a rejected message failed; not acknowledged, retrying",
                    metadata: [
                        "mqttTopic": "\(message.topic)", "error": "\(error)", "attempt": "\(failures)",
                    ])
            })
        status.recordRejected(binding.key, reason: reason)
    }
}

/// Events bound for one group's ledger, with where each came from.
private struct PendingGroup {
    var events: [NewEvent] = []
    var receipts: [InboundReceipt?] = []
    var bindings: [Binding] = []
    var messages: [MQTTMessage] = []
    var duplicateCandidates: [(receipt: InboundReceipt, content: [UInt8], mqttTopic: String)] = []

    mutating func add(_ event: NewEvent, receipt: InboundReceipt?, duplicateCandidate: Bool, binding: Binding, message: MQTTMessage) {
        events.append(event)
        receipts.append(receipt)
        bindings.append(binding)
        messages.append(message)
        if duplicateCandidate, let receipt { duplicateCandidates.append((receipt, event.content, message.topic)) }
    }

    /// Every QoS 2 message of the group with what its receipt must match.
    var receiptCandidates: [(receipt: InboundReceipt, content: [UInt8], mqttTopic: String)] {
        receipts.indices.compactMap { i in receipts[i].map { ($0, events[i].content, messages[i].topic) } }
    }

    mutating func drop(where heldReceipt: (InboundReceipt) -> Bool) {
        let keep = receipts.indices.filter { receipts[$0].map { !heldReceipt($0) } ?? true }
        events = keep.map { events[$0] }
        receipts = keep.map { receipts[$0] }
        bindings = keep.map { bindings[$0] }
        messages = keep.map { messages[$0] }
    }
}

/// The newest batch task, so cancelling the committer cancels it: its acknowledgements are
/// skipped. A store under way finishes (it is one ledger call); the broker redelivers what
/// was not acknowledged.
private final class InFlightBatches: Sendable {
    private let task = Mutex<Task<Void, any Error>?>(nil)

    func set(_ current: Task<Void, any Error>) { task.withLock { $0 = current } }
    func cancel() { task.withLock { $0 }?.cancel() }
}

/// A signal given once (later calls do nothing); `wait()` returns once it was given.
private final class OneShot: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if state.fired { return [] }
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.fired { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
