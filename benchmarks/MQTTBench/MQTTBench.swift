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
        if args.count >= 5, args[1] == "device", let port = Int(args[2]) {
            try await device(
                port: port, commands: args[3], replies: args[4], silent: args.count > 5 && args[5] == "silent",
                readyFile: args.count > 6 ? args[6] : nil
            )
            return
        }
        if args.count == 5, args[1] == "hold", let port = Int(args[2]), let count = Int(args[3]) {
            try await hold(port: port, count: count, statusFile: args[4])
            return
        }
        if args.count == 5, let role = Role(rawValue: args[1]), let port = Int(args[2]),
           let qosRaw = UInt8(args[3]), let qos = MQTTQoS(rawValue: qosRaw), let count = Int(args[4]) {
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
        print("| QoS | received/sent | msg/s | publisher CPU s | subscriber CPU s | mosquitto CPU s | publisher µs/msg | subscriber µs/msg | publisher + subscriber µs/msg | mosquitto µs/msg |")
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
            print("| \(qos.rawValue) | \(received)/\(count) | \(Int(Double(received) / elapsed)) | \(fmt(pubCPU)) | \(fmt(subDone.cpu)) | \(fmt(broker)) | \(fmt(perPub)) | \(fmt(perSub)) | \(fmt(perPub + perSub)) | \(fmt(perBroker)) |")
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

    // MARK: A client nobody reads (MQTTTests/BackpressureTests)

    /// `MQTTBench hold PORT COUNT STATUSFILE`: connects to a broker on PORT and takes none of the
    /// messages it pushes, writing `rss=BYTES` (this process's resident size) to STATUSFILE every
    /// 50 ms, until STATUSFILE.go exists; then takes COUNT messages, checks they are
    /// `flood/0`, `flood/1` ... in order, writes `received=N inorder=BOOL` and exits.
    /// A process of its own, so what it holds is measured apart from everything else a test
    /// process runs at the same time.
    nonisolated static func hold(port: Int, count: Int, statusFile: String) async throws {
        // No keep-alive (the scripted broker answers no PINGREQ) and no reconnect: a lost
        // connection ends the stream, and the count written says so.
        var configuration = MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "backpressure", keepAlive: .seconds(0))
        configuration.reconnect = .never
        // The scripted broker answers CONNECT from a test process that a full parallel run can
        // keep busy for seconds (a CI run's CONNACK came after the default 5 s, and the test
        // then failed writing to the closed connection); how long it takes is not under test.
        configuration.connectTimeout = .seconds(60)
        let client = try MQTTClient(configuration: configuration)
        try await client.connect()
        while !FileManager.default.fileExists(atPath: statusFile + ".go") {
            try "rss=\(residentBytes())\n".write(toFile: statusFile + ".tmp", atomically: false, encoding: .utf8)
            _ = rename(statusFile + ".tmp", statusFile)
            try await Task.sleep(for: .milliseconds(50))
        }
        var received = 0
        var inOrder = true
        for await message in client.messages {
            if message.topic != "flood/\(received)" { inOrder = false }
            received += 1
            if received == count { break }
        }
        try "received=\(received) inorder=\(inOrder)\n".write(toFile: statusFile + ".tmp", atomically: false, encoding: .utf8)
        _ = rename(statusFile + ".tmp", statusFile)
        await client.disconnect()
    }

    /// A scripted device for rest/request (tests and `make bench`): subscribes to `commands`
    /// (QoS 1) and answers each command on `replies` in the shape the command came in, echoing
    /// its correlation value with its JSON type:
    /// - `{"action":..,"header":{"reqid":X}}` (003) -> `{"retcode":0,"header":{"reqid":X},"data":{"action":..}}`
    /// - `{"d":{..},"reqId":X}` (004) -> `{"rc":0,"reqId":X}`
    /// - `{"id":X,..}` (002, command_send) -> `{"id":X,"result":"done"}`
    /// A command in none of these shapes is counted and not answered; `silent` answers nothing.
    /// Prints `ready` (and creates `readyFile`) once subscribed; runs until killed.
    ///
    ///     MQTTBench device PORT COMMAND_FILTER REPLY_TOPIC answer|silent [READY_FILE]
    nonisolated static func device(port: Int, commands: String, replies: String, silent: Bool, readyFile: String?) async throws {
        let client = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "device-\(getpid())"))
        try await client.connect()
        _ = try await client.subscribe(to: [MQTTSubscription(topicFilter: commands, qos: .atLeastOnce)])
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        if let readyFile { FileManager.default.createFile(atPath: readyFile, contents: Data("ready\n".utf8)) }
        for await message in client.messages {
            message.ack()
            guard !silent, let reply = deviceReply(to: Array(message.payload.readableBytesView)) else { continue }
            // Not awaited: the next command is answered while this reply's PUBACK is on its way.
            _ = client.startPublish(to: replies, payload: ByteBuffer(bytes: reply), qos: .atLeastOnce)
        }
    }

    static func deviceReply(to command: [UInt8]) -> [UInt8]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(command)) as? [String: Any] else { return nil }
        let reply: [String: Any]
        if let header = object["header"] as? [String: Any], let reqid = header["reqid"] {
            reply = ["retcode": 0, "header": ["reqid": reqid], "data": ["action": object["action"] ?? NSNull()]]
        } else if let reqId = object["reqId"] {
            reply = ["rc": 0, "reqId": reqId]
        } else if let id = object["id"] {
            reply = ["id": id, "result": "done"]
        } else {
            return nil
        }
        return (try? JSONSerialization.data(withJSONObject: reply)).map { Array($0) }
    }

    /// Resident set size of this process, from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
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
