#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import WeEvent

/// The MQTT bridge's broker connection and limits (`mqtt.*`).
public struct MQTTSettings: Sendable, Equatable {
    /// `mqtt.broker.url`: `tcp://host:port` or `ssl://host:port`; empty: no bridge.
    public var brokerURL = "tcp://127.0.0.1:1883"
    public var user = ""
    public var password = ""
    /// `mqtt.broker.qos`: the QoS of a binding that names none.
    public var qos = 2
    /// `mqtt.broker.timeout`: connect and acknowledgement timeout.
    public var timeout: Duration = .seconds(5)
    /// `mqtt.broker.keep-alive` (seconds).
    public var keepAlive: Duration = .seconds(15)
    public var clientID = "weevent-bridge"
    public var caFile = ""
    public var certFile = ""
    public var keyFile = ""
    /// `mqtt.binding.live-wait-ms`: how long mqtt_add_inbound_topic waits for the bridge to hold
    /// the new binding's subscription before answering that it is stored but not live yet.
    public var bindingLiveWait: Duration = .seconds(5)
    /// `mqtt.rejected.max-bytes`: the rejected-message log's cap; past it the oldest go.
    public var rejectedMaxBytes = 64 << 20
    /// `mqtt.checkpoint.topic-prefix`: the bridge publishes each group's latest signed
    /// checkpoint, retained, on this prefix followed by the group id; empty publishes none.
    public var checkpointTopicPrefix = "weevent/checkpoint/"

    public init() {}

    init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        brokerURL = try reader.string("mqtt.broker.url", default: brokerURL)
        if !brokerURL.isEmpty, !Self.isBrokerURL(brokerURL) {
            throw reader.error("mqtt.broker.url", "'\(brokerURL)' is not tcp://host:port or ssl://host:port")
        }
        user = try reader.string("mqtt.broker.user", default: "")
        password = try reader.string("mqtt.broker.password", default: "")
        qos = try reader.int("mqtt.broker.qos", default: qos, in: 0...2)
        timeout = try reader.milliseconds("mqtt.broker.timeout", default: timeout, in: 1...600_000)
        keepAlive = try reader.seconds("mqtt.broker.keep-alive", default: keepAlive, in: 0...65535)
        clientID = try reader.string("mqtt.broker.client-id", default: clientID, nonEmpty: true)
        if clientID.utf8.count > 65535 {
            throw reader.error("mqtt.broker.client-id", "longer than 65535 bytes")
        }
        caFile = try reader.string("mqtt.broker.cafile", default: "")
        certFile = try reader.string("mqtt.broker.certfile", default: "")
        keyFile = try reader.string("mqtt.broker.keyfile", default: "")
        bindingLiveWait = try reader.milliseconds("mqtt.binding.live-wait-ms", default: bindingLiveWait, in: 0...600_000)
        rejectedMaxBytes = try reader.int("mqtt.rejected.max-bytes", default: rejectedMaxBytes, in: 65_536...(1 << 40))
        checkpointTopicPrefix = try reader.string("mqtt.checkpoint.topic-prefix", default: checkpointTopicPrefix)
        if checkpointTopicPrefix.unicodeScalars.contains(where: { $0 == "+" || $0 == "#" || $0 == "\u{0}" }) || checkpointTopicPrefix.utf8.count > 1000 {
            throw reader.error(
                "mqtt.checkpoint.topic-prefix", "'\(checkpointTopicPrefix.prefix(80))' must be an MQTT topic prefix without '+', '#' or NUL, at most 1000 bytes"
            )
        }
        if certFile.isEmpty != keyFile.isEmpty {
            throw reader.error(
                certFile.isEmpty ? "mqtt.broker.certfile" : "mqtt.broker.keyfile", "mqtt.broker.certfile and mqtt.broker.keyfile go together"
            )
        }
    }

    static func isBrokerURL(_ url: String) -> Bool {
        guard url.hasPrefix("tcp://") || url.hasPrefix("ssl://") else { return false }
        let rest = url.dropFirst(6)
        guard let colon = rest.lastIndex(of: ":") else { return false }
        let host = rest[..<colon]
        guard !host.isEmpty, let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else { return false }
        return true
    }
}

/// The cluster's ZooKeeper (`broker.zookeeper.*`).
public struct ZooKeeperSettings: Sendable, Equatable {
    /// `broker.zookeeper.ip`: `host:port[,host:port...]`; empty: one instance, no cluster.
    public var hosts = "127.0.0.1:2181"
    public var path = "/event_broker"
    /// `broker.zookeeper.timeout`: the session timeout.
    public var sessionTimeout: Duration = .seconds(3)
    /// `broker.zookeeper.auth=user:password`: the digest credentials of every session; the nodes the
    /// broker creates then belong to them alone. nil: no authentication, open nodes.
    public var credentials: ZooKeeperCredentials?

    public init() {}

    init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        hosts = try reader.string("broker.zookeeper.ip", default: hosts)
        if !hosts.isEmpty {
            for host in hosts.split(separator: ",") {
                let parts = host.trimmingCharacters(in: .whitespaces).split(separator: ":")
                guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else {
                    throw reader.error("broker.zookeeper.ip", "'\(host)' is not host:port")
                }
            }
        }
        path = try reader.string("broker.zookeeper.path", default: path)
        if !path.hasPrefix("/") || (path.count > 1 && path.hasSuffix("/")) {
            throw reader.error("broker.zookeeper.path", "'\(path)' must start with '/' and not end with '/'")
        }
        sessionTimeout = try reader.milliseconds("broker.zookeeper.timeout", default: sessionTimeout, in: 100...600_000)
        let auth = try reader.string("broker.zookeeper.auth", default: "")
        if !auth.isEmpty {
            guard let colon = auth.firstIndex(of: ":"), colon != auth.startIndex else {
                throw reader.error("broker.zookeeper.auth", "expected user:password")
            }
            credentials = ZooKeeperCredentials(user: String(auth[..<colon]), password: String(auth[auth.index(after: colon)...]))
        }
    }
}

/// Digest credentials for ZooKeeper (`broker.zookeeper.auth`).
public struct ZooKeeperCredentials: Sendable, Equatable {
    public var user: String
    public var password: String

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }
}

/// Callback subscriptions (`subscription.*`).
public struct SubscriptionSettings: Sendable, Equatable {
    /// `subscription.max-count`: how many callback subscriptions the broker keeps at most.
    public var maxCount = 1000
    /// `subscription.callback.allowed-ranges`: non-public ranges callbacks may reach all the same.
    public var callbackAllowedRanges: [IPRange] = []
    /// `subscription.callback.timeout-ms`: the longest one callback POST may take, start to end.
    public var callbackTimeout: Duration = .seconds(10)

    public init() {}

    init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        maxCount = try reader.int("subscription.max-count", default: maxCount, in: 0...1_000_000)
        callbackAllowedRanges = try reader.ranges("subscription.callback.allowed-ranges")
        callbackTimeout = try reader.milliseconds("subscription.callback.timeout-ms", default: callbackTimeout, in: 100...600_000)
    }
}
