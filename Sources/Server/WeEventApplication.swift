import Bridge
import Hummingbird
import Ledger
import Logging
import ServiceLifecycle
import Subscriptions
import WeEvent

/// Builds the broker's HTTP application around a set of ledgers.
public enum WeEventApplication {
    /// - Parameters:
    ///   - bindings: the binding store, nil when no MQTT bridge is configured (master endpoints answer 100600).
    ///   - status: the bridge's per-binding counters, shown by mqtt_list_topic.
    ///   - subscriptions: callback subscriptions (rest/subscribe), nil to leave them out.
    public static func router(
        ledgers: LedgerSet, configuration: WeEvent.Configuration,
        bindings: (any BindingStore)? = nil, status: (any BridgeStatusSource)? = nil, rejected: RejectedMessageLog? = nil,
        subscriptions: CallbackSubscriptions? = nil, metrics: BrokerMetrics? = nil
    ) -> Router<WeEventRequestContext> {
        let router = Router(context: WeEventRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: IPWhiteTableMiddleware(table: IPWhiteTable(configuration.ipWhiteTable)))
        let routes = WeEventRoutes(ledgers: ledgers, configuration: configuration, subscriptions: subscriptions, metrics: metrics)
        routes.register(on: router)
        MasterRoutes(ledgers: ledgers, configuration: configuration, store: bindings, status: status, rejected: rejected)
            .register(on: router, endpoint: routes.endpoint)
        return router
    }

    /// The application with the ledgers (and callback delivery) as services: on SIGTERM the
    /// server stops taking requests and ends its streams, callback delivery saves its
    /// positions and stops, then the ledgers drain and close.
    public static func make(
        ledgers: LedgerSet, configuration: WeEvent.Configuration, logger: Logger,
        bindings: (any BindingStore)? = nil, status: (any BridgeStatusSource)? = nil, rejected: RejectedMessageLog? = nil,
        subscriptions: CallbackSubscriptions? = nil, metrics: BrokerMetrics? = nil, services: [any Service] = []
    ) -> some ApplicationProtocol {
        Application(
            router: router(
                ledgers: ledgers, configuration: configuration, bindings: bindings, status: status, rejected: rejected,
                subscriptions: subscriptions, metrics: metrics
            ),
            configuration: .init(
                address: .hostname(configuration.serverHost, port: configuration.serverPort),
                serverName: "weevent"
            ),
            // Shut down in reverse: the server finishes its requests and streams, callback delivery
            // saves its positions, the bridge stops (then the ZooKeeper session, first of
            // `services`, closes), and the ledgers close last.
            services: [LedgerService(ledgers: ledgers, logger: logger)] + services + (subscriptions.map { [$0] } ?? []),
            logger: logger
        )
    }
}
