import MQTT
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Messages/s and CPU seconds at QoS 0, 1 and 2, 100-byte payloads, from our client through a
/// local mosquitto to our client. Usage: MQTTBench PORT MOSQUITTO_PID [COUNT]
@main
struct MQTTBench {
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

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func main() async throws {
        let args = CommandLine.arguments
        guard args.count >= 3, let port = Int(args[1]), let brokerPID = Int32(args[2]) else {
            print("usage: MQTTBench PORT MOSQUITTO_PID [COUNT]")
            exit(2)
        }
        let count = args.count > 3 ? Int(args[3]) ?? 50_000 : 50_000
        let payload = ByteBuffer(repeating: 0x61, count: 100)
        print("| QoS | received/sent | msg/s | our CPU s | mosquitto CPU s | our µs/msg | mosquitto µs/msg |")
        print("|---|---|---|---|---|---|---|")
        for qos in MQTTQoS.allCases {
            let sub = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "bench-sub-\(qos.rawValue)"))
            let pub = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "bench-pub-\(qos.rawValue)"))
            try await sub.connect()
            try await pub.connect()
            let topic = "bench/\(qos.rawValue)"
            try await sub.subscribe(to: [MQTTSubscription(topicFilter: topic, qos: qos)])
            let ourStart = ownCPUSeconds(), brokerStart = cpuSeconds(pid: brokerPID), start = now()
            let receiver = Task { () -> Int in
                var received = 0
                for await message in sub.messages {
                    message.ack()
                    received += 1
                    if received == count { break }
                }
                return received
            }
            // A window of outstanding publishes, as a bridge would keep.
            var window: [EventLoopFuture<Void>] = []
            for _ in 0..<count {
                window.append(pub.startPublish(to: topic, payload: payload, qos: qos))
                if window.count >= 1000 {
                    try await window[499].get()
                    window.removeFirst(500)
                }
            }
            for f in window { try await f.get() }
            if qos == .atMostOnce {
                // QoS 0 may be dropped under load: give the rest a moment, then count what came.
                try await Task.sleep(for: .seconds(2))
                await sub.disconnect()
            }
            let received = await receiver.value
            let elapsed = now() - start
            let ours = ownCPUSeconds() - ourStart, broker = cpuSeconds(pid: brokerPID) - brokerStart
            let n = Double(received)
            print("| \(qos.rawValue) | \(received)/\(count) | \(Int(n / elapsed)) | \(fmt(ours)) | \(fmt(broker)) | \(fmt(ours / n * 1e6)) | \(fmt(broker / n * 1e6)) |")
            await pub.disconnect()
            await sub.disconnect()
        }
    }

    static func fmt(_ v: Double) -> String { "\((v * 100).rounded() / 100)" }
}
