import BrokerConfiguration
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import WeEvent

/// Builds the broker's HTTP application from the services of one instance.
public enum WeEventApplication {
    /// The router: error mapping and the white table first, then each area's routes.
    public static func router(_ services: BrokerServices) -> Router<WeEventRequestContext> {
        let router = Router(context: WeEventRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: BrowserGuardMiddleware(guardrail: BrowserGuard(services.configuration), refusals: RateLimitedLog()))
        router.add(
            middleware: IPWhiteTableMiddleware(
                table: IPWhiteTable(services.configuration.server.ipWhiteTable),
                proxies: TrustedProxies(services.configuration.server.trustedProxies)
            ))
        router.addRoutes(RestRoutes(services).collection, atPath: "weevent")
        router.addRoutes(ReadingRoutes(services).collection, atPath: "weevent")
        router.addRoutes(SubscriptionRoutes(services).collection, atPath: "weevent")
        router.addRoutes(RequestRoutes(services).collection, atPath: "weevent")
        router.addRoutes(AdminRoutes(services).collection, atPath: "weevent")
        router.addRoutes(IdentityRoutes(services).collection, atPath: "weevent")
        router.addRoutes(RetentionRoutes(services).collection, atPath: "weevent")
        router.addRoutes(MasterRoutes(services).collection, atPath: "weevent/master")
        router.addRoutes(ConsoleRoutes().collection, atPath: "weevent")
        return router
    }

    /// The application with every service of the instance: on SIGTERM the server stops taking
    /// requests and ends its streams, callback delivery saves its positions and stops, the bridge
    /// stops, then the ZooKeeper session closes and the ledgers drain and close.
    public static func make(_ services: BrokerServices, logger: Logger) -> some ApplicationProtocol {
        let idle = TimeAmount(services.configuration.server.idleTimeout)
        return Application(
            router: router(services),
            server: HTTPServerBuilder { [connections = ConnectionCount(perClient: services.configuration.server.maxConnectionsPerClient)] responder in
                GuardedHTTP1Channel(
                    responder: responder, idleTimeout: idle,
                    readTimeout: TimeAmount(services.configuration.server.readTimeout),
                    connections: connections, refusals: RateLimitedLog()
                )
            },
            configuration: .init(
                address: .hostname(services.configuration.server.host, port: services.configuration.server.port),
                serverName: "weevent"
            ),
            services: services.lifecycle(logger: logger),
            logger: logger
        )
    }

    /// Runs the application until SIGTERM or SIGINT, then shuts it down gracefully, but within
    /// `server.shutdown-timeout-ms`: what has not finished by then (a client that never sends the
    /// rest of its request, a stuck delivery) is cancelled, and the process ends a few seconds later
    /// at most.
    public static func run(_ application: some ApplicationProtocol, configuration: BrokerConfiguration.Configuration, logger: Logger) async throws {
        var group = ServiceGroupConfiguration(
            services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        )
        group.maximumGracefulShutdownDuration = configuration.server.shutdownTimeout
        group.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: group).run()
    }
}
