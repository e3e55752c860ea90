import ConsoleAssets
import HTTPTypes
import Hummingbird
import NIOCore

/// `/weevent/console/`: the operator's console (console/, embedded by scripts/console-assets.py).
/// The pages are public; every figure they show comes from the documented API, which asks for
/// the tokens as usual (the console asks the operator for one when an answer says 100701).
struct ConsoleRoutes {
    typealias Context = WeEventRequestContext

    /// Only the console's own files and the broker's API; no framing by other sites.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        .cacheControl: "no-cache",
    ]

    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        // The router treats `console` and `console/` as one path. The pages' relative links need
        // the slash, so a request without it is sent there, by a relative reference: the path
        // itself would be a network-path reference (`//host/...`) when it starts with `//`.
        routes.get("console") { request, _ in
            guard request.uri.path.hasSuffix("/") else {
                return Response(status: .movedPermanently, headers: [.location: "console/"])
            }
            return try Self.asset("index.html", request)
        }
        routes.get("console/**") { request, context in
            try Self.asset(context.parameters.getCatchAll().joined(separator: "/"), request)
        }
        return routes
    }

    static func asset(_ name: String, _ request: Request) throws -> Response {
        guard let asset = ConsoleAssets.files[name.isEmpty ? "index.html" : name] else { throw HTTPError(.notFound) }
        var headers = securityHeaders
        headers[.eTag] = asset.etag
        if request.headers[values: .ifNoneMatch].contains(asset.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: asset.body)))
    }
}
