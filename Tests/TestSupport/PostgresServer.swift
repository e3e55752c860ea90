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

    /// Copies `primary` (pg_basebackup) and starts the copy as its streaming standby, whose
    /// `application_name` is `name` (to name it in `synchronous_standby_names`).
    public static func startStandby(of primary: PostgresServer, name: String) async throws -> PostgresServer {
        let output = try await ServerScript.postgres.run(["standby", String(primary.port), name])
        let started = try ServerScript.parseStarted(output, from: "postgres.sh standby")
        return PostgresServer(port: started.port, pid: started.pid, directory: started.directory)
    }

    /// Promotes this standby to a primary (`pg_ctl promote`, waiting until it takes writes).
    public func promote() async throws {
        _ = try await ServerScript.postgres.run(["promote", directory])
    }

    /// `kill -9` of the postmaster: no shutdown, no checkpoint, as when its machine is lost.
    public func kill() {
        _ = Foundation.kill(pid, SIGKILL)
    }

    public func stop() async throws {
        try await ServerScript.postgres.stop(pid: pid)
    }

    public func restart() async throws -> PostgresServer {
        try await Self.start(port: port, directory: directory)
    }

    /// Runs SQL with psql (on the `postgres` database, `search_path` set to `schema` when given);
    /// its output, or an error with psql's message.
    /// As `user` (a role of the server; the `postgres` superuser by default).
    @discardableResult
    public func psql(_ sql: String, schema: String? = nil, user: String = "postgres") async throws -> String {
        try await TestSupport.psql(port: port, sql, schema: schema, user: user)
    }
}

extension PostgresServer {
    /// A primary and its streaming standby `standby1` (made synchronous when asked, once the
    /// primary says it is), stopped after `body` whatever it did (a killed primary is left gone).
    public static func withReplicatedPair(synchronous: Bool, _ body: (PostgresServer, PostgresServer) async throws -> Void) async throws {
        let primary = try await PostgresServer.start()
        let standby = try await PostgresServer.startStandby(of: primary, name: "standby1")
        let outcome: Result<Void, any Error>
        do {
            if synchronous { try await primary.makeSynchronous(standby: "standby1") }
            try await body(primary, standby)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        try? await standby.stop()
        try? await primary.stop()
        try outcome.get()
    }

    /// Names the standby `name` synchronous and waits (up to 30 s) until this primary says it is.
    public func makeSynchronous(standby name: String) async throws {
        try await psql("ALTER SYSTEM SET synchronous_standby_names = '\(name)'; SELECT pg_reload_conf();")
        let synchronous = try await eventually(within: .seconds(30)) {
            try await psql("SELECT sync_state FROM pg_stat_replication WHERE application_name = '\(name)'")
                .trimmingCharacters(in: .whitespacesAndNewlines) == "sync"
        }
        guard synchronous else { throw SpawnError(message: "standby \(name) did not become synchronous within 30 s") }
    }

    /// `postgres://` URL naming `servers` in order, for whichever is the writable primary.
    public static func url(_ servers: [PostgresServer], database: String = "postgres") -> String {
        "postgres://postgres@" + servers.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") + "/\(database)?target_session_attrs=read-write"
    }
}

/// psql on the loopback server on `port` (the `postgres` database; `search_path` set to `schema`
/// when given), as `user`: its output, or an error with psql's message.
@discardableResult
public func psql(port: Int, _ sql: String, schema: String? = nil, user: String = "postgres") async throws -> String {
    let script = (schema.map { "SET search_path TO \($0);\n" } ?? "") + sql
    let result = try await run(
        "/usr/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", "postgres", "-At"],
        stdin: script
    )
    guard result.status == 0 else { throw ServerScript.ScriptError(message: "psql exited with \(result.status): \(result.stderr)") }
    return result.stdout
}

/// A schema name no other test uses.
public func uniqueSchema(_ prefix: String = "t") -> String {
    "\(prefix)_\(UInt32.random(in: .min ... .max))"
}

/// What an outsider can send on the broker's commit channel: a role that may connect to the
/// database needs no privilege to NOTIFY.
public enum ForgedNotice {
    /// A role with LOGIN and no grant at all (created once per server).
    public static func createIntruder(on server: PostgresServer, name: String = "intruder") async throws {
        try await server.psql("DO $$ BEGIN CREATE ROLE \(name) LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    }

    /// A commit notice in the clear format the broker once believed: `<schema> <group> <head>
    /// <writer> <base64 records>`, one event at `position` (position, block, sequence, timestamp,
    /// then topic, content and extensions with their lengths), written by hand as an attacker would.
    public static func clearNotice(schema: String, group: String = "1", position: UInt64, topic: String, content: String) -> String {
        var records: [UInt8] = []
        func number(_ value: UInt64, _ width: Int) {
            for shift in stride(from: (width - 1) * 8, through: 0, by: -8) { records.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        number(position, 8)
        number(position, 8)  // block height
        number(position, 8)  // sequence
        number(UInt64(Date().timeIntervalSince1970 * 1000), 8)
        number(UInt64(topic.utf8.count), 2)
        records += Array(topic.utf8)
        number(UInt64(content.utf8.count), 4)
        records += Array(content.utf8)
        number(0, 4)
        return "\(schema) \(group) \(position) attacker " + Data(records).base64EncodedString()
    }

    /// A head no store will reach, in the clear format.
    public static func absurdHead(schema: String, group: String = "1") -> String {
        "\(schema) \(group) \(UInt64.max) attacker"
    }

    /// The sealed format with a key of the attacker's own: the right shape, the wrong key.
    public static func wronglySealed(schema: String) -> String {
        let writer = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let sealed = Data((0..<80).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        return "\(schema) \(writer) 1 \(sealed)"
    }

    /// Sends `payload` on the broker's commit channel as `user`.
    public static func send(_ payload: String, on server: PostgresServer, as user: String = "intruder") async throws {
        try await server.psql("NOTIFY weevent_commits, '\(payload)'", user: user)
    }
}
