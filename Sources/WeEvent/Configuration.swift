#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The broker's settings, read from conf/weevent.properties (DESIGN §3, docs/configuration.md).
public struct Configuration: Sendable, Equatable {
    // HTTP server
    public var serverHost = "0.0.0.0"
    public var serverPort = 8080
    /// `ip.check.white-table`: addresses and CIDR ranges allowed to call (empty: everyone).
    public var ipWhiteTable: [IPRange] = []
    /// `server.allowed-hosts`: the host names a browser may reach the broker by; nil: the default
    /// (loopback names, the listening address, and this machine's names when not on loopback).
    public var serverAllowedHosts: [String]?
    /// `server.trusted-proxies`: peers whose `X-Forwarded-For` names the real client.
    public var trustedProxies: [IPRange] = []
    /// When set, /weevent/master/* requires `Authorization: Bearer <value>` (or `token=<value>`).
    public var masterAccessToken = ""
    /// When set, /weevent/admin/*, /weevent/metrics and the REST calls that change or remove
    /// something (close, subscribe, unSubscribe) require it or the master token. When only the
    /// master token is set, it guards those too.
    public var adminAccessToken = ""
    /// `server.idle-timeout-ms`: a connection that sends nothing for this long while the broker
    /// waits for its request (a stalled body, an idle keep-alive) is closed.
    public var serverIdleTimeoutMilliseconds = 60_000
    /// `server.read-timeout-ms`: the longest a request may take from its first byte to its body's end.
    public var serverReadTimeoutMilliseconds = 10_000
    /// `server.max-connections-per-client`: the most HTTP connections one address has open at once.
    public var serverMaxConnectionsPerClient = 512
    /// `server.shutdown-timeout-ms`: after SIGTERM, the longest the broker lets requests, streams
    /// and deliveries finish before it cancels them; it exits shortly after either way.
    public var serverShutdownTimeoutMilliseconds = 10_000

    // Ledger
    public var ledgerPath = "./data"
    public var ledgerGroups = ["1"]
    public var blockMaxEvents = 1000
    public var blockMaxDelayMilliseconds = 0
    /// Where the ledgers live: `.sqlite` (embedded, one instance) or `.postgresql` (shared by every instance).
    public var ledgerStore = LedgerStoreKind.sqlite
    /// `ledger.postgresql.url`; set exactly when `ledgerStore` is `.postgresql`.
    public var postgresURL: PostgresURL?
    /// The schema holding the shared ledger's tables (one per deployment).
    public var postgresSchema = "weevent"
    public var postgresPoolSize = 16
    public var postgresConnectTimeoutMilliseconds = 30_000
    public var postgresTimeoutMilliseconds = 5000
    public var contentMaxLength = 10240
    public var extensionsMaxLength = 1024

    /// `rest.proof.max-links`: the most block headers one rest/proof answer holds.
    public var proofMaxLinks = 1000
    /// `rest.stream.max-count`: the most rest/stream connections open at once.
    public var streamMaxCount = 1000
    /// `rest.stream.max-per-client`: the most rest/stream connections one client has open at once.
    public var streamMaxPerClient = 250
    /// `rest.events.max-scan`: the most ledger positions one rest/events page looks at.
    public var eventsMaxScan = 10_000
    /// `rest.filter.max-items`: the most topics and patterns one topic filter may list.
    public var filterMaxItems = TopicFilter.defaultMaxItems
    /// `rest.stream.write-timeout-ms`: a stream whose client takes no data for this long is closed.
    public var streamWriteTimeoutMilliseconds = 30_000
    /// `rest.request.max-timeout-ms`: the longest a rest/request may wait for its reply.
    public var requestMaxTimeoutMilliseconds = 60_000
    /// `rest.request.default-timeout-ms`: the wait of a rest/request that names no timeout.
    public var requestDefaultTimeoutMilliseconds = 5000
    /// `rest.request.max-count`: the most rest/request calls waiting for replies at once.
    public var requestMaxCount = 1000
    /// `rest.request.max-per-client`: the most rest/request calls of one client waiting at once.
    public var requestMaxPerClient = 250
    /// `rest.request.bridged-replies-only`: when `replyTopic` has an inbound binding, only events
    /// the bridge stored (from the device) are replies.
    public var requestBridgedRepliesOnly = true

    // Callback subscriptions
    /// `subscription.max-count`: how many callback subscriptions the broker keeps at most.
    public var subscriptionMaxCount = 1000
    /// `subscription.callback.allowed-ranges`: non-public ranges callbacks may reach all the same.
    public var callbackAllowedRanges: [IPRange] = []
    /// `subscription.callback.timeout-ms`: the longest one callback POST may take, start to end.
    public var callbackTimeoutMilliseconds = 10_000

    // MQTT bridge
    public var mqttBrokerURL = "tcp://127.0.0.1:1883"
    public var mqttUser = ""
    public var mqttPassword = ""
    public var mqttQoS = 2
    public var mqttTimeoutMilliseconds = 5000
    public var mqttKeepAliveSeconds = 15
    public var mqttClientID = "weevent-bridge"
    public var mqttCAFile = ""
    public var mqttCertFile = ""
    public var mqttKeyFile = ""
    /// `mqtt.rejected.max-bytes`: the rejected-message log's cap; past it the oldest go.
    /// `mqtt.binding.live-wait-ms`: how long mqtt_add_inbound_topic waits for the bridge to hold
    /// the new binding's subscription before answering that it is stored but not live yet.
    public var mqttBindingLiveWaitMilliseconds = 5000
    public var mqttRejectedMaxBytes = 64 << 20

    // ZooKeeper
    public var zookeeperHosts = "127.0.0.1:2181"
    public var zookeeperPath = "/event_broker"
    public var zookeeperTimeoutMilliseconds = 3000
    /// `broker.zookeeper.auth=user:password`: the digest credentials of every session; the nodes the
    /// broker creates then belong to them alone. nil: no authentication, open nodes.
    public var zookeeperCredentials: ZooKeeperCredentials?

    /// Keys that were present but are not known; start-up logs them as warnings.
    public var unknownKeys: [Properties.Entry] = []

    public init() {}

    /// Every key this broker understands, in the order docs/configuration.md lists them.

    /// Reads and validates a properties file; a malformed value throws an error naming key and line.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> Configuration
    {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError(source: path, line: nil, key: "(file)", message: "cannot read: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1) else {
            throw ConfigurationError(source: path, line: nil, key: "(file)", message: "not text")
        }
        return try Configuration(properties: Properties(parsing: text, source: path, environment: environment))
    }

    public init(properties: Properties) throws(ConfigurationError) {
        let reader = Reader(properties: properties)
        try readServer(reader)
        try readLedger(reader)
        try readSubscriptions(reader)
        try readMQTT(reader)
        try readZooKeeper(reader)
        // Known keys are the keys read above: the list cannot miss one the configuration uses.
        unknownKeys = properties.entries.filter { !reader.read.contains($0.key) }
    }

    private mutating func readServer(_ reader: Reader) throws(ConfigurationError) {
        serverHost = try reader.string("server.host", default: serverHost, nonEmpty: true)
        serverPort = try reader.int("server.port", default: serverPort, in: 1...65535)
        serverIdleTimeoutMilliseconds = try reader.int(
            "server.idle-timeout-ms", default: serverIdleTimeoutMilliseconds, in: 100...86_400_000
        )
        serverReadTimeoutMilliseconds = try reader.int(
            "server.read-timeout-ms", default: serverReadTimeoutMilliseconds, in: 100...3_600_000
        )
        serverMaxConnectionsPerClient = try reader.int(
            "server.max-connections-per-client", default: serverMaxConnectionsPerClient, in: 1...1_000_000
        )
        serverShutdownTimeoutMilliseconds = try reader.int(
            "server.shutdown-timeout-ms", default: serverShutdownTimeoutMilliseconds, in: 0...3_600_000
        )
        ipWhiteTable = try reader.ranges("ip.check.white-table")
        trustedProxies = try reader.ranges("server.trusted-proxies")
        let hosts = try reader.list("server.allowed-hosts") { value in
            value == "*" || value.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ",") })
                ? nil : "'\(value)' is not a host name or address (without port or scheme), or *"
        }
        serverAllowedHosts = hosts.isEmpty ? nil : hosts
        masterAccessToken = try reader.string("master.access-token", default: "")
        adminAccessToken = try reader.string("admin.access-token", default: "")
    }

    private mutating func readSubscriptions(_ reader: Reader) throws(ConfigurationError) {
        subscriptionMaxCount = try reader.int("subscription.max-count", default: subscriptionMaxCount, in: 0...1_000_000)
        callbackAllowedRanges = try reader.ranges("subscription.callback.allowed-ranges")
        callbackTimeoutMilliseconds = try reader.int(
            "subscription.callback.timeout-ms", default: callbackTimeoutMilliseconds, in: 100...600_000
        )
    }

    private mutating func readLedger(_ reader: Reader) throws(ConfigurationError) {
        ledgerPath = try reader.string("ledger.path", default: ledgerPath, nonEmpty: true)
        ledgerGroups = try reader.list("ledger.groups", default: ledgerGroups) { value in
            value.utf8.count <= 64 && value.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") })
                ? nil : "group id '\(value)' must be printable ASCII without '/', at most 64 bytes"
        }
        if ledgerGroups.isEmpty {
            throw reader.error("ledger.groups", "at least one group is needed")
        }
        if Set(ledgerGroups).count != ledgerGroups.count {
            throw reader.error("ledger.groups", "a group is listed twice")
        }
        blockMaxEvents = try reader.int("ledger.block.max-events", default: blockMaxEvents, in: 1...100_000)
        blockMaxDelayMilliseconds = try reader.int("ledger.block.max-delay-ms", default: blockMaxDelayMilliseconds, in: 0...1000)
        try readLedgerStore(reader)
        contentMaxLength = try reader.int("event.content.max-length", default: contentMaxLength, in: 1...16_777_216)
        extensionsMaxLength = try reader.int("event.extensions.max-length", default: extensionsMaxLength, in: 0...1_048_576)
        proofMaxLinks = try reader.int("rest.proof.max-links", default: proofMaxLinks, in: 1...1_000_000)
        streamMaxCount = try reader.int("rest.stream.max-count", default: streamMaxCount, in: 1...1_000_000)
        streamMaxPerClient = try reader.int("rest.stream.max-per-client", default: streamMaxPerClient, in: 1...1_000_000)
        filterMaxItems = try reader.int("rest.filter.max-items", default: filterMaxItems, in: 1...10_000)
        eventsMaxScan = try reader.int("rest.events.max-scan", default: eventsMaxScan, in: 100...100_000_000)
        streamWriteTimeoutMilliseconds = try reader.int(
            "rest.stream.write-timeout-ms", default: streamWriteTimeoutMilliseconds, in: 100...3_600_000
        )
        requestMaxTimeoutMilliseconds = try reader.int(
            "rest.request.max-timeout-ms", default: requestMaxTimeoutMilliseconds, in: 1...3_600_000
        )
        requestDefaultTimeoutMilliseconds = try reader.int(
            "rest.request.default-timeout-ms", default: min(requestDefaultTimeoutMilliseconds, requestMaxTimeoutMilliseconds),
            in: 1...requestMaxTimeoutMilliseconds
        )
        requestMaxCount = try reader.int("rest.request.max-count", default: requestMaxCount, in: 1...1_000_000)
        requestMaxPerClient = try reader.int("rest.request.max-per-client", default: requestMaxPerClient, in: 1...1_000_000)
        requestBridgedRepliesOnly = try reader.bool("rest.request.bridged-replies-only", default: requestBridgedRepliesOnly)
    }

    private mutating func readMQTT(_ reader: Reader) throws(ConfigurationError) {
        mqttBrokerURL = try reader.string("mqtt.broker.url", default: mqttBrokerURL)
        if !mqttBrokerURL.isEmpty, !Configuration.isBrokerURL(mqttBrokerURL) {
            throw reader.error("mqtt.broker.url", "'\(mqttBrokerURL)' is not tcp://host:port or ssl://host:port")
        }
        mqttUser = try reader.string("mqtt.broker.user", default: "")
        mqttPassword = try reader.string("mqtt.broker.password", default: "")
        mqttQoS = try reader.int("mqtt.broker.qos", default: mqttQoS, in: 0...2)
        mqttTimeoutMilliseconds = try reader.int("mqtt.broker.timeout", default: mqttTimeoutMilliseconds, in: 1...600_000)
        mqttKeepAliveSeconds = try reader.int("mqtt.broker.keep-alive", default: mqttKeepAliveSeconds, in: 0...65535)
        mqttClientID = try reader.string("mqtt.broker.client-id", default: mqttClientID, nonEmpty: true)
        if mqttClientID.utf8.count > 65535 {
            throw reader.error("mqtt.broker.client-id", "longer than 65535 bytes")
        }
        mqttCAFile = try reader.string("mqtt.broker.cafile", default: "")
        mqttCertFile = try reader.string("mqtt.broker.certfile", default: "")
        mqttKeyFile = try reader.string("mqtt.broker.keyfile", default: "")
        mqttBindingLiveWaitMilliseconds = try reader.int(
            "mqtt.binding.live-wait-ms", default: mqttBindingLiveWaitMilliseconds, in: 0...600_000
        )
        mqttRejectedMaxBytes = try reader.int("mqtt.rejected.max-bytes", default: mqttRejectedMaxBytes, in: 65_536...(1 << 40))
        if mqttCertFile.isEmpty != mqttKeyFile.isEmpty {
            throw reader.error(mqttCertFile.isEmpty ? "mqtt.broker.certfile" : "mqtt.broker.keyfile",
                               "mqtt.broker.certfile and mqtt.broker.keyfile go together")
        }
    }

    private mutating func readZooKeeper(_ reader: Reader) throws(ConfigurationError) {
        zookeeperHosts = try reader.string("broker.zookeeper.ip", default: zookeeperHosts)
        if !zookeeperHosts.isEmpty {
            for host in zookeeperHosts.split(separator: ",") {
                let parts = host.trimmingCharacters(in: .whitespaces).split(separator: ":")
                guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else {
                    throw reader.error("broker.zookeeper.ip", "'\(host)' is not host:port")
                }
            }
        }
        zookeeperPath = try reader.string("broker.zookeeper.path", default: zookeeperPath)
        if !zookeeperPath.hasPrefix("/") || (zookeeperPath.count > 1 && zookeeperPath.hasSuffix("/")) {
            throw reader.error("broker.zookeeper.path", "'\(zookeeperPath)' must start with '/' and not end with '/'")
        }
        zookeeperTimeoutMilliseconds = try reader.int("broker.zookeeper.timeout", default: zookeeperTimeoutMilliseconds, in: 100...600_000)
        let auth = try reader.string("broker.zookeeper.auth", default: "")
        if !auth.isEmpty {
            guard let colon = auth.firstIndex(of: ":"), colon != auth.startIndex else {
                throw reader.error("broker.zookeeper.auth", "expected user:password")
            }
            zookeeperCredentials = ZooKeeperCredentials(user: String(auth[..<colon]), password: String(auth[auth.index(after: colon)...]))
        }
    }

    private mutating func readLedgerStore(_ reader: Reader) throws(ConfigurationError) {
        let kind = try reader.string("ledger.store", default: ledgerStore.rawValue)
        guard let store = LedgerStoreKind(rawValue: kind) else {
            throw reader.error("ledger.store", "'\(kind)' is not sqlite or postgresql")
        }
        ledgerStore = store
        let url = try reader.string("ledger.postgresql.url", default: "")
        if store == .postgresql {
            guard !url.isEmpty else { throw reader.error("ledger.store", "postgresql needs ledger.postgresql.url") }
            switch PostgresURL.parse(url) {
            case .success(let parsed): postgresURL = parsed
            case .failure(let problem): throw reader.error("ledger.postgresql.url", "not a postgres:// URL: \(problem)")
            }
        }
        postgresSchema = try reader.string("ledger.postgresql.schema", default: postgresSchema, nonEmpty: true)
        let lower = postgresSchema.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }
        if !lower || postgresSchema.utf8.count > 63 || postgresSchema.utf8.first.map({ $0 >= 0x30 && $0 <= 0x39 }) == true {
            throw reader.error("ledger.postgresql.schema", "'\(postgresSchema)' must be lowercase letters, digits and '_', not starting with a digit, at most 63 bytes")
        }
        postgresPoolSize = try reader.int("ledger.postgresql.pool-size", default: postgresPoolSize, in: 1...1000)
        postgresConnectTimeoutMilliseconds = try reader.int(
            "ledger.postgresql.connect-timeout-ms", default: postgresConnectTimeoutMilliseconds, in: 0...3_600_000
        )
        postgresTimeoutMilliseconds = try reader.int("ledger.postgresql.timeout-ms", default: postgresTimeoutMilliseconds, in: 100...600_000)
    }

    static func isBrokerURL(_ url: String) -> Bool {
        let rest: Substring
        if url.hasPrefix("tcp://") {
            rest = url.dropFirst(6)
        } else if url.hasPrefix("ssl://") {
            rest = url.dropFirst(6)
        } else {
            return false
        }
        guard let colon = rest.lastIndex(of: ":") else { return false }
        let host = rest[..<colon]
        guard !host.isEmpty, let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else { return false }
        return true
    }
}

/// Where ledgers are kept (`ledger.store`).
public enum LedgerStoreKind: String, Sendable, Equatable {
    case sqlite
    case postgresql
}

/// Reads typed values, remembering where each came from for error messages, and which keys
/// were asked for (every other key of the file is unknown).
private final class Reader {
    let properties: Properties
    let values: [String: Properties.Entry]
    private(set) var read: Set<String> = []

    init(properties: Properties) {
        self.properties = properties
        self.values = properties.values
    }

    func error(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(source: properties.source, line: values[key]?.line, key: key, message: message)
    }

    func string(_ key: String, default value: String, nonEmpty: Bool = false) throws(ConfigurationError) -> String {
        read.insert(key)
        guard let entry = values[key] else { return value }
        if nonEmpty && entry.value.isEmpty { throw error(key, "must not be empty") }
        return entry.value
    }

    func bool(_ key: String, default value: Bool) throws(ConfigurationError) -> Bool {
        read.insert(key)
        guard let entry = values[key] else { return value }
        switch entry.value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw error(key, "'\(entry.value)' is not true or false")
        }
    }

    func int(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        read.insert(key)
        guard let entry = values[key] else { return value }
        guard let parsed = Int(entry.value), range.contains(parsed) else {
            throw error(key, "'\(entry.value)' is not an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    /// A comma-separated list of addresses and CIDR ranges.
    func ranges(_ key: String) throws(ConfigurationError) -> [IPRange] {
        try list(key) { value in
            IPRange(value) == nil ? "'\(value)' is not an IPv4 or IPv6 address or CIDR range (like 10.0.0.0/8)" : nil
        }.compactMap { IPRange($0) }
    }

    func list(_ key: String, default value: [String] = [], check: (String) -> String?) throws(ConfigurationError) -> [String] {
        read.insert(key)
        guard let entry = values[key] else { return value }
        let items = entry.value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for item in items {
            if let problem = check(item) { throw error(key, problem) }
        }
        return items
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
