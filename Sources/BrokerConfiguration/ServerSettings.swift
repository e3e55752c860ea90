import WeEvent

/// The HTTP server (`server.*`, `ip.check.white-table`, the access tokens).
public struct ServerSettings: Sendable, Equatable {
    public var host = "0.0.0.0"
    public var port = 8080
    /// `ip.check.white-table`: addresses and CIDR ranges allowed to call (empty: everyone).
    public var ipWhiteTable: [IPRange] = []
    /// `server.allowed-hosts`: the host names a browser may reach the broker by; nil: the default
    /// (loopback names, the listening address, and this machine's names when not on loopback).
    public var allowedHosts: [String]?
    /// `server.trusted-proxies`: peers whose `X-Forwarded-For` names the real client.
    public var trustedProxies: [IPRange] = []
    /// When set, /weevent/master/* requires `Authorization: Bearer <value>` (or `token=<value>`).
    public var masterAccessToken = ""
    /// When set, /weevent/admin/*, /weevent/metrics and the REST calls that change or remove
    /// something (close, subscribe, unSubscribe) require it or the master token. When only the
    /// master token is set, it guards those too.
    public var adminAccessToken = ""
    /// `access.anonymous`: what a caller without a token may do once access is configured (a
    /// token or an identity exists). nil: the default, publish, read and request on every topic.
    public var anonymousRights: Rights?
    /// `access.rate.per-second` and `access.rate.burst`: how many publishes and requests each
    /// identity (and each address calling without a token) may make, unless the identity has a
    /// limit of its own. Unlimited by default; the configured tokens are never limited.
    public var rateLimit = RateLimit.unlimited
    /// `server.idle-timeout-ms`: a connection that sends nothing for this long while the broker
    /// waits for its request (a stalled body, an idle keep-alive) is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// `server.read-timeout-ms`: the longest a request may take from its first byte to its body's end.
    public var readTimeout: Duration = .seconds(10)
    /// `server.max-connections-per-client`: the most HTTP connections one address has open at once.
    public var maxConnectionsPerClient = 512
    /// `server.shutdown-timeout-ms`: after SIGTERM, the longest the broker lets requests, streams
    /// and deliveries finish before it cancels them; it exits shortly after either way.
    public var shutdownTimeout: Duration = .seconds(10)

    public init() {}

    init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        host = try reader.string("server.host", default: host, nonEmpty: true)
        port = try reader.int("server.port", default: port, in: 1...65535)
        idleTimeout = try reader.milliseconds("server.idle-timeout-ms", default: idleTimeout, in: 100...86_400_000)
        readTimeout = try reader.milliseconds("server.read-timeout-ms", default: readTimeout, in: 100...3_600_000)
        maxConnectionsPerClient = try reader.int("server.max-connections-per-client", default: maxConnectionsPerClient, in: 1...1_000_000)
        shutdownTimeout = try reader.milliseconds("server.shutdown-timeout-ms", default: shutdownTimeout, in: 0...3_600_000)
        ipWhiteTable = try reader.ranges("ip.check.white-table")
        trustedProxies = try reader.ranges("server.trusted-proxies")
        let hosts = try reader.list("server.allowed-hosts") { value in
            value == "*" || value.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ",") })
                ? nil : "'\(value)' is not a host name or address (without port or scheme), or *"
        }
        allowedHosts = hosts.isEmpty ? nil : hosts
        masterAccessToken = try reader.string("master.access-token", default: "")
        adminAccessToken = try reader.string("admin.access-token", default: "")
        let rate = try reader.int("access.rate.per-second", default: 0, in: 0...RateLimit.maximum)
        rateLimit = RateLimit(perSecond: rate, burst: try reader.int("access.rate.burst", default: max(rate, 1), in: 1...RateLimit.maximum))
        let anonymous = try reader.string("access.anonymous", default: "")
        if reader.values["access.anonymous"] != nil {
            do {
                anonymousRights = try Rights.parse(list: anonymous)
            } catch {
                throw reader.error("access.anonymous", error.message)
            }
        }
    }
}

/// Limits of the reading endpoints (`rest.*` but rest/request's).
public struct RestSettings: Sendable, Equatable {
    /// `rest.proof.max-links`: the most block headers one rest/proof answer holds.
    public var proofMaxLinks = 1000
    /// `rest.stream.max-count`: the most rest/stream connections open at once.
    public var streamMaxCount = 1000
    /// `rest.stream.max-per-client`: the most rest/stream connections one client has open at once.
    public var streamMaxPerClient = 250
    /// `rest.stream.write-timeout-ms`: a stream whose client takes no data for this long is closed.
    public var streamWriteTimeout: Duration = .seconds(30)
    /// `rest.events.max-scan`: the most ledger positions one rest/events page looks at.
    public var eventsMaxScan = 10_000
    /// `rest.filter.max-items`: the most topics and patterns one topic filter may list.
    public var filterMaxItems = TopicFilter.defaultMaxItems

    public init() {}

    init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        proofMaxLinks = try reader.int("rest.proof.max-links", default: proofMaxLinks, in: 1...1_000_000)
        streamMaxCount = try reader.int("rest.stream.max-count", default: streamMaxCount, in: 1...1_000_000)
        streamMaxPerClient = try reader.int("rest.stream.max-per-client", default: streamMaxPerClient, in: 1...1_000_000)
        filterMaxItems = try reader.int("rest.filter.max-items", default: filterMaxItems, in: 1...10_000)
        eventsMaxScan = try reader.int("rest.events.max-scan", default: eventsMaxScan, in: 100...100_000_000)
        streamWriteTimeout = try reader.milliseconds("rest.stream.write-timeout-ms", default: streamWriteTimeout, in: 100...3_600_000)
    }
}

/// rest/request (`rest.request.*`).
public struct RequestSettings: Sendable, Equatable {
    /// `rest.request.max-timeout-ms`: the longest a rest/request may wait for its reply.
    public var maxTimeout: Duration = .seconds(60)
    /// `rest.request.default-timeout-ms`: the wait of a rest/request that names no timeout.
    public var defaultTimeout: Duration = .seconds(5)
    /// `rest.request.max-count`: the most rest/request calls waiting for replies at once.
    public var maxCount = 1000
    /// `rest.request.max-per-client`: the most rest/request calls of one client waiting at once.
    public var maxPerClient = 250
    /// `rest.request.bridged-replies-only`: when `replyTopic` has an inbound binding, only events
    /// the bridge stored (from the device) are replies.
    public var bridgedRepliesOnly = true

    public init() {}

    init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        maxTimeout = try reader.milliseconds("rest.request.max-timeout-ms", default: maxTimeout, in: 1...3_600_000)
        defaultTimeout = try reader.milliseconds(
            "rest.request.default-timeout-ms", default: min(defaultTimeout, maxTimeout), in: 1...maxTimeout.wholeMilliseconds
        )
        maxCount = try reader.int("rest.request.max-count", default: maxCount, in: 1...1_000_000)
        maxPerClient = try reader.int("rest.request.max-per-client", default: maxPerClient, in: 1...1_000_000)
        bridgedRepliesOnly = try reader.bool("rest.request.bridged-replies-only", default: bridgedRepliesOnly)
    }
}
