import Hummingbird
import Ledger
import Logging
import ServiceLifecycle
import WeEvent

/// Builds the broker's HTTP application around a set of ledgers.
public enum WeEventApplication {
    public static func router(ledgers: LedgerSet, configuration: WeEvent.Configuration) -> Router<WeEventRequestContext> {
        let router = Router(context: WeEventRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: IPWhiteTableMiddleware(table: IPWhiteTable(configuration.ipWhiteTable)))
        WeEventRoutes(ledgers: ledgers, configuration: configuration).register(on: router)
        return router
    }

    /// The application with the ledgers as a service: on SIGTERM the server stops
    /// taking requests and finishes those in flight, then the ledgers drain and close.
    public static func make(
        ledgers: LedgerSet, configuration: WeEvent.Configuration, logger: Logger
    ) -> some ApplicationProtocol {
        Application(
            router: router(ledgers: ledgers, configuration: configuration),
            configuration: .init(
                address: .hostname(configuration.serverHost, port: configuration.serverPort),
                serverName: "weevent"
            ),
            services: [LedgerService(ledgers: ledgers, logger: logger)],
            logger: logger
        )
    }
}
