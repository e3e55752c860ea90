import BrokerConfiguration
import Hummingbird
import WeEvent

/// Adds WeEvent endpoints to a route collection: GET with a query or POST with a form, the same
/// parameters either way, the body bounded by what the configured content and extensions allow.
/// An endpoint given a `scope` answers only callers with a token that scope accepts (AccessControl).
struct Endpoints {
    let routes: RouteCollection<WeEventRequestContext>
    let maxBodyBytes: Int
    let access: AccessControl

    init(_ routes: RouteCollection<WeEventRequestContext>, _ configuration: BrokerConfiguration.Configuration) {
        self.routes = routes
        self.maxBodyBytes = configuration.maxFormBodyBytes
        self.access = AccessControl(configuration)
    }

    func add(
        _ path: RouterPath, scope: AccessControl.Scope? = nil,
        _ handler: @escaping @Sendable (RequestParameters) async throws -> Response
    ) {
        let limit = maxBodyBytes
        let access = access
        let responder: @Sendable (Request, WeEventRequestContext) async throws -> Response = { request, _ in
            let parameters = try await RequestParameters.collect(request, maxBodyBytes: limit)
            if let scope { try access.authorize(request, parameters: parameters, scope: scope) }
            return try await handler(parameters)
        }
        routes.get(path, use: responder)
        routes.post(path, use: responder)
    }

    /// An endpoint open to all whose handler learns whether the caller holds `scope` (a token
    /// it accepts, or no token configured at all).
    func add(
        _ path: RouterPath, telling scope: AccessControl.Scope,
        _ handler: @escaping @Sendable (RequestParameters, _ holdsScope: Bool) async throws -> Response
    ) {
        let limit = maxBodyBytes
        let access = access
        let responder: @Sendable (Request, WeEventRequestContext) async throws -> Response = { request, _ in
            let parameters = try await RequestParameters.collect(request, maxBodyBytes: limit)
            let holds = (try? access.authorize(request, parameters: parameters, scope: scope)) != nil
            return try await handler(parameters, holds)
        }
        routes.get(path, use: responder)
        routes.post(path, use: responder)
    }
}

extension BrokerConfiguration.Configuration {
    /// Upper bound of a form body: the content and extensions, percent-encoded, and room for the other fields.
    var maxFormBodyBytes: Int { 3 * (events.contentMaxLength + events.extensionsMaxLength) + 16 * 1024 }
}
