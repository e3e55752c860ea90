#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Where the shared ledger lives, as `ledger.postgresql.url` gives it, in libpq's URL form:
/// `postgres://user[:password]@host[:port][,host[:port]...]/database[?sslmode=MODE&target_session_attrs=read-write]`
/// (`postgresql://` too). User and password may be percent-encoded; `sslmode` is `disable` (the
/// default), `prefer` or `require`. Several hosts name the servers of one replicated cluster
/// (a Patroni primary and its standbys): the store writes to whichever of them is the writable
/// primary and looks again after a failover. `target_session_attrs` may say `read-write` (or
/// libpq's synonym `primary`), which is what the store does with any number of hosts; other
/// values are refused, since a ledger that only reads could not take a publish.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    /// One server of the cluster.
    public struct Endpoint: Sendable, Equatable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int = 5432) {
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The servers in the order the URL names them (at least one).
    public var endpoints: [Endpoint]
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    /// The first server: the only one of a single-host URL.
    public var host: String { endpoints[0].host }
    public var port: Int { endpoints[0].port }

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode = .disable) {
        self.init(endpoints: [Endpoint(host: host, port: port)], user: user, password: password, database: database, tls: tls)
    }

    public init(endpoints: [Endpoint], user: String, password: String? = nil, database: String, tls: TLSMode = .disable) {
        precondition(!endpoints.isEmpty, "a PostgreSQL URL names at least one server")
        self.endpoints = endpoints
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a URL; the reason it is not one otherwise.
    public static func parse(_ text: String) -> Result<PostgresURL, PostgresURLError> {
        let rest: Substring
        if text.hasPrefix("postgres://") {
            rest = text.dropFirst("postgres://".count)
        } else if text.hasPrefix("postgresql://") {
            rest = text.dropFirst("postgresql://".count)
        } else {
            return .failure(PostgresURLError("must start with postgres://"))
        }
        let (main, query) = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).pair
        guard let at = main.lastIndex(of: "@") else { return .failure(PostgresURLError("names no user (postgres://USER@HOST/DB)")) }
        let credentials = main[..<at]
        let (rawUser, rawPassword) = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).pair
        guard let user = rawUser.removingPercentEncoding, !user.isEmpty else { return .failure(PostgresURLError("names no user")) }
        let password = rawPassword.map { $0.removingPercentEncoding ?? String($0) }
        let (hostList, database) = main[main.index(after: at)...].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).pair
        guard let database, !database.isEmpty, !database.contains("/") else { return .failure(PostgresURLError("names no database (…/DATABASE)")) }
        var endpoints: [Endpoint] = []
        for hostPort in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            switch endpoint(hostPort) {
            case .success(let parsed):
                guard !endpoints.contains(parsed) else { return .failure(PostgresURLError("names \(parsed) twice")) }
                endpoints.append(parsed)
            case .failure(let problem): return .failure(problem)
            }
        }
        var tls = TLSMode.disable
        for item in (query ?? "").split(separator: "&") {
            let (key, value) = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).pair
            switch key {
            case "sslmode":
                guard let value, let mode = TLSMode(rawValue: String(value)) else {
                    return .failure(PostgresURLError("sslmode must be disable, prefer or require"))
                }
                tls = mode
            case "target_session_attrs":
                guard value == "read-write" || value == "primary" else {
                    return .failure(PostgresURLError("target_session_attrs must be read-write or primary: the ledger writes"))
                }
            default:
                return .failure(PostgresURLError("unknown parameter '\(key)' (only sslmode and target_session_attrs)"))
            }
        }
        return .success(PostgresURL(endpoints: endpoints, user: user, password: password, database: String(database), tls: tls))
    }

    /// `host[:port]` or `[v6]:port`.
    private static func endpoint(_ hostPort: Substring) -> Result<Endpoint, PostgresURLError> {
        if hostPort.hasPrefix("["), !hostPort.contains("]") { return .failure(PostgresURLError("'\(hostPort)': '[' without ']'")) }
        var host = String(hostPort)
        var port = 5432
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]"), !(hostPort.first != "[" && hostPort.filter({ $0 == ":" }).count > 1) {
            host = String(hostPort[..<colon])
            guard let value = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(value) else {
                return .failure(PostgresURLError("port must be an integer in 1...65535"))
            }
            port = value
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return .failure(PostgresURLError("names no host")) }
        return .success(Endpoint(host: host, port: port))
    }

    /// The URL without its password, for logs.
    public var description: String {
        "postgres://\(user)@\(endpoints.map(\.description).joined(separator: ","))/\(database)"
            + (tls == .disable ? "" : "?sslmode=\(tls.rawValue)")
    }
}

public struct PostgresURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension Array where Element == Substring {
    /// The first element and the second one if there is one.
    fileprivate var pair: (Substring, Substring?) { (self.first ?? "", self.count > 1 ? self[1] : nil) }
}
