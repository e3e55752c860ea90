import AsyncHTTPClient
import BenchSupport
import Foundation
import MQTT
import NIOCore
import Synchronization

// `make bench` (scripts/bench-bridge.sh) runs this against a release `weevent serve` whose MQTT
// bridge is connected to a throw-away mosquitto, everything on the same machine:
//   1. ceiling: our client publishes COUNT 100-byte messages through mosquitto to our client;
//      rate = COUNT / (last arrival - first publish);
//   2. inbound: our client publishes COUNT messages to an inbound-bound MQTT topic; rate =
//      COUNT / time until the ledger topic's sequenceNumber (rest/state) has grown by COUNT;
//      at QoS 1 (the target's pair) ceiling and inbound alternate REPEATS times and the table
//      gives medians, as the box is shared; QoS 0 and 2 once each, for reference;
//   3. outbound: 32 HTTP clients publish COUNT events (rest/publish) to an outbound-bound topic
//      (QoS 1); rate = COUNT / time until our subscribing client has all of them;
//   4. device-to-ledger latency: RATE messages/s for SECONDS s to an inbound-bound topic (QoS 1),
//      each payload carrying its send time; latency = arrival on rest/stream (SSE, which shows
//      events only once durable) - send time.
//   5. command round trips: a scripted device (`MQTTPeer device`, a process of its own) on an
//      outbound-bound command topic answers on an inbound-bound reply topic; 1 and then 32 callers
//      loop on rest/request for SECONDS/2 s each (round trips/s, p50/p99 of the call); then the
//      same callers loop on rest/publish to the command topic, and an MQTT client of ours
//      subscribed beside the device times each command's arrival (publish -> device latency).
// BRIDGE_ONLY=requests runs only part 5.
// Usage: BridgeBench MQTT_PORT BASE_URL [COUNT=20000] [RATE=1000] [SECONDS=10] [REPEATS=3]

func elapsed(since start: UInt64, to end: UInt64 = now()) -> Double { Double(end &- start) / 1e9 }

/// A 100-byte payload starting with `text`.
func payload(_ text: String) -> ByteBuffer {
    var bytes = Array(text.utf8.prefix(100))
    bytes.append(contentsOf: repeatElement(UInt8(ascii: "x"), count: 100 - bytes.count))
    return ByteBuffer(bytes: bytes)
}

@main
struct BridgeBench {
    static func main() async throws {
        let args = CommandLine.arguments
        guard args.count > 2, let port = Int(args[1]) else {
            print("usage: BridgeBench MQTT_PORT http://127.0.0.1:8080/weevent [count] [rate] [seconds] [repeats]")
            exit(2)
        }
        let bench = Bench(
            port: port, base: args[2],
            count: args.count > 3 ? Int(args[3]) ?? 20000 : 20000,
            rate: args.count > 4 ? Int(args[4]) ?? 1000 : 1000,
            seconds: args.count > 5 ? Int(args[5]) ?? 10 : 10,
            repeats: args.count > 6 ? Int(args[6]) ?? 3 : 3
        )
        try await bench.run()
    }
}

/// Everything runs off the main actor (nonisolated async), so messages never hop through it.
struct Bench: Sendable {
    let port: Int
    let base: String
    let count: Int
    let rate: Int
    let seconds: Int
    let repeats: Int
    let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    func run() async throws {
        if ProcessInfo.processInfo.environment["BRIDGE_ONLY"] == "requests" {
            try await printRoundTrips()
            try await http.shutdown()
            return
        }
        var notes: [String] = []
        // Warm-up: connections, allocations, page cache.
        _ = try await ceiling(qos: .atLeastOnce)
        // The compared pair, QoS 1, alternated `repeats` times: the box is shared, so each figure
        // is the median of its runs, measured under the same conditions as the other's.
        var ceiling1: [Double] = []
        var inbound1: [Double] = []
        var stored1: [Int] = []
        for round in 1...repeats {
            ceiling1.append(try await ceiling(qos: .atLeastOnce).rate)
            let (rate, stored, note) = try await inboundWithBatches(qos: .atLeastOnce, round: round)
            inbound1.append(rate)
            stored1.append(stored)
            notes.append(note)
            log("round \(round): ceiling QoS 1 \(Int(ceiling1.last!)) msg/s, inbound QoS 1 \(Int(rate)) msg/s")
        }
        // The other QoS levels once each, for reference.
        var ceilingOther: [MQTTQoS: (Double, Int)] = [:]
        var inboundOther: [MQTTQoS: (Double, Int)] = [:]
        for qos in [MQTTQoS.atMostOnce, .exactlyOnce] {
            ceilingOther[qos] = try await ceiling(qos: qos)
            let (rate, stored, note) = try await inboundWithBatches(qos: qos, round: 1)
            inboundOther[qos] = (rate, stored)
            notes.append(note)
            log("QoS \(qos.rawValue): ceiling \(Int(ceilingOther[qos]!.0)) msg/s, inbound \(Int(rate)) msg/s")
        }
        let (outRate, outReceived, publishRate) = try await outbound(qos: .atLeastOnce)
        log("outbound QoS 1: \(Int(outRate)) msg/s")
        let latencies = try await latency()

        func cell(_ runs: [Double]) -> String {
            let sorted = runs.sorted()
            return runs.count == 1 ? "\(Int(sorted[0]))" : "\(Int(median(sorted))) (\(Int(sorted.first!))-\(Int(sorted.last!)))"
        }
        let qos1 = repeats > 1 ? "median of \(repeats) alternated runs (min-max)" : "one run"
        print("")
        print("| path | QoS | delivered | msg/s |")
        print("|---|---:|---:|---:|")
        print("| ceiling: our client -> mosquitto -> our client | 0 | \(ceilingOther[.atMostOnce]!.1)/\(count) | \(Int(ceilingOther[.atMostOnce]!.0)) |")
        print("| ceiling: our client -> mosquitto -> our client | 1 | \(count)/\(count) | \(cell(ceiling1)) |")
        print("| ceiling: our client -> mosquitto -> our client | 2 | \(ceilingOther[.exactlyOnce]!.1)/\(count) | \(Int(ceilingOther[.exactlyOnce]!.0)) |")
        print("| inbound: our client -> mosquitto -> bridge -> ledger | 0 | \(inboundOther[.atMostOnce]!.1)/\(count) | \(Int(inboundOther[.atMostOnce]!.0)) |")
        print("| inbound: our client -> mosquitto -> bridge -> ledger | 1 | \(stored1.min()!)/\(count) | \(cell(inbound1)) |")
        print(
            "| inbound: our client -> mosquitto -> bridge -> ledger | 2 | \(inboundOther[.exactlyOnce]!.1)/\(count) | \(Int(inboundOther[.exactlyOnce]!.0)) |")
        print("| outbound: 32 HTTP clients -> rest/publish -> bridge -> mosquitto -> our client | 1 | \(outReceived)/\(count) | \(Int(outRate)) |")
        print("")
        print("| device-to-ledger latency, QoS 1, \(rate) msg/s for \(seconds) s | messages | p50 | p99 | max |")
        print("|---|---:|---:|---:|---:|")
        print(
            "| MQTT publish -> event on rest/stream (durable) | \(latencies.count)/\(rate * seconds) | \(ms(percentile(latencies, 0.50))) | \(ms(percentile(latencies, 0.99))) | \(ms(latencies.last ?? .nan)) |"
        )
        print("")
        let ratio = median(inbound1.sorted()) / max(median(ceiling1.sorted()), 1)
        print("QoS 1 rows: \(qos1).")
        print(
            "inbound QoS 1 / mosquitto QoS 1 (medians) = \(String(format: "%.3f", ratio)) (target >= 0.70: \(ratio >= 0.7 ? "met" : "missed")); per round: \(zip(inbound1, ceiling1).map { String(format: "%.2f", $0 / $1) }.joined(separator: ", "))."
        )
        for note in notes { print(note) }
        print("outbound: the \(count) REST publishes were answered at \(Int(publishRate)) req/s (32 connections).")
        try await printRoundTrips()
        try await http.shutdown()
    }

    /// One inbound run, with the bridge's batches from its metrics.
    func inboundWithBatches(qos: MQTTQoS, round: Int) async throws -> (Double, Int, String) {
        let batchesBefore = try await metric("weevent_mqtt_inbound_store_seconds_count")
        let storeBefore = try await metric("weevent_mqtt_inbound_store_seconds_sum")
        let (rate, stored) = try await inbound(qos: qos, round: round)
        let batches = try await metric("weevent_mqtt_inbound_store_seconds_count") - batchesBefore
        let storeSeconds = try await metric("weevent_mqtt_inbound_store_seconds_sum") - storeBefore
        let note =
            "inbound QoS \(qos.rawValue)\(qos == .atLeastOnce ? " round \(round)" : ""): \(Int(batches)) ledger batches, \(String(format: "%.1f", Double(stored) / max(batches, 1))) messages and \(String(format: "%.2f", storeSeconds / max(batches, 1) * 1000)) ms store time per batch (weevent_mqtt_inbound_store_seconds)."
        return (rate, stored, note)
    }

    // MARK: 1. ceiling

    func ceiling(qos: MQTTQoS) async throws -> (rate: Double, received: Int) {
        let topic = "ceiling/\(qos.rawValue)/\(now())"
        let subscriber = try await connect("bench-ceiling-sub")
        try await subscriber.subscribe(to: [MQTTSubscription(topicFilter: topic, qos: qos)])
        let counter = Counter()
        let consumer = consume(subscriber, into: counter) { _ in true }
        let publisher = try await connect("bench-ceiling-pub")
        let start = now()
        try await publish(publisher, topic: topic, qos: qos, count: count) { _ in payload("ceiling") }
        try await counter.wait(for: count, quiet: qos == .atMostOnce ? 2 : 10)
        let (received, last) = counter.snapshot
        consumer.cancel()
        await publisher.disconnect()
        await subscriber.disconnect()
        return (Double(received) / elapsed(since: start, to: last), received)
    }

    // MARK: 2. inbound

    func inbound(qos: MQTTQoS, round: Int) async throws -> (rate: Double, stored: Int) {
        let topic = "bench.in.q\(qos.rawValue).r\(round)"
        let mqttTopic = "bench/in/q\(qos.rawValue)/r\(round)"
        _ = try await get("rest/open?topic=\(topic)")
        _ = try await get("master/mqtt_add_inbound_topic?topic=\(topic)&mqttTopic=\(mqttTopic)&qos=\(qos.rawValue)")
        let publisher = try await connect("bench-inbound-pub")
        let baseline = try await waitUntilBridged(publisher, topic: topic, mqttTopic: mqttTopic)
        let start = now()
        let sending = Task { try await publish(publisher, topic: mqttTopic, qos: qos, count: count) { i in payload("in-\(i)") } }
        var stored = 0
        var lastChange = now()
        var lastProgress = start
        while stored < count {
            try await Task.sleep(for: .milliseconds(5))
            let n = try await sequenceNumber(topic) - baseline
            if n != stored {
                stored = n
                lastChange = now()
                lastProgress = lastChange
            } else if elapsed(since: lastChange) > (qos == .atMostOnce ? 3 : 15) {
                break  // QoS 0 may drop; anything else stalling this long is reported as it is.
            }
        }
        try await sending.value
        await publisher.disconnect()
        return (Double(stored) / elapsed(since: start, to: lastProgress), stored)
    }

    /// Publishes probes until the bridge has subscribed and stored one; returns the sequence number then.
    func waitUntilBridged(_ client: MQTTClient, topic: String, mqttTopic: String) async throws -> Int {
        let started = now()
        let before = try await sequenceNumber(topic)
        while elapsed(since: started) < 30 {
            try await client.publish(to: mqttTopic, payload: payload("probe"), qos: .atLeastOnce)
            try await Task.sleep(for: .milliseconds(200))
            if try await sequenceNumber(topic) > before {
                // Let any probe still on its way land before the baseline is taken.
                try await Task.sleep(for: .milliseconds(300))
                return try await sequenceNumber(topic)
            }
        }
        throw BenchError("the bridge did not store anything from \(mqttTopic) within 30 s")
    }

    // MARK: 3. outbound

    func outbound(qos: MQTTQoS) async throws -> (rate: Double, received: Int, publishRate: Double) {
        let topic = "bench.out"
        let mqttTopic = "bench/out"
        _ = try await get("rest/open?topic=\(topic)")
        _ = try await get("master/mqtt_add_outbound_topic?topic=\(topic)&mqttTopic=\(mqttTopic)&qos=\(qos.rawValue)")
        let subscriber = try await connect("bench-outbound-sub")
        try await subscriber.subscribe(to: [MQTTSubscription(topicFilter: mqttTopic, qos: qos)])
        let probes = Counter()
        let counter = Counter()
        let consumer = consume(subscriber, into: counter) { message in
            if message.payload.readableBytesView.starts(with: "probe".utf8) {
                probes.add(1)
                return false
            }
            return true
        }
        // The outbound publisher starts when the bridge sees the binding: wait for a probe to come through.
        let started = now()
        while probes.snapshot.count == 0 {
            guard elapsed(since: started) < 30 else { throw BenchError("nothing came out of \(mqttTopic) within 30 s") }
            _ = try await get("rest/publish?topic=\(topic)&content=probe")
            try await Task.sleep(for: .milliseconds(200))
        }
        let start = now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            let clients = 32
            for c in 0..<clients {
                group.addTask {
                    for i in stride(from: c, to: count, by: clients) {
                        _ = try await get("rest/publish?topic=\(topic)&content=out-\(i)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let published = now()
        try await counter.wait(for: count, quiet: 15)
        let (received, last) = counter.snapshot
        consumer.cancel()
        await subscriber.disconnect()
        return (Double(received) / elapsed(since: start, to: last), received, Double(count) / elapsed(since: start, to: published))
    }

    // MARK: 4. latency

    func latency() async throws -> [Double] {
        let topic = "bench.latency"
        let mqttTopic = "bench/latency"
        _ = try await get("rest/open?topic=\(topic)")
        _ = try await get("master/mqtt_add_inbound_topic?topic=\(topic)&mqttTopic=\(mqttTopic)&qos=1")
        let publisher = try await connect("bench-latency-pub")
        _ = try await waitUntilBridged(publisher, topic: topic, mqttTopic: mqttTopic)
        let total = rate * seconds
        let latencies = Shared([Double]())
        let opened = Shared(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await follow("\(base)/rest/stream?topic=\(topic)", onOpen: { opened.withLock { $0 = true } }) { data in
                    let arrival = now()
                    // content is base64 of "lat <send nanoseconds> xxx..."; decode just that field.
                    guard let c = data.range(of: #""content":""#), let q = data[c.upperBound...].firstIndex(of: "\""),
                        let raw = Data(base64Encoded: String(data[c.upperBound..<q]))
                    else { return true }
                    let fields = String(decoding: raw, as: UTF8.self).split(separator: " ")
                    guard fields.count > 1, fields[0] == "lat", let sent = UInt64(fields[1]) else { return true }
                    let n = latencies.withLock { l in
                        l.append(Double(arrival &- sent) / 1e6)
                        return l.count
                    }
                    return n < total
                }
            }
            while !opened.current { try await Task.sleep(for: .milliseconds(5)) }
            let interval = 1_000_000_000 / UInt64(rate)
            let start = now()
            var pending: [EventLoopFuture<Void>] = []
            pending.reserveCapacity(total)
            for index in 0..<total {
                let due = start + UInt64(index) * interval
                let t = now()
                if due > t { try await Task.sleep(for: .nanoseconds(due - t)) }
                pending.append(publisher.startPublish(to: mqttTopic, payload: payload("lat \(now()) \(index)"), qos: .atLeastOnce))
            }
            for f in pending { try await f.get() }
            // Stop waiting for stragglers after a while; count what came.
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                throw CancellationError()
            }
            do {
                _ = try await group.next()
            } catch is CancellationError {}
            group.cancelAll()
        }
        await publisher.disconnect()
        return latencies.current.sorted()
    }

    // MARK: 5. command round trips (rest/request)

    /// One row: `callers` looping for a while; `latencies` in ms, sorted.
    struct Row {
        let callers: Int
        let completed: Int
        let seconds: Double
        let latencies: [Double]
        var rate: Double { Double(completed) / seconds }
    }

    func printRoundTrips() async throws {
        let (requests, publishes) = try await roundTrips(seconds: max(Double(seconds) / 2, 1))
        print("")
        print("| command path, QoS 1, scripted device on mosquitto | callers | completed | per s | p50 | p99 |")
        print("|---|---:|---:|---:|---:|---:|")
        for row in requests {
            print(
                "| rest/request -> device -> reply on the ledger -> answer | \(row.callers) | \(row.completed) | \(Int(row.rate)) | \(ms(percentile(row.latencies, 0.5))) | \(ms(percentile(row.latencies, 0.99))) |"
            )
        }
        for row in publishes {
            print(
                "| rest/publish -> outbound bridge -> device (reference) | \(row.callers) | \(row.completed) | \(Int(row.rate)) | \(ms(percentile(row.latencies, 0.5))) | \(ms(percentile(row.latencies, 0.99))) |"
            )
        }
        if let one = requests.first, let reference = publishes.first {
            print(
                "round trip / one-way command latency at 1 caller (p50): \(String(format: "%.2f", percentile(one.latencies, 0.5) / percentile(reference.latencies, 0.5)))"
            )
        }
    }

    func roundTrips(seconds: Double) async throws -> (requests: [Row], publishes: [Row]) {
        for topic in ["bench.command", "bench.reply"] { _ = try await get("rest/open?topic=\(topic)") }
        _ = try await get("master/mqtt_add_outbound_topic?topic=bench.command&mqttTopic=bench/command&qos=1")
        _ = try await get("master/mqtt_add_inbound_topic?topic=bench.reply&mqttTopic=bench/reply&qos=1")
        let prober = try await connect("bench-reply-probe")
        _ = try await waitUntilBridged(prober, topic: "bench.reply", mqttTopic: "bench/reply")
        await prober.disconnect()

        let device = try startDevice()
        defer { device.terminate() }
        // Beside the device, our client times each plain command's arrival.
        let observer = try await connect("bench-command-observer")
        try await observer.subscribe(to: [MQTTSubscription(topicFilter: "bench/command", qos: .atLeastOnce)])
        let sent = Shared([String: UInt64]())
        let arrivals = Shared([Double]())
        let watching = Task.detached {
            for await message in observer.messages {
                let arrival = now()
                message.ack()
                let text = message.payloadString
                guard let r = text.range(of: #""seq":""#), let end = text[r.upperBound...].firstIndex(of: "\"") else { continue }
                if let start = sent.withLock({ $0.removeValue(forKey: String(text[r.upperBound..<end])) }) {
                    arrivals.withLock { $0.append(Double(arrival &- start) / 1e6) }
                }
            }
        }
        defer { watching.cancel() }
        // The outbound side is live once a command reaches the observer.
        let started = now()
        while true {
            guard elapsed(since: started) < 30 else { throw BenchError("no command reached bench/command within 30 s") }
            sent.withLock { $0["probe"] = now() }
            _ = try await get("rest/publish?topic=bench.command&content=" + query(#"{"seq":"probe"}"#))
            try await Task.sleep(for: .milliseconds(200))
            if !arrivals.withLock({ $0 }).isEmpty { break }
        }
        arrivals.withLock { $0 = [] }
        // Warm-up round trips (connections, the device's first replies).
        for i in 0..<20 { _ = try await call(#"{"reqId":"warm-\#(i)"}"#) }

        var requestRows: [Row] = []
        for callers in [1, 32] {
            let latencies = Shared([Double]())
            let start = now()
            try await loop(callers: callers, from: start, for: seconds) { c, i in
                let t0 = now()
                _ = try await call(#"{"action":"ping","header":{"reqid":"c\#(callers)-\#(c)-\#(i)"}}"#)
                let t1 = now()
                latencies.withLock { $0.append(Double(t1 &- t0) / 1e6) }
            }
            let all = latencies.withLock { $0 }.sorted()
            requestRows.append(Row(callers: callers, completed: all.count, seconds: elapsed(since: start), latencies: all))
            log("rest/request, \(callers) callers: \(all.count) round trips")
        }

        var publishRows: [Row] = []
        for callers in [1, 32] {
            arrivals.withLock { $0 = [] }
            let published = Shared(0)
            let start = now()
            try await loop(callers: callers, from: start, for: seconds) { c, i in
                let key = "p\(callers)-\(c)-\(i)"
                sent.withLock { $0[key] = now() }
                _ = try await get("rest/publish?topic=bench.command&content=" + query(#"{"seq":"\#(key)"}"#))
                published.withLock { $0 += 1 }
            }
            let wall = elapsed(since: start)
            let total = published.withLock { $0 }
            let waitStart = now()
            while arrivals.withLock({ $0.count }) < total, elapsed(since: waitStart) < 15 {
                try await Task.sleep(for: .milliseconds(5))
            }
            let all = arrivals.withLock { $0 }.sorted()
            publishRows.append(Row(callers: callers, completed: all.count, seconds: wall, latencies: all))
            log("rest/publish -> device, \(callers) callers: \(all.count)/\(total) arrived")
        }
        await observer.disconnect()
        return (requestRows, publishRows)
    }

    /// `callers` tasks, each calling `body(caller, iteration)` in a loop until `seconds` after `start`.
    func loop(callers: Int, from start: UInt64, for seconds: Double, _ body: @escaping @Sendable (Int, Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in 0..<callers {
                group.addTask {
                    var i = 0
                    while elapsed(since: start) < seconds {
                        try await body(c, i)
                        i += 1
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// One rest/request; fails unless it was answered with the reply.
    func call(_ content: String) async throws -> String {
        let body = try await get("rest/request?topic=bench.command&replyTopic=bench.reply&timeout=10000&content=" + query(content))
        guard body.contains(#""status":"SUCCESS""#) else { throw BenchError("rest/request: \(body)") }
        return body
    }

    func query(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    /// `MQTTPeer device` (the path in MQTT_PEER), subscribed before this returns.
    func startDevice() throws -> Process {
        // The broker package's MQTTPeer (scripts/bench-bridge.sh names it in MQTT_PEER).
        guard let peer = ProcessInfo.processInfo.environment["MQTT_PEER"] else {
            throw BenchError("MQTT_PEER (the broker package's MQTTPeer executable) is not set")
        }
        let ready = FileManager.default.temporaryDirectory.appendingPathComponent("bench-device-\(now())").path
        let device = Process()
        device.executableURL = URL(fileURLWithPath: peer)
        device.arguments = ["device", "\(port)", "bench/command", "bench/reply", "answer", ready]
        try device.run()
        let started = now()
        while !FileManager.default.fileExists(atPath: ready) {
            guard elapsed(since: started) < 20, device.isRunning else {
                device.terminate()
                throw BenchError("the scripted device did not subscribe")
            }
            usleep(10_000)
        }
        try? FileManager.default.removeItem(atPath: ready)
        return device
    }

    // MARK: helpers

    func connect(_ id: String) async throws -> MQTTClient {
        let client = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "\(id)-\(now())"))
        try await client.connect()
        return client
    }

    /// As MQTTBench: up to 1,000 publishes outstanding.
    func publish(_ client: MQTTClient, topic: String, qos: MQTTQoS, count: Int, payload: (Int) -> ByteBuffer) async throws {
        var window: [EventLoopFuture<Void>] = []
        window.reserveCapacity(1000)
        for i in 0..<count {
            window.append(client.startPublish(to: topic, payload: payload(i), qos: qos))
            if window.count >= 1000 {
                try await window[499].get()
                window.removeFirst(500)
            }
        }
        for f in window { try await f.get() }
    }

    /// Acknowledges every message; counts the ones `counts` accepts.
    func consume(_ client: MQTTClient, into counter: Counter, counts: @escaping @Sendable (MQTTMessage) -> Bool) -> Task<Void, Never> {
        Task.detached {
            for await message in client.messages {
                message.ack()
                if counts(message) { counter.add(1) }
            }
        }
    }

    func get(_ path: String) async throws -> String {
        try await getText(http, "\(base)/\(path)")
    }

    func metric(_ name: String) async throws -> Double {
        let body = try await get("metrics")
        for line in body.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    func sequenceNumber(_ topic: String) async throws -> Int {
        let body = try await get("rest/state?topic=\(topic)")
        guard let r = body.range(of: #""sequenceNumber":"#) else { throw BenchError("state without sequenceNumber: \(body)") }
        return Int(body[r.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    func follow(_ url: String, onOpen: @Sendable () -> Void, onEvent: @Sendable (Substring) -> Bool) async throws {
        try await followStream(http, url, onOpen: onOpen, onEvent: onEvent)
    }

    func log(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Messages counted by a consumer, with the time of the last one.
final class Counter: Sendable {
    private let state = Mutex((count: 0, last: UInt64(0)))

    func add(_ n: Int) {
        state.withLock {
            $0.count += n; $0.last = now()
        }
    }
    var snapshot: (count: Int, last: UInt64) { state.withLock { $0 } }

    /// Returns once `target` arrived, or when nothing arrived for `quiet` seconds.
    func wait(for target: Int, quiet: Double) async throws {
        var seen = -1
        var since = now()
        while true {
            let (n, _) = snapshot
            if n >= target { return }
            if n != seen {
                seen = n
                since = now()
            } else if elapsed(since: since) > quiet {
                return
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

func median(_ sorted: [Double]) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

func ms(_ v: Double) -> String { String(format: "%.2f ms", v) }
