import BrokerConfiguration
import Bridge
import Cluster
import Ledger
import Logging
import ServiceLifecycle
import Subscriptions
import WeEvent

/// Everything one broker instance runs, assembled once (by `weevent serve`, or by a test) and
/// handed to `WeEventApplication`. A feature that is off is simply absent here; the routes
/// answer for it with the documented error.
public struct BrokerServices: Sendable {
    public var ledgers: LedgerSet
    public var configuration: BrokerConfiguration.Configuration
    /// The cluster session (ZooKeeper), when `broker.zookeeper.ip` is set. Started before the
    /// bridge and callback delivery, which use it, and closed after them.
    public var coordinator: ZooKeeperCoordinator?
    /// The bindings behind the master endpoints; nil when `mqtt.broker.url` is empty (100600).
    public var bindings: BindingService?
    /// The MQTT bridge itself, when it runs in this process.
    public var bridge: MQTTBridge?
    /// Callback subscriptions (rest/subscribe); nil leaves those endpoints answering 200000.
    public var subscriptions: CallbackSubscriptions?
    /// Prometheus metrics at /weevent/metrics; nil serves none.
    public var metrics: PrometheusMetrics?
    /// Signs the groups' checkpoints (`ledger.checkpoint.interval-ms`); nil signs none.
    public var checkpointer: Checkpointer?
    /// The identities of the store, as this instance holds them.
    public var identities: IdentityDirectory
    /// The publishes and requests each caller may make (`access.rate.*`, identities' own limits).
    public var limiter: RateLimiter
    /// Every group's pruner (`ledger.retention.*`, admin/setRetention).
    public var retention: RetentionService
    /// Who may call what, from the configured tokens and `identities`.
    public var access: AccessControl { AccessControl(configuration, directory: identities) }

    public init(
        ledgers: LedgerSet, configuration: BrokerConfiguration.Configuration, coordinator: ZooKeeperCoordinator? = nil,
        bindings: BindingService? = nil, bridge: MQTTBridge? = nil,
        subscriptions: CallbackSubscriptions? = nil, metrics: PrometheusMetrics? = nil
    ) {
        self.ledgers = ledgers
        self.configuration = configuration
        self.coordinator = coordinator
        self.bindings = bindings
        self.bridge = bridge
        self.subscriptions = subscriptions
        self.metrics = metrics
        self.identities = IdentityDirectory(store: ledgers.identities)
        self.limiter = RateLimiter(metrics: metrics?.factory)
        self.retention = RetentionService(
            ledgers: ledgers, configured: configuration.ledger.retention, interval: configuration.ledger.retentionInterval, metrics: metrics?.factory)
    }

    /// In start order; ServiceLifecycle stops them in reverse. The ledgers' services (write loops,
    /// a shared store's pool and commit follower) come first so they close last, once the server,
    /// callback delivery, the bridge and the session have stopped.
    func lifecycle(logger: Logger) -> [any Service] {
        var services = ledgers.services(logger: logger)
        services.append(identities)
        services.append(retention)
        if let checkpointer { services.append(checkpointer) }
        if let coordinator { services.append(coordinator) }
        if let bridge { services.append(bridge) }
        if let subscriptions { services.append(subscriptions) }
        if let metrics, configuration.ledger.store == .postgresql || coordinator != nil {
            services.append(AvailabilityMonitor(ledgers: ledgers, zookeeperHosts: coordinator?.hosts, factory: metrics.factory))
        }
        return services
    }
}
