import Bridge
import Cluster
import Foundation
import Ledger
import Logging
import ServiceLifecycle
import WeEvent

/// The bridge's parts for `serve`, or none when `mqtt.broker.url` is empty.
struct BridgeParts {
    var store: (any BindingStore)?
    var status: (any BridgeStatusSource)?
    var rejected: RejectedMessageLog?
    var services: [any Service] = []

    /// This instance's name in the cluster and in mqtt_list_topic.
    static func instanceName(_ configuration: WeEvent.Configuration) -> String {
        "\(ProcessInfo.processInfo.hostName):\(configuration.serverPort)"
    }

    /// The ZooKeeper session (registration, election) when `broker.zookeeper.ip` is set: the
    /// bridge and callback subscriptions share it. A service; it must start before both.
    static func coordinator(configuration: WeEvent.Configuration, logger: Logger) -> ZooKeeperCoordinator? {
        guard !configuration.zookeeperHosts.isEmpty else { return nil }
        return ZooKeeperCoordinator(
            hosts: configuration.zookeeperHosts, root: configuration.zookeeperPath, instance: instanceName(configuration),
            sessionTimeoutMilliseconds: configuration.zookeeperTimeoutMilliseconds, logger: logger
        )
    }

    static func make(
        configuration: WeEvent.Configuration, ledgers: LedgerSet, metrics: BrokerMetrics,
        coordinator: ZooKeeperCoordinator?, logger: Logger
    ) throws -> BridgeParts {
        guard !configuration.mqttBrokerURL.isEmpty else {
            logger.info("mqtt.broker.url is empty: no MQTT bridge; master endpoints answer 100600")
            return BridgeParts()
        }
        let status = BridgeStatusBoard(instance: instanceName(configuration), metrics: metrics)
        let rejected = try RejectedMessageLog(directory: configuration.ledgerPath)
        guard let coordinator else {
            logger.info("broker.zookeeper.ip is empty: single instance, bindings in \(configuration.ledgerPath)/bindings.json")
            let store = try LocalBindingStore(directory: configuration.ledgerPath)
            let bridge = MQTTBridge(
                configuration: configuration, ledgers: ledgers, store: store, status: status, rejected: rejected,
                leadership: SingleInstanceLeadership(), logger: logger
            )
            return BridgeParts(store: store, status: status, rejected: rejected, services: [bridge])
        }
        let store = ZooKeeperBindingStore(coordinator: coordinator)
        let shared = ZooKeeperStatus(coordinator: coordinator, board: status, logger: logger)
        let bridge = MQTTBridge(
            configuration: configuration, ledgers: ledgers, store: store, status: status, rejected: rejected,
            leadership: coordinator, sharedStatus: shared, logger: logger
        )
        return BridgeParts(store: store, status: shared, rejected: rejected, services: [bridge])
    }
}
