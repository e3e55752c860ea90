import MQTT
import WeEvent

/// A WeEvent topic in a group bound to an MQTT topic (DESIGN §6).
///
/// Inbound: messages on `mqttTopic` (a filter, `+`/`#` allowed) become events of `topic`.
/// Outbound: events of `topic` are published to `mqttTopic` (a plain topic name).
public struct Binding: Codable, Sendable, Hashable {
    public enum Direction: String, Codable, Sendable, CaseIterable {
        case inbound
        case outbound

        /// Whether `mqttTopic` can be bound in this direction: an MQTT filter inbound, a
        /// topic name (no wildcard) outbound (MQTT 3.1.1 §4.7).
        public func accepts(mqttTopic: String) -> Bool {
            self == .inbound ? MQTTTopic.isValidFilter(mqttTopic) : MQTTTopic.isValidName(mqttTopic)
        }
    }

    public var direction: Direction
    public var groupId: String
    public var topic: String
    public var mqttTopic: String
    public var qos: Int
    /// Milliseconds since 1970 when the binding was made.
    public var createdAt: Int64
    /// Outbound: ledger position of the last event the MQTT broker acknowledged (0: none yet).
    public var checkpoint: UInt64
    /// Outbound: the ledger `checkpoint` counts in (`EventLedger.ledgerID`); nil in bindings
    /// written before ledgers had ids. A leader on another ledger cannot use the checkpoint.
    public var checkpointLedger: String?
    /// Outbound: milliseconds after an event's block time past which the bridge no longer sends
    /// it (`Expiry`); nil: no TTL. Bindings written before TTLs have none.
    public var ttl: Int64?

    public init(
        direction: Direction, groupId: String, topic: String, mqttTopic: String, qos: Int, createdAt: Int64,
        checkpoint: UInt64 = 0, checkpointLedger: String? = nil, ttl: Int64? = nil
    ) {
        self.direction = direction
        self.groupId = groupId
        self.topic = topic
        self.mqttTopic = mqttTopic
        self.qos = qos
        self.createdAt = createdAt
        self.checkpoint = checkpoint
        self.checkpointLedger = checkpointLedger
        self.ttl = ttl
    }

    /// Whether moving the checkpoint to `position` of ledger `ledgerID` is progress: forward in
    /// the same ledger, or any position of another ledger (a leader on that ledger took over).
    func isAdvance(to position: UInt64, in ledgerID: String) -> Bool {
        checkpointLedger != ledgerID || checkpoint < position
    }

    /// This binding with its checkpoint moved to `position` of `ledgerID`; nil when that is no progress.
    func advanced(to position: UInt64, in ledgerID: String) -> Binding? {
        guard isAdvance(to: position, in: ledgerID) else { return nil }
        var moved = self
        moved.checkpoint = position
        moved.checkpointLedger = ledgerID
        return moved
    }

    /// This binding's settings with `existing`'s place in the ledger: changing the MQTT topic or
    /// QoS of an outbound binding does not send its events again.
    func keepingCheckpoint(of existing: Binding) -> Binding {
        var stored = self
        stored.checkpoint = existing.checkpoint
        stored.checkpointLedger = existing.checkpointLedger
        return stored
    }

    /// Identifies a binding: one per direction, group and WeEvent topic.
    public var key: Key { Key(direction: direction, groupId: groupId, topic: topic) }

    public struct Key: Hashable, Sendable, CustomStringConvertible {
        public var direction: Direction
        public var groupId: String
        public var topic: String

        public init(direction: Direction, groupId: String, topic: String) {
            self.direction = direction
            self.groupId = groupId
            self.topic = topic
        }

        public var description: String { "\(direction.rawValue) \(topic) in group \(groupId)" }
    }

    /// Same binding in the sense an operator means: same key, MQTT topic and QoS.
    public func sameSettings(as other: Binding) -> Bool {
        key == other.key && mqttTopic == other.mqttTopic && qos == other.qos && ttl == other.ttl
    }
}
