import Foundation

/// One of scripts/*.sh that start throw-away servers on free loopback ports (zookeeper.sh,
/// postgres.sh): `start [PORT] [DIR]` prints `port=.. pid=.. dir=..`, `stop PID` stops it.
/// The test process passes its pid, so a server goes when the tests do, even after a crash.
public struct ServerScript: Sendable {
    public let name: String
    /// The environment variable the script watches the test process by.
    let parentVariable: String

    public static let zookeeper = ServerScript(name: "zookeeper.sh", parentVariable: "ZK_PARENT_PID")
    public static let postgres = ServerScript(name: "postgres.sh", parentVariable: "PG_PARENT_PID")

    public var path: String {
        // Tests/TestSupport/ServerScript.swift -> package root
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/\(name)").path
    }

    public struct Started: Sendable {
        public let port: Int
        public let pid: Int32
        public let directory: String
    }

    /// Starts a server (or restarts one on its port and data directory).
    public func start(port: Int? = nil, directory: String? = nil) async throws -> Started {
        var arguments = ["start", port.map(String.init) ?? ""]  // empty: a free port
        if let directory { arguments.append(directory) }
        return try Self.parseStarted(try await run(arguments), from: name)
    }

    /// The `port=.. pid=.. dir=..` a start prints.
    static func parseStarted(_ output: String, from name: String) throws -> Started {
        let fields = Self.fields(output)
        guard let port = fields["port"].flatMap(Int.init), let pid = fields["pid"].flatMap(Int32.init), let dir = fields["dir"] else {
            throw ScriptError(message: "unexpected output from \(name): \(output)")
        }
        return Started(port: port, pid: pid, directory: dir)
    }

    public func stop(pid: Int32) async throws {
        _ = try await run(["stop", String(pid)])
    }

    /// The `key=value` words a script printed.
    static func fields(_ output: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in output.split(whereSeparator: \.isWhitespace) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    public struct ScriptError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public func run(_ arguments: [String]) async throws -> String {
        // Foundation's Process did not notice these scripts' exit here (their children live on
        // with setsid), so plain system(3), on a thread of its own since it blocks.
        let outputFile = "/tmp/\(name)-\(getpid())-\(UInt32.random(in: .min ... .max)).out"
        let quoted = ([path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let command = "\(parentVariable)=\(getpid()) /bin/bash \(quoted) >'\(outputFile)'"
        let status: Int32 = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: system(command)) }.start()
        }
        let text = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        unlink(outputFile)
        guard status == 0 else {
            throw ScriptError(message: "\(name) \(arguments.joined(separator: " ")) exited with \(status): \(text)")
        }
        return text
    }
}
