import Bridge
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

    static func make(configuration: WeEvent.Configuration, ledgers: LedgerSet, metrics: BrokerMetrics, logger: Logger) throws -> BridgeParts {
        guard !configuration.mqttBrokerURL.isEmpty else {
            logger.info("mqtt.broker.url is empty: no MQTT bridge; master endpoints answer 100600")
            return BridgeParts()
        }
        let instance = "\(ProcessInfo.processInfo.hostName):\(configuration.serverPort)"
        let status = BridgeStatusBoard(instance: instance, metrics: metrics)
        let rejected = try RejectedMessageLog(directory: configuration.ledgerPath)
        if configuration.zookeeperHosts.isEmpty {
            logger.info("broker.zookeeper.ip is empty: single instance, bindings in \(configuration.ledgerPath)/bindings.json")
            let store = try LocalBindingStore(directory: configuration.ledgerPath)
            let bridge = MQTTBridge(
                configuration: configuration, ledgers: ledgers, store: store, status: status, rejected: rejected,
                leadership: SingleInstanceLeadership(), logger: logger
            )
            return BridgeParts(store: store, status: status, rejected: rejected, services: [bridge])
        }
        let coordinator = ZooKeeperCoordinator(
            hosts: configuration.zookeeperHosts, root: configuration.zookeeperPath, instance: instance,
            sessionTimeoutMilliseconds: configuration.zookeeperTimeoutMilliseconds, logger: logger
        )
        let store = ZooKeeperBindingStore(coordinator: coordinator, logger: logger)
        let shared = ZooKeeperStatus(coordinator: coordinator, board: status, logger: logger)
        let bridge = MQTTBridge(
            configuration: configuration, ledgers: ledgers, store: store, status: status, rejected: rejected,
            leadership: coordinator, sharedStatus: shared, logger: logger
        )
        // The bridge stops before the ZooKeeper session closes (services stop in reverse order).
        return BridgeParts(store: store, status: shared, rejected: rejected, services: [coordinator, bridge])
    }
}
