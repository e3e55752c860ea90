import TestSupport
import Foundation
import ZooKeeper

/// A real ZooKeeper server started by scripts/zookeeper.sh on a free loopback port.
struct ZooKeeperServer: Sendable {
    let port: Int
    let pid: Int32
    let directory: String

    var hosts: String { "127.0.0.1:\(port)" }

    static let script: String = {
        // Tests/ZooKeeperTests/ZooKeeperServer.swift -> package root
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/zookeeper.sh").path
    }()

    /// One server shared by the tests that do not stop it.
    static let shared = Task { try await ZooKeeperServer.start() }

    /// Starts a server (or restarts one on its port and data directory).
    static func start(port: Int? = nil, directory: String? = nil) async throws -> ZooKeeperServer {
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

    func stop() async throws {
        _ = try await Self.run(["stop", String(pid)])
    }

    func restart() async throws -> ZooKeeperServer {
        try await Self.start(port: port, directory: directory)
    }

    /// A four-letter-word command's answer (the script whitelists them all).
    func command(_ word: String) async throws -> String {
        try await Self.run(["cmd", String(port), word])
    }

    struct ScriptError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
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
func uniqueRoot(_ name: String = #function) -> String {
    let clean = name.filter { $0.isLetter || $0.isNumber }
    return "/test-\(clean.prefix(40))-\(UInt32.random(in: .min ... .max))"
}

/// Waits (at most `timeout`, only so a failing test cannot hang) for the first element
/// of `sequence` that satisfies `predicate`.
func firstElement<S: AsyncSequence & Sendable>(
    of sequence: S,
    within timeout: Duration = .seconds(30),
    where predicate: @escaping @Sendable (S.Element) -> Bool
) async throws -> S.Element? where S.Element: Sendable {
    do {
        return try await withDeadline(timeout, "an element of the sequence") {
            for try await element in sequence where predicate(element) { return element }
            return nil
        }
    } catch is DeadlineExceeded {
        return nil
    }
}

/// Evaluates `condition` repeatedly until it holds or `timeout` passes (a guard against hangs).
func eventually(within timeout: Duration = .seconds(30), _ condition: @Sendable () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

extension ZooKeeperError.Code {
    static func of(_ error: any Error) -> ZooKeeperError.Code? {
        (error as? ZooKeeperError)?.code
    }
}
