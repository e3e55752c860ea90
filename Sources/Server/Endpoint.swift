import BrokerConfiguration
import Hummingbird
import WeEvent

/// Adds WeEvent endpoints to a route collection: GET with a query or POST with a form, the same
/// parameters either way, the body bounded by what the configured content and extensions allow.
/// The handler learns the caller (`RequestParameters.caller`) and checks what its topics need;
/// an endpoint given an `action` answers only callers holding it somewhere (`admin`).
struct Endpoints {
    let routes: RouteCollection<WeEventRequestContext>
    let maxBodyBytes: Int
    let access: AccessControl
    let proxies: TrustedProxies

    init(_ routes: RouteCollection<WeEventRequestContext>, _ services: BrokerServices) {
        self.routes = routes
        self.maxBodyBytes = services.configuration.maxFormBodyBytes
        self.access = services.access
        self.proxies = TrustedProxies(services.configuration.server.trustedProxies)
    }

    func add(
        _ path: RouterPath, requiring action: Action? = nil,
        _ handler: @escaping @Sendable (RequestParameters) async throws -> Response
    ) {
        let responder = responder(requiring: action, handler)
        routes.get(path, use: responder)
        routes.post(path, use: responder)
    }

    /// The responder behind `add`, for routes that take GET or POST only.
    func responder(
        requiring action: Action? = nil, _ handler: @escaping @Sendable (RequestParameters) async throws -> Response
    ) -> @Sendable (Request, WeEventRequestContext) async throws -> Response {
        let limit = maxBodyBytes
        let access = access
        let proxies = proxies
        return { request, context in
            var parameters = try await RequestParameters.collect(request, maxBodyBytes: limit)
            parameters.caller = try await access.caller(request, parameters: parameters) {
                proxies.client(peer: context.remoteAddress, forwardedFor: request.headers[values: TrustedProxies.header])
            }
            if let action { try parameters.caller.require(action) }
            return try await handler(parameters)
        }
    }
}

extension BrokerConfiguration.Configuration {
    /// Upper bound of a form body: the content and extensions, percent-encoded, and room for the other fields.
    var maxFormBodyBytes: Int { 3 * (events.contentMaxLength + events.extensionsMaxLength) + 16 * 1024 }
}
