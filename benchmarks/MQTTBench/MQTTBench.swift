import Foundation
import MQTT
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Messages/s and CPU per message at QoS 0, 1 and 2, 100-byte payloads, from our client through
/// a local mosquitto to our client.
///
///     MQTTBench PORT MOSQUITTO_PID [COUNT]
///
/// The publishing and the subscribing client each run in a child process of their own
/// (`MQTTBench publish|subscribe PORT QOS COUNT`), so the CPU each one spends is measured
/// separately (getrusage of the child, all its threads) and neither disturbs the other's
/// scheduling. mosquitto's CPU comes from /proc/PID/stat; it handles both directions of every
/// message (in from the publisher, out to the subscriber).
@main
struct MQTTBench {
    static func main() async throws {
        let args = CommandLine.arguments
        if args.count == 5, let role = Role(rawValue: args[1]), let port = Int(args[2]),
            let qosRaw = UInt8(args[3]), let qos = MQTTQoS(rawValue: qosRaw), let count = Int(args[4])
        {
            switch role {
            case .publish: try await publisher(port: port, qos: qos, count: count)
            case .subscribe: try await subscriber(port: port, qos: qos, count: count)
            }
            return
        }
        guard args.count >= 3, let port = Int(args[1]), let brokerPID = Int32(args[2]) else {
            print("usage: MQTTBench PORT MOSQUITTO_PID [COUNT]")
            exit(2)
        }
        let count = args.count > 3 ? Int(args[3]) ?? 50_000 : 50_000
        try orchestrate(port: port, brokerPID: brokerPID, count: count)
    }

    enum Role: String {
        case publish, subscribe
    }

    // MARK: The orchestrating process

    static func orchestrate(port: Int, brokerPID: Int32, count: Int) throws {
        signal(SIGPIPE, SIG_IGN)
        print("CPU per message: the publishing and the subscribing client are separate processes; mosquitto handles both directions.")
        print("")
        print(
            "| QoS | received/sent | msg/s | publisher CPU s | subscriber CPU s | mosquitto CPU s | publisher µs/msg | subscriber µs/msg | publisher + subscriber µs/msg | mosquitto µs/msg |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for qos in MQTTQoS.allCases {
            let sub = try ChildProcess(role: .subscribe, port: port, qos: qos, count: count)
            guard sub.readLine() == "ready" else { throw BenchError("subscriber did not start") }
            let pub = try ChildProcess(role: .publish, port: port, qos: qos, count: count)
            guard pub.readLine() == "ready" else { throw BenchError("publisher did not start") }
            let brokerStart = cpuSeconds(pid: brokerPID)
            let start = monotonicNow()
            pub.writeLine("go")
            // "done CPU_SECONDS"
            let pubCPU = try pub.readDone().cpu
            if qos == .atMostOnce {
                // QoS 0 may be dropped under load: give the rest a moment, then count what came.
                Thread.sleep(forTimeInterval: 2)
                sub.writeLine("stop")
            }
            // "done CPU_SECONDS RECEIVED LAST_ARRIVAL_MONOTONIC"
            let subDone = try sub.readDone()
            let broker = cpuSeconds(pid: brokerPID) - brokerStart
            pub.wait()
            sub.wait()
            let received = subDone.received
            let elapsed = max(subDone.lastArrival - start, 1e-9)
            let perPub = pubCPU / Double(count) * 1e6
            let perSub = subDone.cpu / Double(max(received, 1)) * 1e6
            let perBroker = broker / Double(count) * 1e6
            print(
                "| \(qos.rawValue) | \(received)/\(count) | \(Int(Double(received) / elapsed)) | \(fmt(pubCPU)) | \(fmt(subDone.cpu)) | \(fmt(broker)) | \(fmt(perPub)) | \(fmt(perSub)) | \(fmt(perPub + perSub)) | \(fmt(perBroker)) |"
            )
        }
    }

    // MARK: The client processes

    /// Connects, says "ready", publishes COUNT messages after "go" with a window of outstanding
    /// publishes (as a bridge keeps), waits for every acknowledgement, says "done CPU".
    nonisolated static func publisher(port: Int, qos: MQTTQoS, count: Int) async throws {
        let client = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "bench-pub-\(qos.rawValue)"))
        try await client.connect()
        let topic = "bench/\(qos.rawValue)"
        let payload = ByteBuffer(repeating: 0x61, count: 100)
        say("ready")
        guard Swift.readLine() == "go" else { return }
        let cpuStart = ownCPUSeconds()
        var window: [EventLoopFuture<Void>] = []
        window.reserveCapacity(1000)
        for _ in 0..<count {
            window.append(client.startPublish(to: topic, payload: payload, qos: qos))
            if window.count >= 1000 {
                try await window[499].get()
                window.removeFirst(500)
            }
        }
        for f in window { try await f.get() }
        let cpu = ownCPUSeconds() - cpuStart
        say("done \(cpu)")
        await client.disconnect()
    }

    /// Connects and subscribes, says "ready", acknowledges each message as it arrives; after
    /// COUNT messages (or "stop") says "done CPU RECEIVED LAST_ARRIVAL".
    nonisolated static func subscriber(port: Int, qos: MQTTQoS, count: Int) async throws {
        let client = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "bench-sub-\(qos.rawValue)"))
        try await client.connect()
        try await client.subscribe(to: [MQTTSubscription(topicFilter: "bench/\(qos.rawValue)", qos: qos)])
        let cpuStart = ownCPUSeconds()
        say("ready")
        Thread.detachNewThread {
            // "stop" (or the orchestrator going away) ends the stream.
            _ = Swift.readLine()
            Task { await client.disconnect() }
        }
        var received = 0
        var lastArrival = monotonicNow()
        for await message in client.messages {
            message.ack()
            received += 1
            lastArrival = monotonicNow()
            if received == count { break }
        }
        let cpu = ownCPUSeconds() - cpuStart
        say("done \(cpu) \(received) \(lastArrival)")
        await client.disconnect()
    }

    // MARK: Measuring

    static func cpuSeconds(pid: Int32) -> Double {
        // /proc/PID/stat fields 14 and 15: utime and stime in clock ticks.
        guard let file = fopen("/proc/\(pid)/stat", "r") else { return 0 }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 4096)
        guard fgets(&buffer, 4096, file) != nil else { return 0 }
        let line = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let close = line.lastIndex(of: ")") else { return 0 }
        let fields = line[line.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); utime is field 14 -> index 11, stime index 12.
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func ownCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    /// CLOCK_MONOTONIC is system-wide, so the children's timestamps compare with ours.
    static func monotonicNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// One line to the orchestrator, unbuffered.
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func fmt(_ v: Double) -> String { String(format: "%.2f", v) }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// This executable run in one client role, spoken to by lines on stdin/stdout.
final class ChildProcess {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffered: [UInt8] = []

    init(role: MQTTBench.Role, port: Int, qos: MQTTQoS, count: Int) throws {
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = [role.rawValue, String(port), String(qos.rawValue), String(count)]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    func writeLine(_ line: String) {
        // The child may be gone already (a QoS 0 subscriber that got everything): not an error.
        try? input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Blocks until a whole line arrives; nil at end of output.
    func readLine() -> String? {
        while true {
            if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffered[..<newline], as: UTF8.self)
                buffered.removeSubrange(...newline)
                return line
            }
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { return nil }
            buffered.append(contentsOf: data)
        }
    }

    func readDone() throws -> (cpu: Double, received: Int, lastArrival: Double) {
        guard let line = readLine() else { throw BenchError("a client process ended without its figures") }
        let fields = line.split(separator: " ")
        guard fields.first == "done", fields.count >= 2, let cpu = Double(fields[1]) else {
            throw BenchError("unexpected line from a client process: \(line)")
        }
        let received = fields.count > 2 ? Int(fields[2]) ?? 0 : 0
        let lastArrival = fields.count > 3 ? Double(fields[3]) ?? 0 : 0
        return (cpu, received, lastArrival)
    }

    func wait() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
