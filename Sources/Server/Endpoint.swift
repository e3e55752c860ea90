import Hummingbird
import WeEvent

/// Adds WeEvent endpoints to a route collection: GET with a query or POST with a form, the same
/// parameters either way, the body bounded by what the configured content and extensions allow.
struct Endpoints {
    let routes: RouteCollection<WeEventRequestContext>
    let maxBodyBytes: Int

    init(_ routes: RouteCollection<WeEventRequestContext>, _ configuration: WeEvent.Configuration) {
        self.routes = routes
        self.maxBodyBytes = configuration.maxFormBodyBytes
    }

    func add(_ path: RouterPath, _ handler: @escaping @Sendable (RequestParameters) async throws -> Response) {
        let limit = maxBodyBytes
        let responder: @Sendable (Request, WeEventRequestContext) async throws -> Response = { request, _ in
            try await handler(try await RequestParameters.collect(request, maxBodyBytes: limit))
        }
        routes.get(path, use: responder)
        routes.post(path, use: responder)
    }
}

extension WeEvent.Configuration {
    /// Upper bound of a form body: the content and extensions, percent-encoded, and room for the other fields.
    var maxFormBodyBytes: Int { 3 * (contentMaxLength + extensionsMaxLength) + 16 * 1024 }
}
