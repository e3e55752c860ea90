import WeEvent

/// A WeEvent topic in a group bound to an MQTT topic (DESIGN §6).
///
/// Inbound: messages on `mqttTopic` (a filter, `+`/`#` allowed) become events of `topic`.
/// Outbound: events of `topic` are published to `mqttTopic` (a plain topic name).
public struct Binding: Codable, Sendable, Hashable {
    public enum Direction: String, Codable, Sendable, CaseIterable {
        case inbound
        case outbound
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

    public init(
        direction: Direction, groupId: String, topic: String, mqttTopic: String, qos: Int, createdAt: Int64,
        checkpoint: UInt64 = 0, checkpointLedger: String? = nil
    ) {
        self.direction = direction
        self.groupId = groupId
        self.topic = topic
        self.mqttTopic = mqttTopic
        self.qos = qos
        self.createdAt = createdAt
        self.checkpoint = checkpoint
        self.checkpointLedger = checkpointLedger
    }

    /// Whether moving the checkpoint to `position` of ledger `ledgerID` is progress: forward in
    /// the same ledger, or any position of another ledger (a leader on that ledger took over).
    func isAdvance(to position: UInt64, in ledgerID: String) -> Bool {
        checkpointLedger != ledgerID || checkpoint < position
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

        /// The binding's node name in ZooKeeper: `<group>/<topic>` percent-encoded, so `/` in topics is safe.
        public var nodeName: String { NodeName.encode("\(groupId)/\(topic)") }

        public var description: String { "\(direction.rawValue) \(topic) in group \(groupId)" }
    }

    /// Same binding in the sense an operator means: same key, MQTT topic and QoS.
    public func sameSettings(as other: Binding) -> Bool {
        key == other.key && mqttTopic == other.mqttTopic && qos == other.qos
    }
}

/// Percent-encoding of node names: everything but unreserved ASCII is escaped.
public enum NodeName {
    public static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + hexString([byte]).uppercased()
            }
        }
        return out
    }

    public static func decode(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// MQTT topic names and filters (MQTT 3.1.1 §4.7).
public enum MQTTTopicRules {
    /// A filter: non-empty, at most 65535 bytes, no NUL, `#` only as the whole last level, `+` only as a whole level.
    public static func isValidFilter(_ filter: String) -> Bool {
        guard !filter.isEmpty, filter.utf8.count <= 65535, !filter.utf8.contains(0) else { return false }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (i, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || i != levels.count - 1) { return false }
            if level.contains("+") && level != "+" { return false }
        }
        return true
    }

    /// A topic name: non-empty, at most 65535 bytes, no NUL and no wildcard.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 65535 && !name.utf8.contains(where: { $0 == 0 || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") })
    }

    /// Whether `name` matches `filter`; a filter starting with a wildcard does not match `$`-topics.
    public static func matches(filter: String, name: String) -> Bool {
        if name.hasPrefix("$") && (filter.hasPrefix("+") || filter.hasPrefix("#")) { return false }
        return TopicFilter.matches(pattern: filter, topic: name)
    }
}
