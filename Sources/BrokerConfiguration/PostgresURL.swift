#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Where the shared ledger lives: `postgres://user[:password]@host[:port]/database[?sslmode=MODE]`
/// (`postgresql://` too), as `ledger.postgresql.url` gives it. User and password may be
/// percent-encoded; `sslmode` is `disable` (the default), `prefer` or `require`.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode = .disable) {
        self.host = host
        self.port = port
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
        let (hostPort, database) = main[main.index(after: at)...].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).pair
        guard let database, !database.isEmpty, !database.contains("/") else { return .failure(PostgresURLError("names no database (…/DATABASE)")) }
        var host = String(hostPort)
        var port = 5432
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            host = String(hostPort[..<colon])
            guard let value = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(value) else {
                return .failure(PostgresURLError("port must be an integer in 1...65535"))
            }
            port = value
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return .failure(PostgresURLError("names no host")) }
        var tls = TLSMode.disable
        for item in (query ?? "").split(separator: "&") {
            let (key, value) = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).pair
            guard key == "sslmode" else { return .failure(PostgresURLError("unknown parameter '\(key)' (only sslmode)")) }
            guard let value, let mode = TLSMode(rawValue: String(value)) else {
                return .failure(PostgresURLError("sslmode must be disable, prefer or require"))
            }
            tls = mode
        }
        return .success(
            PostgresURL(
                host: host, port: port, user: user, password: password, database: String(database), tls: tls
            ))
    }

    /// The URL without its password, for logs.
    public var description: String {
        "postgres://\(user)@\(host):\(port)/\(database)" + (tls == .disable ? "" : "?sslmode=\(tls.rawValue)")
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
