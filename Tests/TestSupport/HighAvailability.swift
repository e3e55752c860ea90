import Foundation
import Synchronization

/// A ZooKeeper ensemble on loopback (scripts/zookeeper.sh ensemble), whose servers can be
/// killed and started again one by one.
public final class ZooKeeperEnsemble: Sendable {
    public struct Member: Sendable {
        public let port: Int
        public let pid: Int32
        public let directory: String
    }

    public let directory: String
    /// The connection string (`127.0.0.1:P1,127.0.0.1:P2,...`).
    public let hosts: String
    private let state: Mutex<[Member]>
    public var members: [Member] { state.withLock { $0 } }

    private init(directory: String, hosts: String, members: [Member]) {
        self.directory = directory
        self.hosts = hosts
        self.state = Mutex(members)
    }

    public static func start(count: Int = 3) async throws -> ZooKeeperEnsemble {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weevent-zk-ensemble-\(UUID().uuidString)").path
        let output = try await ServerScript.zookeeper.run(["ensemble", String(count), directory])
        var members: [Member] = []
        var hosts = ""
        for line in output.split(separator: "\n") {
            if line.hasPrefix("hosts=") {
                hosts = String(line.dropFirst("hosts=".count))
            } else if line.hasPrefix("port=") {
                let started = try ServerScript.parseStarted(String(line), from: "zookeeper.sh ensemble")
                members.append(Member(port: started.port, pid: started.pid, directory: started.directory))
            }
        }
        guard members.count == count, !hosts.isEmpty else {
            throw ServerScript.ScriptError(message: "unexpected output from zookeeper.sh ensemble: \(output)")
        }
        return ZooKeeperEnsemble(directory: directory, hosts: hosts, members: members)
    }

    /// `kill -9` of server `index`.
    public func kill(_ index: Int) {
        _ = Foundation.kill(members[index].pid, SIGKILL)
    }

    /// Starts server `index` again from its directory, on its port; returns once it serves.
    public func restart(_ index: Int) async throws {
        let member = members[index]
        let output = try await ServerScript.zookeeper.run(["member", member.directory])
        let started = try ServerScript.parseStarted(output, from: "zookeeper.sh member")
        state.withLock { $0[index] = Member(port: started.port, pid: started.pid, directory: started.directory) }
    }

    public func stop() async {
        for member in members { try? await ServerScript.zookeeper.stop(pid: member.pid) }
    }
}

/// One member of a Patroni-managed PostgreSQL cluster (scripts/patroni.sh): Patroni and its
/// PostgreSQL, killed together as when the member's machine is lost, and started again.
public final class PatroniMember: Sendable {
    public enum Mode: String, Sendable {
        /// Patroni's synchronous mode: a COMMIT waits for the synchronous standby.
        case sync
        /// Standbys stream; a COMMIT waits for the primary alone.
        case async
    }

    public let name: String
    public let directory: String
    public let zookeeper: String
    public let mode: Mode
    /// PostgreSQL's port and Patroni's REST API's, kept across restarts.
    public let port: Int
    public let api: Int
    private let currentPID: Mutex<Int32>
    public var pid: Int32 { currentPID.withLock { $0 } }

    static let script = ServerScript(name: "patroni.sh", parentVariable: "HA_PARENT_PID")

    private init(name: String, directory: String, zookeeper: String, mode: Mode, port: Int, api: Int, pid: Int32) {
        self.name = name
        self.directory = directory
        self.zookeeper = zookeeper
        self.mode = mode
        self.port = port
        self.api = api
        self.currentPID = Mutex(pid)
    }

    /// Starts member `name` in `directory` (a new one copies the cluster's primary, or
    /// initialises the cluster when it is the first); returns once it runs.
    public static func start(name: String, directory: String, zookeeper: String, mode: Mode = .sync) async throws -> PatroniMember {
        let output = try await script.run(["start", name, directory, zookeeper, mode.rawValue])
        let fields = ServerScript.fields(output)
        guard let port = fields["port"].flatMap(Int.init), let api = fields["api"].flatMap(Int.init), let pid = fields["pid"].flatMap(Int32.init) else {
            throw ServerScript.ScriptError(message: "unexpected output from patroni.sh start: \(output)")
        }
        return PatroniMember(name: name, directory: directory, zookeeper: zookeeper, mode: mode, port: port, api: api, pid: pid)
    }

    /// Patroni's view of the member: `master running`, `replica streaming`, ... or `down`.
    public func role() async -> String {
        ((try? await Self.script.run(["role", directory])) ?? "down").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public var isPrimary: Bool {
        get async {
            let role = await role()
            return role.hasPrefix("master") || role.hasPrefix("primary")
        }
    }

    /// `kill -9` of Patroni and its PostgreSQL.
    public func kill() async throws {
        _ = try await Self.script.run(["kill", directory])
    }

    /// Starts the member again from its directory (a lost primary comes back as a standby).
    public func restart() async throws {
        let started = try await Self.start(name: name, directory: directory, zookeeper: zookeeper, mode: mode)
        currentPID.withLock { $0 = started.pid }
    }

    public func stop() async {
        _ = try? await Self.script.run(["stop", String(pid)])
    }

    /// psql on this member's PostgreSQL (the `postgres` database, as `postgres`).
    @discardableResult
    public func psql(_ sql: String) async throws -> String {
        try await TestSupport.psql(port: port, sql)
    }
}
