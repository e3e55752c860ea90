/// The broker refused the connection (a CONNACK return code other than 0).
public struct MQTTConnectError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The CONNACK return codes of MQTT 3.1.1 (fixed by the standard).
    public enum ReturnCode: UInt8, Sendable, Hashable {
        case unacceptableProtocolVersion = 1
        case identifierRejected = 2
        case serverUnavailable = 3
        case badUsernameOrPassword = 4
        case notAuthorized = 5
    }

    public let returnCode: ReturnCode

    public init(returnCode: ReturnCode) { self.returnCode = returnCode }

    public var description: String {
        switch returnCode {
        case .unacceptableProtocolVersion: "connection refused: unacceptable protocol version (CONNACK 1)"
        case .identifierRejected: "connection refused: client identifier rejected (CONNACK 2)"
        case .serverUnavailable: "connection refused: server unavailable (CONNACK 3)"
        case .badUsernameOrPassword: "connection refused: bad user name or password (CONNACK 4)"
        case .notAuthorized: "connection refused: not authorised (CONNACK 5)"
        }
    }
}

/// The broker refused a subscription (SUBACK return code 0x80).
public struct MQTTSubscribeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The first refused filter.
    public let topicFilter: String
    /// Every refused filter of the request.
    public let refusedFilters: [String]

    public init(refusedFilters: [String]) {
        self.topicFilter = refusedFilters.first ?? ""
        self.refusedFilters = refusedFilters
    }

    public var description: String {
        "subscription refused by the broker for " + refusedFilters.map { "'\($0)'" }.joined(separator: ", ")
    }
}

/// Errors of the client itself.
public struct MQTTClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A struct of static values so new kinds can be added without breaking callers.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let notConnected = Kind("not connected")
        public static let closed = Kind("client closed")
        public static let connectionLost = Kind("connection lost")
        public static let timeout = Kind("timed out")
        public static let invalidTopic = Kind("invalid topic")
        public static let invalidConfiguration = Kind("invalid configuration")
        public static let packetIDsExhausted = Kind("all 65535 packet identifiers in use")
        public static let protocolViolation = Kind("protocol violation")
        public static let alreadyConnected = Kind("already connected")
        /// A publish given a time not to send after was still unsent at that time (it was not sent).
        public static let expired = Kind("expired before it was sent")
        public static let reconnectAttemptsExhausted = Kind("reconnect attempts exhausted")
    }

    public let kind: Kind
    public let detail: String

    public init(_ kind: Kind, _ detail: String = "") {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail.isEmpty ? kind.description : "\(kind): \(detail)" }
}
