import Cluster
import CoreMetrics
import Ledger
import Logging
import ServiceLifecycle

/// Puts what admin/status shows of the servers the broker depends on into metrics, every
/// `interval`, for alerts (docs/operations.md "What to monitor"):
///
/// - `weevent_store_primary_up`: 1 while the server the store writes to answers as a writable
///   primary, else 0;
/// - `weevent_store_primary_switches_total`: failovers this instance followed;
/// - `weevent_store_sync_standbys`: standbys streaming as synchronous ones (0: a SUCCESS rests
///   on the primary alone);
/// - `weevent_store_standby_lag_bytes{standby}`: how far each standby's replay is behind;
/// - `weevent_zookeeper_servers` and `weevent_zookeeper_servers_up`: the ensemble's servers, and
///   how many of them serve (answer `srvr` with a mode).
///
/// Runs only with metrics, and does nothing for what is not configured (SQLite, no ZooKeeper).
final class AvailabilityMonitor: Service, Sendable {
    let ledgers: LedgerSet
    let zookeeperHosts: String?
    let factory: any MetricsFactory
    let interval: Duration

    init(ledgers: LedgerSet, zookeeperHosts: String?, factory: any MetricsFactory, interval: Duration = .seconds(5)) {
        self.ledgers = ledgers
        self.zookeeperHosts = zookeeperHosts
        self.factory = factory
        self.interval = interval
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var switches = 0
            var standbys: Set<String> = []
            while !Task.isCancelled {
                if let store = await self.ledgers.sharedStoreStatus() {
                    self.gauge("weevent_store_primary_up").record(store.reachable ? 1 : 0)
                    if store.switches > switches {
                        Counter(label: "weevent_store_primary_switches_total", factory: self.factory).increment(by: store.switches - switches)
                        switches = store.switches
                    }
                    let synchronous = store.standbys.filter { $0.syncState == "sync" && $0.state == "streaming" }
                    self.gauge("weevent_store_sync_standbys").record(synchronous.count)
                    let seen = Set(store.standbys.map(\.name))
                    // A lag the role may not see (no pg_monitor) is not reported as none.
                    for standby in store.standbys {
                        guard let lag = standby.lagBytes else { continue }
                        self.gauge("weevent_store_standby_lag_bytes", [("standby", standby.name)]).record(lag)
                    }
                    // A standby that left no longer lags: its gauge goes away with it.
                    for gone in standbys.subtracting(seen) {
                        self.gauge("weevent_store_standby_lag_bytes", [("standby", gone)]).destroy()
                    }
                    standbys = seen
                }
                if let hosts = self.zookeeperHosts {
                    let servers = await EnsembleProbe.probe(hosts)
                    self.gauge("weevent_zookeeper_servers").record(servers.count)
                    self.gauge("weevent_zookeeper_servers_up").record(servers.filter { $0.mode != nil }.count)
                }
                try? await Task.sleep(for: self.interval)
            }
        }
        try? await gracefulShutdown()
    }

    private func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> Gauge {
        Gauge(label: label, dimensions: dimensions, factory: factory)
    }
}
