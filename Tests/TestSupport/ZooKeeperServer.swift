import Foundation

/// A real ZooKeeper server started by scripts/zookeeper.sh on a free loopback port.
public struct ZooKeeperServer: Sendable {
    public let port: Int
    public let pid: Int32
    public let directory: String

    public var hosts: String { "127.0.0.1:\(port)" }

    /// One server shared by the tests that do not stop it.
    public static let shared = Task { try await ZooKeeperServer.start() }

    /// Starts a server (or restarts one on its port and data directory).
    public static func start(port: Int? = nil, directory: String? = nil) async throws -> ZooKeeperServer {
        let started = try await ServerScript.zookeeper.start(port: port, directory: directory)
        return ZooKeeperServer(port: started.port, pid: started.pid, directory: started.directory)
    }

    public func stop() async throws {
        try await ServerScript.zookeeper.stop(pid: pid)
    }

    public func restart() async throws -> ZooKeeperServer {
        try await Self.start(port: port, directory: directory)
    }

    /// A four-letter-word command's answer (the script whitelists them all).
    public func command(_ word: String) async throws -> String {
        try await ServerScript.zookeeper.run(["cmd", String(port), word])
    }
}

/// A unique root node per test, so tests share a server without seeing each other.
public func uniqueRoot(_ name: String = #function) -> String {
    let clean = name.filter { $0.isLetter || $0.isNumber }
    return "/test-\(clean.prefix(40))-\(UInt32.random(in: .min ... .max))"
}
