import NIOCore

/// TLS settings for an `ssl://` (or `mqtts://`) broker.
public struct MQTTTLSConfiguration: Sendable, Hashable {
    /// PEM file of the certificate authorities to trust; nil trusts the system's.
    public var caFile: String?
    /// PEM client certificate and key, for brokers that require one.
    public var certificateFile: String?
    public var privateKeyFile: String?
    /// Check that the broker's certificate names the host we connect to. Only turn off for testing.
    public var verifyHostname: Bool
    /// The name to verify and send as SNI; defaults to the host.
    public var serverName: String?
    /// A directory of PEM certificate authorities to trust (every regular file in it that holds
    /// PEM certificates), in addition to `caFile`.
    public var caDirectory: String?
    /// Trust the system's certificate authorities as well as `caFile` / `caDirectory`.
    public var trustSystemRoots = false
    /// OpenSSL cipher list for TLS 1.2 and below; nil keeps the library's default.
    public var ciphers: String?
    /// Speak exactly this TLS version; nil allows TLS 1.2 and 1.3.
    public var version: MQTTTLSVersion?
    /// ALPN protocol names to offer.
    public var alpn: [String] = []

    public init(caFile: String? = nil, certificateFile: String? = nil, privateKeyFile: String? = nil, verifyHostname: Bool = true, serverName: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.verifyHostname = verifyHostname
        self.serverName = serverName
    }
}

/// A TLS protocol version a client may be pinned to.
public enum MQTTTLSVersion: String, Sendable, Hashable, CaseIterable {
    case tls11 = "tlsv1.1"
    case tls12 = "tlsv1.2"
    case tls13 = "tlsv1.3"
}

/// Reconnect with exponential backoff and jitter: attempt n waits
/// `min(maxDelay, initialDelay * 2^(n-1))`, less a random share of up to `jitter` of it.
public struct MQTTReconnectPolicy: Sendable, Hashable {
    public var initialDelay: TimeAmount
    public var maxDelay: TimeAmount
    /// 0 ... 1: the share of each delay that is random.
    public var jitter: Double
    /// nil retries for ever.
    public var maxAttempts: Int?

    public init(initialDelay: TimeAmount = .milliseconds(100), maxDelay: TimeAmount = .seconds(30), jitter: Double = 0.5, maxAttempts: Int? = nil) {
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.jitter = min(max(jitter, 0), 1)
        self.maxAttempts = maxAttempts
    }

    /// No reconnect: a lost connection closes the client.
    public static let never = MQTTReconnectPolicy(maxAttempts: 0)

    /// The delay before attempt `attempt` (from 1).
    public func delay<G: RandomNumberGenerator>(attempt: Int, using generator: inout G) -> TimeAmount {
        let exponent = min(max(attempt - 1, 0), 30)
        let base = min(
            maxDelay.nanoseconds,
            initialDelay.nanoseconds.multipliedReportingOverflow(by: 1 << exponent).overflow ? maxDelay.nanoseconds : initialDelay.nanoseconds << exponent)
        let randomShare = jitter > 0 ? Double.random(in: 0...jitter, using: &generator) : 0
        return .nanoseconds(Int64(Double(base) * (1 - randomShare)))
    }

    public func delay(attempt: Int) -> TimeAmount {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, using: &generator)
    }
}

/// Everything needed to reach and talk to a broker.
public struct MQTTConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Non-nil for TLS.
    public var tls: MQTTTLSConfiguration?
    public var clientID: String
    public var cleanSession: Bool
    /// 0 disables keep-alive. Sent in CONNECT in whole seconds.
    public var keepAlive: TimeAmount
    /// How long to wait for PINGRESP before the connection is declared dead; defaults to keepAlive.
    public var pingTimeout: TimeAmount?
    public var username: String?
    public var password: String?
    public var will: MQTTWill?
    /// TCP connect, TLS handshake and CONNACK together.
    public var connectTimeout: TimeAmount
    /// Largest inbound packet read whole. A larger PUBLISH is delivered without its payload
    /// (`MQTTMessage.skippedPayloadLength`); any other larger packet closes the connection.
    public var maxPacketSize: Int
    public var reconnect: MQTTReconnectPolicy
    /// Most QoS 1/2 publishes on the wire awaiting acknowledgement; more wait in order. mosquitto
    /// disconnects a client that exceeds its `max_inflight_messages` (20 by default) at QoS 2.
    public var maxInflight: Int = 20
    /// Inbound backpressure: when this many received messages wait for the consumer of
    /// `MQTTClient.messages`, the client stops reading the socket (TCP then holds the broker
    /// back); it reads again once the consumer is down to `inboundLowWatermark`.
    public var inboundHighWatermark: Int = 1024
    /// Called when the broker releases an inbound QoS 2 message (PUBREL), before PUBCOMP: the
    /// broker may reuse the packet id for a new message once it has PUBCOMP, so an application
    /// that recorded something under the id (the bridge's receipts) forgets it durably here.
    /// PUBCOMP is sent when it returns true (on the connection the PUBREL came on; after a
    /// reconnect the broker sends PUBREL again). On false the client closes the connection and
    /// reconnects, so the broker sends PUBREL again and the release is tried again.
    /// nil: PUBCOMP at once.
    public var onInboundRelease: (@Sendable (_ packetID: UInt16) async -> Bool)?
    /// Called when the broker has no session for this client (CONNACK session present 0, the
    /// first connection included), before any SUBSCRIBE goes out: nothing of the old session
    /// can come again, so an application forgets what it kept per packet id (the bridge's
    /// receipts). Retried with backoff until it returns true; subscriptions wait meanwhile.
    public var onSessionLost: (@Sendable () async -> Bool)?
    public var inboundLowWatermark: Int = 256
    /// The local address (IP literal or host name) the connection is made from; nil lets the
    /// system choose. For `-A`.
    public var bindAddress: String?
    /// Called with every packet sent (`true`) and received (`false`) on the event loop; for `-d`.
    public var packetTrace: (@Sendable (_ sent: Bool, _ packet: MQTTPacket) -> Void)?

    public init(
        host: String = "127.0.0.1",
        port: Int = 1883,
        tls: MQTTTLSConfiguration? = nil,
        clientID: String,
        cleanSession: Bool = true,
        keepAlive: TimeAmount = .seconds(15),
        username: String? = nil,
        password: String? = nil,
        will: MQTTWill? = nil,
        connectTimeout: TimeAmount = .seconds(5),
        maxPacketSize: Int = 1 << 20,
        reconnect: MQTTReconnectPolicy = MQTTReconnectPolicy()
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.clientID = clientID
        self.cleanSession = cleanSession
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.will = will
        self.connectTimeout = connectTimeout
        self.maxPacketSize = maxPacketSize
        self.reconnect = reconnect
    }

    /// `tcp://host:port` / `mqtt://` (default port 1883) or `ssl://host:port` / `mqtts://` (default 8883).
    public init(url: String, clientID: String, tls: MQTTTLSConfiguration = MQTTTLSConfiguration()) throws {
        guard let schemeEnd = url.firstRange(of: "://") else {
            throw MQTTClientError(.invalidConfiguration, "broker URL '\(url)' has no scheme (tcp:// or ssl://)")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        var rest = String(url[schemeEnd.upperBound...])
        if let slash = rest.firstIndex(of: "/") { rest = String(rest[..<slash]) }
        let secure: Bool
        switch scheme {
        case "tcp", "mqtt": secure = false
        case "ssl", "tls", "mqtts": secure = true
        default: throw MQTTClientError(.invalidConfiguration, "broker URL '\(url)': unknown scheme '\(scheme)'")
        }
        var host = rest
        var port = secure ? 8883 : 1883
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else {
                    throw MQTTClientError(.invalidConfiguration, "broker URL '\(url)': bad port")
                }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw MQTTClientError(.invalidConfiguration, "broker URL '\(url)': bad port")
            }
            port = p
        }
        guard !host.isEmpty else { throw MQTTClientError(.invalidConfiguration, "broker URL '\(url)' has no host") }
        self.init(host: host, port: port, tls: secure ? tls : nil, clientID: clientID)
    }
}
