import Foundation
import TestSupport
import GRDB

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// Runs one of our scripts with system(3), output to a file: Foundation's Process does not
/// always notice the end of a script whose children live on in their own session (setsid).
func runScript(_ arguments: [String], environment: String = "") -> (Int32, String) {
    let outputFile = "/tmp/weevent-script-\(getpid())-\(UInt32.random(in: .min ... .max)).out"
    let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
    let status = system("\(environment) /bin/bash \(quoted) >'\(outputFile)'")
    let text = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
    unlink(outputFile)
    return (status, text)
}

/// A real mosquitto from Debian on a free loopback port (scripts/mosquitto.sh), stopped by pid.
final class Mosquitto: @unchecked Sendable {
    // @unchecked: pid changes only in start/restart, which a test calls from one task.
    let port: Int
    let directory: String
    private(set) var pid: Int32

    init() throws {
        let (status, output) = runScript([repositoryRoot + "/scripts/mosquitto.sh", "start"])
        let parts = output.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
        guard status == 0, parts.count == 3, let port = Int(parts[0]), let pid = Int32(parts[1]) else {
            throw BrokerError("mosquitto did not start: \(output)")
        }
        self.port = port
        self.pid = pid
        self.directory = parts[2]
    }

    var url: String { "tcp://127.0.0.1:\(port)" }

    func stop() throws {
        _ = runScript([repositoryRoot + "/scripts/mosquitto.sh", "stop", "\(pid)"])
    }

    /// Stops and starts again on the same port with the same persistence directory.
    func restart() throws {
        try stop()
        let (status, output) = runScript([repositoryRoot + "/scripts/mosquitto.sh", "start", directory, "\(port)"])
        let parts = output.split(separator: " ")
        guard status == 0, parts.count == 3, let pid = Int32(parts[1]) else { throw BrokerError("mosquitto did not restart: \(output)") }
        self.pid = pid
    }

    /// mosquitto_pub: one message, or with `lines` every line as a message (-l).
    func publish(topic: String, message: String? = nil, lines: [String]? = nil, qos: Int = 1) throws {
        var arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "\(qos)", "-t", topic]
        if let message { arguments += ["-m", message] } else { arguments += ["-l"] }
        let (status, _) = try runProcess("/usr/bin/mosquitto_pub", arguments, input: lines.map { $0.joined(separator: "\n") + "\n" })
        guard status == 0 else { throw BrokerError("mosquitto_pub failed with \(status)") }
    }
}

/// mosquitto_sub in the background, collecting what it prints.
final class MosquittoSubscriber: @unchecked Sendable {
    // @unchecked: `process` and the output file are set once in init.
    let process = Process()
    let outputPath: String

    init(port: Int, topic: String, qos: Int = 1, clientID: String? = nil, cleanSession: Bool = true) throws {
        outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("sub-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
        var arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "\(qos)", "-t", topic]
        if let clientID { arguments += ["-i", clientID] }
        if !cleanSession { arguments += ["-c"] }
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        try process.run()
    }

    var lines: [String] {
        ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Waits until `count` lines arrived or `timeout` passed; returns the lines.
    func waitFor(count: Int, timeout: Duration = .seconds(20)) async -> [String] {
        let deadline = ContinuousClock.now + timeout
        while lines.count < count && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return lines
    }

    func stop() {
        _ = stopAndCollect()
    }

    /// Stops the subscriber, then returns every line it printed: read after it ended, so no line
    /// it acknowledged to the broker can be missed.
    func stopAndCollect() -> [String] {
        // SIGKILL: the test runner blocks SIGTERM and children inherit that mask.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        waitForChildExit(process)
        let collected = lines
        try? FileManager.default.removeItem(atPath: outputPath)
        return collected
    }
}

/// A real ZooKeeper from Debian on a free loopback port (scripts/zookeeper.sh), stopped by pid.
final class ZooKeeperServer: @unchecked Sendable {
    // @unchecked: pid changes only in start/restart, called from one task.
    let port: Int
    let directory: String
    private(set) var pid: Int32

    init(port: Int? = nil, directory: String? = nil) throws {
        var arguments = [repositoryRoot + "/scripts/zookeeper.sh", "start"]
        if let port { arguments.append("\(port)") }
        if let directory { arguments.append(directory) }
        let (status, output) = runScript(arguments, environment: "ZK_PARENT_PID=\(getpid())")
        var values: [String: String] = [:]
        for field in output.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = field.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { values[String(kv[0])] = String(kv[1]) }
        }
        guard status == 0, let p = values["port"].flatMap(Int.init), let pid = values["pid"].flatMap(Int32.init), let dir = values["dir"] else {
            throw BrokerError("zookeeper did not start: \(output)")
        }
        self.port = p
        self.pid = pid
        self.directory = dir
    }

    var hosts: String { "127.0.0.1:\(port)" }

    func stop() throws {
        _ = runScript([repositoryRoot + "/scripts/zookeeper.sh", "stop", "\(pid)"])
    }

    func restart() throws {
        try stop()
        let again = try ZooKeeperServer(port: port, directory: directory)
        pid = again.pid
    }
}

/// What a broker instance's ledger holds for a topic, read straight from its SQLite file.
func storedContents(_ broker: BrokerProcess, topic: String, group: String = "1") throws -> [String] {
    let path = "\(broker.directory)/data/group-\(group)/ledger.sqlite"
    guard FileManager.default.fileExists(atPath: path) else { return [] }
    var config = Configuration()
    config.readonly = true
    let db = try DatabaseQueue(path: path, configuration: config)
    defer { try? db.close() }
    return try db.read { db in
        try Data.fetchAll(db, sql: "SELECT content FROM events WHERE topic = ? ORDER BY position", arguments: [topic])
            .map { String(decoding: $0, as: UTF8.self) }
    }
}


