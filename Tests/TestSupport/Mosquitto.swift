import Foundation
import Synchronization

/// A real mosquitto from Debian on a free loopback port (scripts/mosquitto.sh), stopped by pid.
/// Restarting keeps its port and persistence directory, so clients reconnect to the same place.
public final class Mosquitto: Sendable {
    public let port: Int
    public let directory: String
    private let currentPID: Mutex<Int32>

    public var pid: Int32 { currentPID.withLock { $0 } }
    public var url: String { "tcp://127.0.0.1:\(port)" }

    static var script: String { repositoryRoot + "/scripts/mosquitto.sh" }

    private init(port: Int, pid: Int32, directory: String) {
        self.port = port
        self.directory = directory
        self.currentPID = Mutex(pid)
    }

    /// Starts one in a new directory; `extraConf` replaces the listener's `allow_anonymous true`
    /// (password_file, certfile ... lines).
    public static func start(extraConf: String? = nil) async throws -> Mosquitto {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weevent-mqtt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let extraConf {
            try extraConf.write(toFile: "\(directory)/extra.conf", atomically: true, encoding: .utf8)
        }
        let (port, pid) = try await launch(directory: directory, port: nil)
        return Mosquitto(port: port, pid: pid, directory: directory)
    }

    /// `mosquitto.sh start DIR [PORT]` prints "PORT PID DIR".
    private static func launch(directory: String, port: Int?) async throws -> (port: Int, pid: Int32) {
        // The script's watchdog stops the broker when this test process ends, whatever ends it.
        let result = try await run(
            "/bin/bash", [script, "start", directory] + (port.map { [String($0)] } ?? []),
            environment: ["MOSQUITTO_PARENT_PID": String(getpid())]
        )
        let parts = result.stdout.split(whereSeparator: \.isWhitespace)
        guard result.status == 0, parts.count == 3, let port = Int(parts[0]), let pid = Int32(parts[1]) else {
            throw ServerScript.ScriptError(message: "mosquitto.sh start failed (\(result.status)): \(result.stdout) \(result.stderr)")
        }
        return (port, pid)
    }

    /// SIGTERM (mosquitto saves its persistence file), then waits for the exit.
    public func stop() async {
        _ = try? await run("/bin/bash", [Self.script, "stop", String(pid)])
    }

    /// Stops and starts again on the same port with the same persistence directory, after
    /// `pause` (during which nobody can reach it).
    public func restart(after pause: Duration = .zero) async throws {
        await stop()
        if pause > .zero { try await Task.sleep(for: pause) }
        let (_, pid) = try await Self.launch(directory: directory, port: port)
        currentPID.withLock { $0 = pid }
    }

    /// `kill -9`: no persistence file saved beyond what autosave wrote; returns once it is gone.
    public func kill() async {
        let pid = self.pid
        _ = Foundation.kill(pid, SIGKILL)
        _ = await eventually(within: .seconds(10)) { Foundation.kill(pid, 0) != 0 }
    }

    /// Starts again on the same port with the same persistence directory (after `kill()`).
    public func relaunch() async throws {
        let (_, pid) = try await Self.launch(directory: directory, port: port)
        currentPID.withLock { $0 = pid }
    }

    /// Stops, deletes the persistence file, and starts again on the same port: a broker that
    /// comes back without its sessions (as one without `persistence true` does).
    public func restartForgettingSessions() async throws {
        await stop()
        try? FileManager.default.removeItem(atPath: directory + "/mosquitto.db")
        let (_, pid) = try await Self.launch(directory: directory, port: port)
        currentPID.withLock { $0 = pid }
    }

    /// mosquitto_pub: one message, or with `lines` every line as a message (-l).
    public func publish(
        topic: String, message: String? = nil, lines: [String]? = nil, qos: Int = 1, user: String? = nil, password: String? = nil
    ) async throws {
        var arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "\(qos)", "-t", topic]
        if let user, let password { arguments += ["-u", user, "-P", password] }
        if let message { arguments += ["-m", message] } else { arguments += ["-l"] }
        let result = try await run("/usr/bin/mosquitto_pub", arguments, stdin: lines.map { $0.joined(separator: "\n") + "\n" })
        guard result.status == 0 else {
            throw ServerScript.ScriptError(message: "mosquitto_pub failed with \(result.status): \(result.stderr)")
        }
    }
}

/// mosquitto_sub in the background, collecting the lines it prints.
public final class MosquittoSubscriber: Sendable {
    private let child: Child
    private let outputPath: String

    public init(
        port: Int, topic: String, qos: Int = 1, clientID: String? = nil, cleanSession: Bool = true, user: String? = nil,
        password: String? = nil
    ) throws {
        outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("sub-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        var arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "\(qos)", "-t", topic]
        if let user, let password { arguments += ["-u", user, "-P", password] }
        if let clientID { arguments += ["-i", clientID] }
        if !cleanSession { arguments += ["-c"] }
        // Through a shell into a file, so the lines can be read while it runs.
        let command = (["/usr/bin/mosquitto_sub"] + arguments).map { "'\($0)'" }.joined(separator: " ")
        child = try Child("/bin/sh", ["-c", "exec \(command) >'\(outputPath)'"])
    }

    /// The lines printed so far (without the markers of `waitUntilSubscribed`).
    public var lines: [String] {
        ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            .filter { $0 != Self.marker }
    }

    static let marker = "__subscribed__"

    /// Waits until mosquitto_sub's subscription is in place: publishes a marker to `topic` (a
    /// topic name its filter matches) until one arrives. A message published before that may be
    /// missed by a non-persistent subscriber, which a loaded run showed. False after `timeout`.
    /// `user` and `password` publish the marker on a mosquitto that wants accounts.
    public func waitUntilSubscribed(
        _ mosquitto: Mosquitto, topic: String, timeout: Duration = .seconds(30), user: String? = nil, password: String? = nil
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            try await mosquitto.publish(topic: topic, message: Self.marker, qos: 0, user: user, password: password)
            if await eventually(
                within: .milliseconds(500),
                {
                    ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").contains(Self.marker)
                })
            {
                return true
            }
        }
        return false
    }

    /// Waits until `count` lines arrived or `timeout` passed; returns the lines.
    public func waitFor(count: Int, timeout: Duration = .seconds(20)) async -> [String] {
        _ = await eventually(within: timeout) { lines.count >= count }
        return lines
    }

    /// Stops it without waiting (for a `defer`).
    public func stop() {
        child.kill()
    }

    /// Stops the subscriber, then returns every line it printed: read after it ended, so no line
    /// it acknowledged to the broker can be missed.
    public func stopAndCollect() async -> [String] {
        child.kill()
        _ = await child.wait()
        let collected = lines
        try? FileManager.default.removeItem(atPath: outputPath)
        return collected
    }
}
