import Hummingbird
import Logging

/// Builds the broker's HTTP application from the services of one instance.
public enum WeEventApplication {
    /// The router: error mapping and the white table first, then each area's routes.
    public static func router(_ services: BrokerServices) -> Router<WeEventRequestContext> {
        let router = Router(context: WeEventRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: IPWhiteTableMiddleware(table: IPWhiteTable(services.configuration.ipWhiteTable)))
        router.addRoutes(RestRoutes(services).collection, atPath: "weevent")
        router.addRoutes(ReadingRoutes(services).collection, atPath: "weevent")
        router.addRoutes(AdminRoutes(services).collection, atPath: "weevent")
        router.addRoutes(MasterRoutes(services).collection, atPath: "weevent/master")
        return router
    }

    /// The application with every service of the instance: on SIGTERM the server stops taking
    /// requests and ends its streams, callback delivery saves its positions and stops, the bridge
    /// stops, then the ZooKeeper session closes and the ledgers drain and close.
    public static func make(_ services: BrokerServices, logger: Logger) -> some ApplicationProtocol {
        Application(
            router: router(services),
            configuration: .init(
                address: .hostname(services.configuration.serverHost, port: services.configuration.serverPort),
                serverName: "weevent"
            ),
            services: services.lifecycle(logger: logger),
            logger: logger
        )
    }
}
