import Foundation
import TestSupport
import MQTT
import NIOCore
import Synchronization
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
    private var exitStatus: Int32 = -1
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
                let status = waitForChildExit(process)
                done.wait()
                lock.withLock { exitStatus = status }
                continuation.resume()
            }
        }
        let (out, err, status) = lock.withLock { (self.out, self.err, self.exitStatus) }
        return ProcessResult(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
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

/// Every packet one client sent and received, with the payload of each PUBLISH, to explain a
/// duplicate: did it arrive as a redelivery (DUP=1) of a packet id our session had already
/// completed, or as a new PUBLISH (DUP=0) the broker sent again on its own?
final class PacketLog: Sendable {
    struct Entry: Sendable {
        let sent: Bool
        let packet: MQTTPacket
        let connection: Int
    }

    // Mutex: the trace hook runs on the client's event loop, the test reads after the run.
    private let state = Mutex<(entries: [Entry], connection: Int)>(([], 0))

    func record(sent: Bool, _ packet: MQTTPacket) {
        state.withLock { state in
            if case .connect = packet { state.connection += 1 }
            state.entries.append(Entry(sent: sent, packet: packet, connection: state.connection))
        }
    }

    var entries: [Entry] { state.withLock { $0.entries } }

    /// How a payload went out: "d0 m7 on connection 1, d1 m7 on connection 2".
    func sends(of payload: String) -> String {
        entries.compactMap { entry -> String? in
            guard entry.sent, case .publish(let p) = entry.packet,
                  String(decoding: p.payload.readableBytesView, as: UTF8.self) == payload else { return nil }
            return "d\(p.dup ? 1 : 0) m\(p.packetID ?? 0) on connection \(entry.connection)"
        }.joined(separator: ", ")
    }

    /// Payloads received more than once.
    var duplicatedPayloads: [String] {
        var seen: [String: Int] = [:]
        for entry in entries where !entry.sent {
            if case .publish(let p) = entry.packet { seen[String(decoding: p.payload.readableBytesView, as: UTF8.self), default: 0] += 1 }
        }
        return seen.filter { $0.value > 1 }.map(\.key).sorted()
    }

    /// Payloads delivered more than once where some copy is not the broker resending (DUP=1, same
    /// packet id) a message it had released before: a duplicate our client let through or made. A copy after the broker's
    /// PUBREL for the previous copy's packet id is the broker sending a released message again
    /// (MQTT-4.3.3-1 forbids it; after PUBCOMP the id is free, MQTT-4.3.3-2, so it is a new message).
    func duplicatesNotReleasedBefore(delivered: [String]) -> [String] {
        let entries = self.entries
        var deliveries: [String: Int] = [:]
        for payload in delivered { deliveries[payload, default: 0] += 1 }
        var copies: [String: [Int]] = [:]
        for (index, entry) in entries.enumerated() where !entry.sent {
            if case .publish(let p) = entry.packet {
                copies[String(decoding: p.payload.readableBytesView, as: UTF8.self), default: []].append(index)
            }
        }
        // A copy the client answered without delivering it (a redelivery it knew) is no duplicate.
        return copies.filter { payload, indices in
            deliveries[payload, default: 0] > 1 && zip(indices, indices.dropFirst()).contains { earlier, later in
                guard case .publish(let p) = entries[earlier].packet, let id = p.packetID,
                      case .publish(let again) = entries[later].packet, again.dup, again.packetID == id else { return true }
                return !entries[earlier..<later].contains { entry in
                    if !entry.sent, case .pubrel(let rel) = entry.packet { return rel.packetID == id }
                    return false
                }
            }
        }.map(\.key).sorted()
    }

    /// For each payload received more than once: how each copy arrived and what our client had
    /// answered for the earlier copy's packet id before the next copy came.
    func explainDuplicates(limit: Int = 5) -> String {
        let entries = self.entries
        var arrivals: [String: [Int]] = [:]
        for (index, entry) in entries.enumerated() where !entry.sent {
            if case .publish(let p) = entry.packet {
                arrivals[String(decoding: p.payload.readableBytesView, as: UTF8.self), default: []].append(index)
            }
        }
        var lines: [String] = []
        for (payload, indices) in arrivals.sorted(by: { $0.value[0] < $1.value[0] }) where indices.count > 1 {
            var line = "'\(payload)':"
            for (n, index) in indices.enumerated() {
                guard case .publish(let p) = entries[index].packet else { continue }
                line += " copy \(n + 1) on connection \(entries[index].connection) as PUBLISH d\(p.dup ? 1 : 0) m\(p.packetID ?? 0)"
                if n + 1 < indices.count, let id = p.packetID {
                    // What went between us for this id between this copy and the next.
                    let answers = entries[index..<indices[n + 1]].filter { entry in
                        switch entry.packet {
                        case .pubrel(let a): return a.packetID == id
                        case .pubrec(let a): return a.packetID == id
                        case .pubcomp(let a): return a.packetID == id
                        case .puback(let a): return a.packetID == id
                        default: return false
                        }
                    }.map { ($0.sent ? "sent " : "received ") + $0.packet.type.name }
                    line += " (then \(answers.isEmpty ? "nothing" : answers.joined(separator: ", ")) for m\(id));"
                }
            }
            lines.append(line)
            if lines.count == limit { break }
        }
        return lines.joined(separator: "\n")
    }
}

