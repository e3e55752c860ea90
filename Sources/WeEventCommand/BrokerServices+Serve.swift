import BrokerConfiguration
import Bridge
import Cluster
import Foundation
import Ledger
import Logging
import Server
import Subscriptions
import WeEvent

extension BrokerServices {
    /// What `weevent serve` runs, from the configuration: the ZooKeeper session when
    /// `broker.zookeeper.ip` is set (shared by the bridge and callback delivery), callback
    /// subscriptions kept in ZooKeeper or beside the ledgers, and the MQTT bridge when
    /// `mqtt.broker.url` is set (bindings in ZooKeeper or in bindings.json).
    static func assemble(configuration: BrokerConfiguration.Configuration, ledgers: LedgerSet, logger: Logger) throws -> BrokerServices {
        let instance = "\(ProcessInfo.processInfo.hostName):\(configuration.server.port)"
        let coordinator =
            configuration.zookeeper.hosts.isEmpty
            ? nil
            : ZooKeeperCoordinator(
                hosts: configuration.zookeeper.hosts, root: configuration.zookeeper.path, instance: instance,
                sessionTimeout: configuration.zookeeper.sessionTimeout,
                credentials: configuration.zookeeper.credentials.map { ($0.user, $0.password) }, logger: logger
            )
        let subscriptionStore: any SubscriptionStore =
            try coordinator.map { ZooKeeperSubscriptionStore(coordinator: $0) }
            ?? SQLiteSubscriptionStore(path: configuration.ledger.path + "/subscriptions.sqlite")
        var services = BrokerServices(
            ledgers: ledgers, configuration: configuration, coordinator: coordinator,
            subscriptions: CallbackSubscriptions(
                ledgers: ledgers, store: subscriptionStore, leadership: coordinator ?? SingleInstanceLeadership(),
                policy: CallbackPolicy(configuration.subscriptions), logger: logger
            ),
            metrics: PrometheusMetrics()
        )
        guard !configuration.mqtt.brokerURL.isEmpty else {
            logger.info("mqtt.broker.url is empty: no MQTT bridge; master endpoints answer 100600")
            return services
        }
        let metrics = services.metrics.map { BridgeMetrics(factory: $0.factory) }
        let board = BridgeStatusBoard(instance: instance, metrics: metrics)
        let rejected = try RejectedMessageLog(
            directory: configuration.ledger.path, maxBytes: configuration.mqtt.rejectedMaxBytes,
            onDrop: { metrics?.rejectedDropped.increment(by: Int64($0)) }
        )
        let store: any BindingStore
        let status: any BridgeStatusSource
        let bridge: MQTTBridge
        if let coordinator {
            store = ZooKeeperBindingStore(coordinator: coordinator)
            let shared = ZooKeeperStatus(coordinator: coordinator, board: board, logger: logger)
            status = shared
            bridge = MQTTBridge(
                configuration: configuration, ledgers: ledgers, store: store, status: board, rejected: rejected,
                leadership: coordinator, sharedStatus: shared, logger: logger
            )
        } else {
            logger.info("broker.zookeeper.ip is empty: single instance, bindings in \(configuration.ledger.path)/bindings.json")
            store = try LocalBindingStore(directory: configuration.ledger.path)
            status = board
            bridge = MQTTBridge(
                configuration: configuration, ledgers: ledgers, store: store, status: board, rejected: rejected,
                leadership: SingleInstanceLeadership(), logger: logger
            )
        }
        services.bindings = BindingService(store: store, status: status, rejected: rejected, defaultQoS: configuration.mqtt.qos)
        services.bridge = bridge
        return services
    }
}
