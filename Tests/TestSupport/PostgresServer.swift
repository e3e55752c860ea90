import Foundation

/// A real PostgreSQL server from Debian, started by scripts/postgres.sh on a free loopback port
/// (as the `postgres` user when the tests run as root), trusting local connections.
public struct PostgresServer: Sendable {
    public let port: Int
    public let pid: Int32
    public let directory: String

    /// `ledger.postgresql.url` for database `database`.
    public func url(database: String = "postgres") -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)" }

    /// One server shared by the tests that do not stop it.
    public static let shared = Task { try await PostgresServer.start() }

    /// Starts a server (or restarts one on its port and data directory).
    public static func start(port: Int? = nil, directory: String? = nil) async throws -> PostgresServer {
        let started = try await ServerScript.postgres.start(port: port, directory: directory)
        return PostgresServer(port: started.port, pid: started.pid, directory: started.directory)
    }

    public func stop() async throws {
        try await ServerScript.postgres.stop(pid: pid)
    }

    public func restart() async throws -> PostgresServer {
        try await Self.start(port: port, directory: directory)
    }

    /// Runs SQL with psql (on the `postgres` database, `search_path` set to `schema` when given);
    /// its output, or an error with psql's message.
    @discardableResult
    public func psql(_ sql: String, schema: String? = nil) async throws -> String {
        let script = (schema.map { "SET search_path TO \($0);\n" } ?? "") + sql
        let result = try await run(
            "/usr/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-At"],
            stdin: script
        )
        guard result.status == 0 else { throw ServerScript.ScriptError(message: "psql exited with \(result.status): \(result.stderr)") }
        return result.stdout
    }
}

/// A schema name no other test uses.
public func uniqueSchema(_ prefix: String = "t") -> String {
    "\(prefix)_\(UInt32.random(in: .min ... .max))"
}
