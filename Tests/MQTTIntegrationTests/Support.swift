import Foundation
import MQTT
import NIOCore
import Testing

/// The package root, from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func findExecutable(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let path = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Integration tests run only where mosquitto is installed (`make test` installs it).
let mosquittoInstalled = findExecutable("mosquitto") != nil
let skipMessage: Comment = "mosquitto is not installed (apt-get install mosquitto mosquitto-clients): integration tests skipped"

struct ProcessResult: Sendable {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// A child process whose output is collected; `wait()` returns it all.
final class Child: @unchecked Sendable {
    // @unchecked: `process` is only started in init and read after exit; the pipes are read on
    // one background queue each, which write the buffers under `lock`.
    let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private let done = DispatchGroup()

    init(_ executable: String, _ arguments: [String], stdin: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        let inPipe = Pipe()
        process.standardInput = inPipe
        try process.run()
        if let stdin {
            inPipe.fileHandleForWriting.write(stdin.data(using: .utf8)!)
        }
        try? inPipe.fileHandleForWriting.close()
        for (pipe, isOut) in [(outPipe, true), (errPipe, false)] {
            done.enter()
            DispatchQueue.global().async { [self] in
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                lock.lock()
                if isOut { out = data } else { err = data }
                lock.unlock()
                done.leave()
            }
        }
    }

    var isRunning: Bool { process.isRunning }

    func terminate() { process.terminate() }

    func wait() async -> ProcessResult {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [self] in
                process.waitUntilExit()
                done.wait()
                continuation.resume()
            }
        }
        let (out, err) = lock.withLock { (self.out, self.err) }
        return ProcessResult(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}

func run(_ executable: String, _ arguments: [String], stdin: String? = nil) async throws -> ProcessResult {
    try await Child(executable, arguments, stdin: stdin).wait()
}

/// A mosquitto started by scripts/mosquitto.sh.
struct Mosquitto: Sendable {
    let port: Int
    let pid: Int32
    let dir: String

    static var script: String { packageRoot.appendingPathComponent("scripts/mosquitto.sh").path }

    /// `extraConf` replaces the default `allow_anonymous true` lines of the listener.
    static func start(extraConf: String? = nil) async throws -> Mosquitto {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weevent-mqtt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if let extraConf {
            try extraConf.write(toFile: "\(dir)/extra.conf", atomically: true, encoding: .utf8)
        }
        return try await start(dir: dir, port: nil)
    }

    static func start(dir: String, port: Int?) async throws -> Mosquitto {
        let result = try await run("/bin/bash", [script, "start", dir] + (port.map { [String($0)] } ?? []))
        let parts = result.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard result.status == 0, parts.count == 3, let port = Int(parts[0]), let pid = Int32(parts[1]) else {
            throw MosquittoError(message: "mosquitto.sh start failed (\(result.status)): \(result.stdout) \(result.stderr)")
        }
        return Mosquitto(port: port, pid: pid, dir: parts[2])
    }

    func stop() async {
        _ = try? await run("/bin/bash", [Self.script, "stop", String(pid)])
    }

    /// Stops (SIGTERM, persistence saved) and starts again on the same port with the same data.
    func restart() async throws -> Mosquitto {
        await stop()
        return try await Self.start(dir: dir, port: port)
    }

    func configuration(clientID: String, cleanSession: Bool = true) -> MQTTConfiguration {
        var c = MQTTConfiguration(host: "127.0.0.1", port: port, clientID: clientID, cleanSession: cleanSession, keepAlive: .seconds(10))
        c.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(50), maxDelay: .milliseconds(500))
        return c
    }
}

struct MosquittoError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Fails instead of hanging when a broker never delivers what the test waits for.
func withTimeout<T: Sendable>(_ seconds: Int, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw MosquittoError(message: "timed out after \(seconds) s: \(what)")
        }
        let result = try await group.next()!
        group.cancelAll()
        return result
    }
}

/// Collects messages from a client, acknowledging each after recording it.
actor Inbox {
    private(set) var payloads: [String] = []
    private(set) var qos: [MQTTQoS] = []
    private var waiters: [(Int, CheckedContinuation<Void, Never>)] = []

    func add(_ message: MQTTMessage) {
        payloads.append(message.payloadString)
        qos.append(message.qos)
        let ready = waiters.filter { $0.0 <= payloads.count }
        waiters.removeAll { $0.0 <= payloads.count }
        for (_, c) in ready { c.resume() }
    }

    func waitFor(count: Int) async {
        if payloads.count >= count { return }
        await withCheckedContinuation { waiters.append((count, $0)) }
    }

    var count: Int { payloads.count }

    /// Starts draining `client.messages` into an inbox.
    static func draining(_ client: MQTTClient) -> Inbox {
        let inbox = Inbox()
        Task {
            for await message in client.messages {
                await inbox.add(message)
                message.ack()
            }
        }
        return inbox
    }
}
