import BrokerConfiguration
import Bridge
import Cluster
import Foundation
import Hummingbird
import Ledger
import WeEvent

/// `/weevent/admin/*` about the ledgers, `/weevent/metrics`, `/weevent/openapi.json` and the liveness check.
struct AdminRoutes {
    typealias Context = WeEventRequestContext

    let ledgers: LedgerSet
    let configuration: BrokerConfiguration.Configuration
    let metrics: PrometheusMetrics?
    let bindings: BindingService?
    let coordinator: ZooKeeperCoordinator?

    let services: BrokerServices

    init(_ services: BrokerServices) {
        self.services = services
        ledgers = services.ledgers
        configuration = services.configuration
        metrics = services.metrics
        bindings = services.bindings
        coordinator = services.coordinator
    }

    /// admin/listGroup, admin/blockchaininfo, admin/status, metrics and admin/health.
    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        let api = Endpoints(routes, services)
        api.add("admin/listGroup", requiring: .admin) { _ in
            try JSONBody.response(ledgers.groups)
        }
        api.add("admin/blockchaininfo", requiring: .admin) { p in
            let info = try await ledgers.ledger(p["groupId"]).chainInfo()
            return try JSONBody.response(
                ChainInfoBody(
                    groupId: info.groupID, blockHeight: info.blockHeight, lastBlockHash: info.lastBlockHash,
                    eventCount: info.eventCount, topicCount: info.topicCount
                ))
        }
        api.add("admin/status", requiring: .admin) { _ in try JSONBody.response(await status()) }
        // Prometheus text exposition (docs/mqtt-bridge.md lists the metrics).
        if let metrics {
            let access = api.access
            routes.get("metrics") { request, _ in
                try await access.caller(request, parameters: nil).require(.admin)
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition()))
                )
            }
        }
        // The API's own description (docs/openapi.yaml), for tools and the console.
        routes.get("openapi.json") { _, _ in JSONBody.raw(Array(OpenAPIDocument.json.utf8)) }
        // Liveness, answered without touching a ledger; also the trivial endpoint of `make bench`.
        routes.get("admin/health") { _, _ in JSONBody.raw(Array(#"{"status":"UP"}"#.utf8)) }
        return routes
    }

    /// admin/status: this instance, its store, the bridge and the cluster as ZooKeeper sees it.
    private func status() async -> StatusBody {
        var body = StatusBody(
            instance: coordinator?.instance ?? "\(ProcessInfo.processInfo.hostName):\(configuration.server.port)",
            store: configuration.ledger.store.rawValue, groups: ledgers.groups,
            bridge: .init(configured: bindings != nil, url: configuration.mqtt.brokerURL.isEmpty ? nil : configuration.mqtt.brokerURL),
            zookeeper: .init(configured: coordinator != nil, hosts: coordinator?.hosts)
        )
        if let bindings, let listed = try? await bindings.list() {
            body.bridge.bindings = listed.count
            body.bridge.runningOn = listed.compactMap(\.status.instance).first
        }
        if let shared = await ledgers.sharedStoreStatus() {
            body.postgresql = .init(shared)
        }
        if let coordinator {
            body.zookeeper.servers = await EnsembleProbe.probe(coordinator.hosts)
            let members = await coordinator.members()
            body.zookeeper.connected = members != nil
            body.zookeeper.isLeader = coordinator.isLeading
            body.cluster = members.map { .init(instances: $0.instances, leader: $0.leader) }
        }
        return body
    }
}

/// admin/status (docs/api.md).
struct StatusBody: Encodable {
    struct Bridge: Encodable {
        var configured: Bool
        var url: String?
        var bindings: Int?
        /// The instance running the bindings (the leader), as their counters say.
        var runningOn: String?
    }

    struct ZooKeeper: Encodable {
        var configured: Bool
        var hosts: String?
        var connected: Bool?
        /// Whether this instance leads.
        var isLeader: Bool?
        /// Each server of the ensemble as it answers `srvr`: its mode, or why it did not answer.
        var servers: [EnsembleProbe.Server]?
    }

    /// The shared ledger's PostgreSQL servers (`ledger.store=postgresql`).
    struct PostgreSQL: Encodable {
        /// The server this instance writes to, and every configured one.
        var primary: String
        var servers: [String]
        var reachable: Bool
        /// Failovers this instance followed since it started, and seconds since the last one.
        var switches: Int
        var secondsSinceSwitch: Double?
        /// The primary's `synchronous_standby_names`: empty when commits wait for no standby.
        var synchronousStandbyNames: String?
        var standbys: [SharedStoreStatus.Standby]
        var error: String?

        init(_ status: SharedStoreStatus) {
            primary = status.primary
            servers = status.servers
            reachable = status.reachable
            switches = status.switches
            secondsSinceSwitch = status.sinceSwitch.map { $0 / .seconds(1) }
            synchronousStandbyNames = status.synchronousStandbyNames
            standbys = status.standbys
            error = status.error
        }
    }

    struct Cluster: Encodable {
        var instances: [String]
        var leader: String?
    }

    var instance: String
    var store: String
    var groups: [String]
    var bridge: Bridge
    var zookeeper: ZooKeeper
    var postgresql: PostgreSQL?
    var cluster: Cluster?
}
