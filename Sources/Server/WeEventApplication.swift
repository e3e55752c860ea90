import Hummingbird
import Ledger
import Logging
import ServiceLifecycle
import Subscriptions
import WeEvent

/// Builds the broker's HTTP application around a set of ledgers.
public enum WeEventApplication {
    public static func router(
        ledgers: LedgerSet, configuration: WeEvent.Configuration, subscriptions: CallbackSubscriptions? = nil
    ) -> Router<WeEventRequestContext> {
        let router = Router(context: WeEventRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: IPWhiteTableMiddleware(table: IPWhiteTable(configuration.ipWhiteTable)))
        WeEventRoutes(ledgers: ledgers, configuration: configuration, subscriptions: subscriptions).register(on: router)
        return router
    }

    /// The application with the ledgers (and callback delivery) as services: on SIGTERM the
    /// server stops taking requests and ends its streams, callback delivery saves its
    /// positions and stops, then the ledgers drain and close.
    public static func make(
        ledgers: LedgerSet, configuration: WeEvent.Configuration, logger: Logger,
        subscriptions: CallbackSubscriptions? = nil
    ) -> some ApplicationProtocol {
        Application(
            router: router(ledgers: ledgers, configuration: configuration, subscriptions: subscriptions),
            configuration: .init(
                address: .hostname(configuration.serverHost, port: configuration.serverPort),
                serverName: "weevent"
            ),
            services: [LedgerService(ledgers: ledgers, logger: logger)] + (subscriptions.map { [$0] } ?? []),
            logger: logger
        )
    }
}
