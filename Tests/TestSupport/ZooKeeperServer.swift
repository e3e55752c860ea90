import Foundation

/// A real ZooKeeper server started by scripts/zookeeper.sh on a free loopback port.
public struct ZooKeeperServer: Sendable {
    public let port: Int
    public let pid: Int32
    public let directory: String

    public var hosts: String { "127.0.0.1:\(port)" }

    static let script: String = {
        // Tests/TestSupport/ZooKeeperServer.swift -> package root
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/zookeeper.sh").path
    }()

    /// One server shared by the tests that do not stop it.
    public static let shared = Task { try await ZooKeeperServer.start() }

    /// Starts a server (or restarts one on its port and data directory).
    public static func start(port: Int? = nil, directory: String? = nil) async throws -> ZooKeeperServer {
        var arguments = ["start"]
        arguments.append(port.map(String.init) ?? "")  // empty: a free port
        if let directory { arguments.append(directory) }
        let output = try await run(arguments)
        var fields: [String: String] = [:]
        for pair in output.split(whereSeparator: \.isWhitespace) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let port = fields["port"].flatMap(Int.init), let pid = fields["pid"].flatMap(Int32.init), let dir = fields["dir"] else {
            throw ScriptError(message: "unexpected output from zookeeper.sh: \(output)")
        }
        return ZooKeeperServer(port: port, pid: pid, directory: dir)
    }

    public func stop() async throws {
        _ = try await Self.run(["stop", String(pid)])
    }

    public func restart() async throws -> ZooKeeperServer {
        try await Self.start(port: port, directory: directory)
    }

    /// A four-letter-word command's answer (the script whitelists them all).
    public func command(_ word: String) async throws -> String {
        try await Self.run(["cmd", String(port), word])
    }

    public struct ScriptError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    private static func run(_ arguments: [String]) async throws -> String {
        // Foundation's Process did not notice this script's exit here (its children live on with
        // setsid), so plain system(3), on a thread of its own since it blocks.
        let outputFile = "/tmp/zk-script-\(getpid())-\(UInt32.random(in: .min ... .max)).out"
        let quoted = ([script] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let command = "ZK_PARENT_PID=\(getpid()) /bin/bash \(quoted) >'\(outputFile)'"
        let status: Int32 = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: system(command)) }.start()
        }
        let text = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        unlink(outputFile)
        guard status == 0 else {
            throw ScriptError(message: "zookeeper.sh \(arguments.joined(separator: " ")) exited with \(status): \(text)")
        }
        return text
    }
}

/// A unique root node per test, so tests share a server without seeing each other.
public func uniqueRoot(_ name: String = #function) -> String {
    let clean = name.filter { $0.isLetter || $0.isNumber }
    return "/test-\(clean.prefix(40))-\(UInt32.random(in: .min ... .max))"
}

