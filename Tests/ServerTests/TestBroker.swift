import BrokerConfiguration
import Bridge
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Subscriptions
import WeEvent
@testable import Server

/// The broker's router over fresh ledgers in a temporary directory, for one test; the ledgers
/// are shut down and the directory removed whatever the test does.
///
/// - Parameters:
///   - groups: `ledger.groups`.
///   - bridge: a file binding store and counters, so the master endpoints answer.
///   - subscriptions: callback subscriptions wired in (their delivery service is not run).
///   - live: served on a loopback socket (needed for SSE and a real peer address) instead of
///     Hummingbird's in-process router test.
func withTestBroker(
    groups: [String] = ["1"],
    blockMaxDelay: Int = 0,
    configure: (inout BrokerConfiguration.Configuration) -> Void = { _ in },
    bridge: Bool = false,
    subscriptions: Bool = false,
    live: Bool = false,
    services adjust: (inout BrokerServices) -> Void = { _ in },
    _ body: @escaping @Sendable (any TestClientProtocol, LedgerSet) async throws -> Void
) async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("api-\(UUID().uuidString)").path
    var configuration = BrokerConfiguration.Configuration()
    configuration.ledger.path = dir
    configuration.ledger.groups = groups
    // No bridge runs here: a binding would never become live. Tests of that wait set it again.
    configuration.mqtt.bindingLiveWait = .zero
    configure(&configuration)
    let ledgers = try LedgerSet.openEmbedded(
        path: dir, groups: configuration.ledger.groups, blockMaxEvents: 100,
        blockMaxDelay: .milliseconds(blockMaxDelay), logger: .init(label: "test")
    )
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try await ledgers.withRunning(logger: .init(label: "test")) {
        let bindings =
            bridge
            ? BindingService(
                store: try LocalBindingStore(directory: dir), status: BridgeStatusBoard(instance: "test:1"),
                rejected: nil, defaultQoS: configuration.mqtt.qos
            )
            : nil
        let callbacks =
            subscriptions
            ? try CallbackSubscriptions(
                ledgers: ledgers, store: SQLiteSubscriptionStore(path: dir + "/subscriptions.sqlite"),
                policy: CallbackPolicy(configuration.subscriptions), logger: .init(label: "test")
            )
            : nil
        var services = BrokerServices(
            ledgers: ledgers, configuration: configuration, bindings: bindings, subscriptions: callbacks,
            metrics: PrometheusMetrics()
        )
        adjust(&services)
        let router = WeEventApplication.router(services)
        if live {
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in try await body(client, ledgers) }
        } else {
            try await Application(router: router).test(.router) { client in try await body(client, ledgers) }
        }
    }
}
