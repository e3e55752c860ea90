import BrokerConfiguration
import Foundation
import Hummingbird
import HTTPTypes
import WeEvent
#if canImport(Glibc)
    import Glibc
#endif

/// What a browser may ask of the broker: nothing on behalf of another site, and nothing under a
/// host name the broker does not answer to.
///
/// A web page the operator opens can make the browser send requests to the broker (form posts,
/// images, fetch), and a page whose name is re-pointed at 127.0.0.1 (DNS rebinding) can even
/// read the answers. Browsers mark such requests: `Sec-Fetch-Site` says whether the request
/// comes from the broker's own pages, `Origin` names the page's site, `Host` the name the
/// browser resolved. A request that carries `Sec-Fetch-Site` or `Origin` is a browser's and is
/// checked; curl and programs send neither and are not.
struct BrowserGuard: Sendable {
    static let fetchSite = HTTPField.Name("Sec-Fetch-Site")!

    /// Host names (lowercase, no port) browsers may use; nil: any.
    let allowedHosts: Set<String>?

    enum Refusal: Equatable {
        case crossSite(String)
        case host(String)
    }

    init(allowedHosts: Set<String>?) {
        self.allowedHosts = allowedHosts
    }

    /// `server.allowed-hosts` when set (`*`: any); else the loopback names and the listening
    /// address and, when listening on every interface or a non-loopback address, this machine's
    /// host name and interface addresses.
    init(_ configuration: BrokerConfiguration.Configuration) {
        if let configured = configuration.server.allowedHosts {
            allowedHosts = configured.contains("*") ? nil : Set(configured.map { Self.normalized($0) })
            return
        }
        var hosts: Set<String> = ["localhost", "127.0.0.1", "::1"]
        let listening = Self.normalized(configuration.server.host)
        let wildcard = listening == "0.0.0.0" || listening == "::"
        if !wildcard { hosts.insert(listening) }
        let loopback = listening == "localhost" || IPAddress(listening).map { IPRange.loopback.contains($0) } == true
        if !loopback {
            hosts.formUnion(Self.machineNames())
        }
        allowedHosts = hosts
    }

    /// Why `request` is refused, or nil.
    func check(method: HTTPRequest.Method, path: String, headers: HTTPFields, authority: String?) -> Refusal? {
        let fetchSite = headers[Self.fetchSite]?.lowercased()
        let origin = headers[.origin]
        guard fetchSite != nil || origin != nil else { return nil }
        let host = authority.map(Self.hostPart)
        if let allowedHosts, let host, !allowedHosts.contains(host) {
            return .host(host)
        }
        // The console's pages may be opened from a link anywhere; they change nothing.
        let console = (method == .get || method == .head) && (path == "/weevent/console" || path.hasPrefix("/weevent/console/"))
        if !console {
            if fetchSite == "cross-site" || fetchSite == "same-site" { return .crossSite("Sec-Fetch-Site: \(fetchSite!)") }
            if let origin {
                guard let authority, let own = Self.authority(ofOrigin: origin),
                    own == Self.normalizedAuthority(authority, scheme: Self.scheme(ofOrigin: origin))
                else {
                    return .crossSite("Origin: \(origin.prefix(100))")
                }
            }
        }
        return nil
    }

    // MARK: names

    static func normalized(_ host: String) -> String {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix("."), name.count > 1 { name.removeLast() }
        return name
    }

    /// The host of `Host` (`name`, `name:port`, `[v6]:port`), normalized.
    static func hostPart(_ authority: String) -> String {
        let text = authority.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            return normalized(String(text[text.index(after: text.startIndex)..<close]))
        }
        if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            return normalized(String(text[..<colon]))
        }
        return normalized(text)
    }

    static func scheme(ofOrigin origin: String) -> String {
        origin.lowercased().hasPrefix("https://") ? "https" : "http"
    }

    /// `host:port` of an `Origin` (`scheme://host[:port]`), the port made explicit; nil for `null`
    /// or anything else.
    static func authority(ofOrigin origin: String) -> String? {
        let lower = origin.lowercased()
        let scheme: String
        if lower.hasPrefix("http://") { scheme = "http" } else if lower.hasPrefix("https://") { scheme = "https" } else { return nil }
        let rest = String(origin.dropFirst(scheme.count + 3))
        guard !rest.isEmpty, !rest.contains("/") else { return nil }
        return normalizedAuthority(rest, scheme: scheme)
    }

    /// `host:port` with the scheme's default port made explicit.
    static func normalizedAuthority(_ authority: String, scheme: String) -> String {
        let host = hostPart(authority)
        let text = authority.trimmingCharacters(in: .whitespaces)
        var port = scheme == "https" ? "443" : "80"
        if let close = text.lastIndex(of: "]") {
            let after = text[text.index(after: close)...]
            if after.hasPrefix(":") { port = String(after.dropFirst()) }
        } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            port = String(text[text.index(after: colon)...])
        }
        return "\(host):\(port)"
    }

    /// This machine's host name and the addresses of its interfaces.
    static func machineNames() -> Set<String> {
        var names: Set<String> = []
        var buffer = [CChar](repeating: 0, count: 256)
        if gethostname(&buffer, buffer.count) == 0 {
            let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !name.isEmpty { names.insert(normalized(name)) }
        }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return names }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr else { continue }
            let family = Int32(address.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            var text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let zone = text.firstIndex(of: "%") { text = String(text[..<zone]) }  // fe80::1%eth0
            names.insert(normalized(text))
        }
        return names
    }
}

/// Refuses what `BrowserGuard` refuses: 403 with 100702 (cross-site) or 100703 (host name).
struct BrowserGuardMiddleware: RouterMiddleware {
    typealias Context = WeEventRequestContext
    let guardrail: BrowserGuard
    let refusals: RateLimitedLog

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refusal = guardrail.check(
            method: request.method, path: request.uri.path, headers: request.headers, authority: request.head.authority
        ) {
            switch refusal {
            case .crossSite(let why):
                refusals.notice(context.logger, "refused a browser's cross-site request", metadata: ["why": "\(why)", "path": "\(request.uri.path)"])
                throw WeEventError(.crossSiteRefused, detail: why)
            case .host(let host):
                refusals.notice(
                    context.logger, "refused a browser's request for a host name not in server.allowed-hosts", metadata: ["host": "\(host.prefix(100))"])
                throw WeEventError(
                    .hostNotAllowed, message: "host \(host.prefix(100)) is not in server.allowed-hosts", detail: "path \(request.uri.path)"
                )
            }
        }
        return try await next(request, context)
    }
}
