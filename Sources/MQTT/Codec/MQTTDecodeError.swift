import NIOCore

/// A packet that breaks a rule of MQTT 3.1.1. The connection that carried it is closed.
public struct MQTTDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Which rule was broken. A struct of static values so new rules can be added without breaking callers.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let reservedPacketType = Kind("reserved packet type")
        public static let invalidFlags = Kind("invalid fixed-header flags")
        public static let remainingLengthTooLong = Kind("remaining length longer than four bytes")
        public static let packetTooLarge = Kind("packet larger than the configured maximum")
        public static let invalidLength = Kind("remaining length does not fit the packet")
        public static let zeroPacketIdentifier = Kind("packet identifier 0")
        public static let invalidUTF8 = Kind("invalid UTF-8 string")
        public static let invalidTopicName = Kind("invalid topic name")
        public static let invalidTopicFilter = Kind("invalid topic filter")
        public static let invalidQoS = Kind("invalid QoS")
        public static let invalidReturnCode = Kind("invalid return code")
        public static let emptyPayload = Kind("no topic filter in payload")
        public static let invalidProtocol = Kind("invalid protocol name or level")
        public static let invalidConnectFlags = Kind("invalid CONNECT flags")
    }

    public let kind: Kind
    /// The packet type being decoded, e.g. "PUBLISH".
    public let packet: String
    public let detail: String

    public init(_ kind: Kind, packet: String, _ detail: String = "") {
        self.kind = kind
        self.packet = packet
        self.detail = detail
    }

    public var description: String {
        "malformed \(packet): \(kind)" + (detail.isEmpty ? "" : " (\(detail))")
    }
}
