import Foundation
import Ledger
import WeEvent

/// The bridge's rules for the master endpoints: which MQTT filters a binding may carry, where an
/// outbound binding starts reading, and the bindings as an operator lists them. The HTTP layer
/// parses the request and calls this; it decides nothing about bindings itself.
public struct BindingService: Sendable {
    public let store: any BindingStore
    /// Per-binding counters: this instance's alone, or the whole cluster's (ZooKeeperStatus).
    public let status: any BridgeStatusSource
    /// Inbound messages that could not become events.
    public let rejected: RejectedMessageLog?
    /// `mqtt.broker.qos`: a binding's QoS when the request names none.
    public let defaultQoS: Int

    public init(store: any BindingStore, status: any BridgeStatusSource, rejected: RejectedMessageLog?, defaultQoS: Int) {
        self.store = store
        self.status = status
        self.rejected = rejected
        self.defaultQoS = defaultQoS
    }

    /// Binds `topic` (already a valid, open-or-not topic name) of `ledger` to `mqttTopic` (the
    /// topic itself when nil). The topic must be open (100101); an inbound binding takes an MQTT
    /// filter, an outbound one a topic name without wildcards (100109); QoS is 0, 1 or 2 (200001).
    /// An outbound binding starts at the ledger's head: events from now on go out, not the topic's history.
    @discardableResult
    public func add(
        _ direction: Binding.Direction, topic: String, mqttTopic: String?, qos: Int?, ttl: Int64? = nil, in ledger: any EventLedger
    ) async throws -> Binding {
        guard try await ledger.exists(topic: topic) else {
            throw WeEventError(.topicNotExist, message: "topic not exist: open \(topic) in group \(ledger.groupID) first")
        }
        let mqttTopic = mqttTopic.flatMap { $0.isEmpty ? nil : $0 } ?? topic
        guard direction.accepts(mqttTopic: mqttTopic) else {
            let expected = direction == .inbound ? "an MQTT topic filter" : "an MQTT topic name (no + or #)"
            throw WeEventError(.patternInvalid, message: "invalid topic pattern: '\(mqttTopic)' is not \(expected)")
        }
        let qos = qos ?? defaultQoS
        guard (0...2).contains(qos) else { throw Self.invalidQoS("\(qos)") }
        let checkpoint = direction == .outbound ? try await ledger.chainInfo().eventCount : 0
        let binding = Binding(
            direction: direction, groupId: ledger.groupID, topic: topic, mqttTopic: mqttTopic, qos: qos,
            createdAt: Int64(Date().timeIntervalSince1970 * 1000), checkpoint: checkpoint,
            checkpointLedger: direction == .outbound ? ledger.ledgerID : nil, ttl: direction == .outbound ? ttl : nil
        )
        return try await store.put(binding)
    }

    /// An outbound binding's TTL as a request spells it: nil when absent or empty, else a
    /// duration (`500ms`, `90s`, `15m`, `12h`, `7d`) in milliseconds (200001 otherwise).
    public static func ttl(_ raw: String?) throws(WeEventError) -> Int64? {
        guard let raw, !raw.isEmpty else { return nil }
        guard let value = RetentionPolicy.milliseconds(raw), value > 0 else {
            throw WeEventError(
                .invalidInputParam, message: "invalid input param: ttl must be a duration like 500ms, 90s, 15m, 12h or 7d, not '\(raw.prefix(40))'")
        }
        return value
    }

    /// A QoS as a request spells it: nil when absent or empty, else 0, 1 or 2 (200001).
    public static func qos(_ raw: String?) throws(WeEventError) -> Int? {
        guard let raw, !raw.isEmpty else { return nil }
        guard let value = Int(raw), (0...2).contains(value) else { throw invalidQoS(raw) }
        return value
    }

    private static func invalidQoS(_ text: String) -> WeEventError {
        WeEventError(.invalidInputParam, message: "invalid input param: qos must be 0, 1 or 2, not '\(text)'")
    }

    /// Removes the binding of `topic` in `groupID`; 100101 when there is none.
    public func remove(_ direction: Binding.Direction, topic: String, groupID: String) async throws {
        let key = Binding.Key(direction: direction, groupId: groupID, topic: topic)
        guard try await store.remove(key) else {
            throw WeEventError(.topicNotExist, message: "topic not exist: no \(direction.rawValue) binding for \(topic) in group \(groupID)")
        }
    }

    /// Every binding with its counters, inbound first, then by group and topic.
    /// Waits until the bridge runs `binding` (`BindingStatus.isLive`), whichever instance leads
    /// it, checking every `every`; false when `timeout` passed first.
    public func waitUntilLive(_ binding: Binding, timeout: Duration, every: Duration = .milliseconds(50)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if await status.statuses()[binding.key]?.isLive(binding) == true { return true }
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: every)
        }
    }

    public func list() async throws -> [(binding: Binding, status: BindingStatus)] {
        let statuses = await status.statuses()
        return try await store.bindings().map { ($0, statuses[$0.key] ?? BindingStatus()) }
    }

    /// The newest rejected inbound messages with an id below `before` (newest last), filtered by
    /// group and topic when given.
    public func rejectedMessages(groupID: String?, topic: String?, before: Int64?, limit: Int) async throws -> [RejectedMessage] {
        try await rejected?.read(groupId: groupID, topic: topic, before: before, limit: limit) ?? []
    }
}
