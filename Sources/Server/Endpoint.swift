import BrokerConfiguration
import Hummingbird
import WeEvent

/// Adds WeEvent endpoints to a route collection: GET with a query or POST with a form, the same
/// parameters either way, the body bounded by what the configured content and extensions allow.
/// The handler learns the caller (`RequestParameters.caller`) and checks what its topics need;
/// an endpoint given an `action` answers only callers holding it somewhere (`admin`).
struct Endpoints {
    let routes: RouteCollection<WeEventRequestContext>
    let intake: RequestIntake

    init(_ routes: RouteCollection<WeEventRequestContext>, _ services: BrokerServices) {
        self.routes = routes
        self.intake = RequestIntake(services)
    }

    var access: AccessControl { intake.access }

    func add(
        _ path: RouterPath, requiring action: Action? = nil,
        _ handler: @escaping @Sendable (RequestParameters) async throws -> Response
    ) {
        let intake = intake
        let responder: @Sendable (Request, WeEventRequestContext) async throws -> Response = { request, context in
            let parameters = try await intake.parameters(request, context)
            if let action { try parameters.caller.require(action) }
            return try await handler(parameters)
        }
        routes.get(path, use: responder)
        routes.post(path, use: responder)
    }
}

/// What every endpoint starts with, also those added by hand (rest/stream, rest/request): the
/// request's parameters (query and form, bounded) and its caller.
struct RequestIntake: Sendable {
    let maxBodyBytes: Int
    let access: AccessControl
    let proxies: TrustedProxies

    init(_ services: BrokerServices) {
        maxBodyBytes = services.configuration.maxFormBodyBytes
        access = services.access
        proxies = TrustedProxies(services.configuration.server.trustedProxies)
    }

    func parameters(_ request: Request, _ context: WeEventRequestContext) async throws -> RequestParameters {
        var parameters = try await RequestParameters.collect(request, maxBodyBytes: maxBodyBytes)
        parameters.caller = try await access.caller(request, parameters: parameters) { client(request, context) }
        return parameters
    }

    /// The calling client's address (`server.trusted-proxies` decide whose `X-Forwarded-For` counts).
    func client(_ request: Request, _ context: WeEventRequestContext) -> IPAddress? {
        proxies.client(peer: context.remoteAddress, forwardedFor: request.headers[values: TrustedProxies.header])
    }
}

extension BrokerConfiguration.Configuration {
    /// Upper bound of a form body: the content and extensions, percent-encoded, and room for the other fields.
    var maxFormBodyBytes: Int { 3 * (events.contentMaxLength + events.extensionsMaxLength) + 16 * 1024 }
}
