import Synchronization

/// What the bridge has done for one binding, as mqtt_list_topic shows it.
public struct BindingStatus: Sendable, Equatable, Codable {
    /// The instance (`host:port`) running the binding, nil when no leader runs it.
    public var instance: String?
    public var bridged: UInt64 = 0
    public var rejected: UInt64 = 0
    /// Outbound: events not sent because they had expired.
    public var expired: UInt64 = 0
    public var lastError: String?
    /// Inbound: the MQTT filter the running instance holds a granted subscription for (its
    /// SUBACK came); nil while it holds none. A binding is live when this is its `mqttTopic`.
    public var liveFilter: String?

    public init(instance: String? = nil, bridged: UInt64 = 0, rejected: UInt64 = 0, lastError: String? = nil, liveFilter: String? = nil) {
        self.instance = instance
        self.bridged = bridged
        self.rejected = rejected
        self.lastError = lastError
        self.liveFilter = liveFilter
    }

    enum CodingKeys: String, CodingKey {
        case instance, bridged, rejected, expired, lastError, liveFilter
    }

    /// Records written before `expired` existed read as none expired.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        instance = try container.decodeIfPresent(String.self, forKey: .instance)
        bridged = try container.decode(UInt64.self, forKey: .bridged)
        rejected = try container.decode(UInt64.self, forKey: .rejected)
        expired = try container.decodeIfPresent(UInt64.self, forKey: .expired) ?? 0
        lastError = try container.decodeIfPresent(String.self, forKey: .lastError)
        liveFilter = try container.decodeIfPresent(String.self, forKey: .liveFilter)
    }

    /// Whether the bridge runs `binding` now: an inbound binding once its subscription was
    /// granted; an outbound one always (its events wait on the ledger from its creation).
    public func isLive(_ binding: Binding) -> Bool {
        binding.direction == .outbound || liveFilter == binding.mqttTopic
    }
}

/// Counters of the bindings this instance runs; the bridge writes, the master endpoints read.
public final class BridgeStatusBoard: Sendable {
    private let statuses = Mutex<[Binding.Key: BindingStatus]>([:])
    public let instance: String
    public let metrics: BridgeMetrics?

    public init(instance: String, metrics: BridgeMetrics? = nil) {
        self.instance = instance
        self.metrics = metrics
    }

    public func snapshot() -> [Binding.Key: BindingStatus] {
        statuses.withLock { $0 }
    }

    public func recordBridged(_ key: Binding.Key, count: UInt64 = 1) {
        statuses.withLock { $0[key, default: BindingStatus(instance: instance)].bridged += count }
        (key.direction == .inbound ? metrics?.inboundBridged : metrics?.outboundBridged)?.increment(by: Int64(count))
    }

    /// Outbound events of `key` skipped because they had expired.
    public func recordExpired(_ key: Binding.Key, count: UInt64) {
        guard count > 0 else { return }
        statuses.withLock { $0[key, default: BindingStatus(instance: instance)].expired += count }
        metrics?.outboundExpired.increment(by: Int64(count))
    }

    public func recordRejected(_ key: Binding.Key, reason: String) {
        statuses.withLock {
            $0[key, default: BindingStatus(instance: instance)].rejected += 1
            $0[key]?.lastError = reason
        }
        metrics?.rejected.increment()
    }

    public func recordError(_ key: Binding.Key, _ error: String) {
        statuses.withLock { $0[key, default: BindingStatus(instance: instance)].lastError = error }
    }

    /// The subscription `filter` of an inbound binding was granted (nil: none is held now).
    public func recordLive(_ key: Binding.Key, filter: String?) {
        statuses.withLock { statuses in
            guard statuses[key, default: BindingStatus(instance: instance)].liveFilter != filter else { return }
            statuses[key, default: BindingStatus(instance: instance)].liveFilter = filter
        }
    }

    /// The live filters alone: what the shared status publishes at once when it changes.
    func liveness() -> [Binding.Key: String] {
        statuses.withLock { $0.compactMapValues(\.liveFilter) }
    }

    /// Keeps counters for exactly these bindings: new ones start at zero, removed ones go.
    public func track(_ keys: Set<Binding.Key>) {
        statuses.withLock { statuses in
            statuses = statuses.filter { keys.contains($0.key) }
            for key in keys where statuses[key] == nil { statuses[key] = BindingStatus(instance: instance) }
        }
    }
}

/// Where mqtt_list_topic reads the counters from.
public protocol BridgeStatusSource: Sendable {
    func statuses() async -> [Binding.Key: BindingStatus]
}

extension BridgeStatusBoard: BridgeStatusSource {
    public func statuses() async -> [Binding.Key: BindingStatus] { snapshot() }
}

/// One binding's counters as stored in ZooKeeper.
struct BindingStatusRecord: Codable {
    var direction: Binding.Direction
    var groupId: String
    var topic: String
    var status: BindingStatus

    var key: Binding.Key { Binding.Key(direction: direction, groupId: groupId, topic: topic) }
}
