import AsyncHTTPClient
import BenchSupport
import Foundation
import NIOCore
import Synchronization

// `make bench` (scripts/bench.sh) runs this against a release `weevent serve`:
//   1. publish-to-stream latency at a steady rate: one SSE stream open, events published
//      on a fixed schedule over HTTP, latency = arrival on the stream - publish request sent;
//   2. fan-out: N concurrent SSE streams, a burst of events published by 32 clients, time
//      until every stream holds every event;
//   3. replay: N streams from OFFSET_FIRST read that burst back from the ledger.
// Usage: StreamBench BASE_URL [rate=1000] [seconds=10] [streams=100] [burst=20000]
// Environment: PUBLISH_BASE publishes the latency run's events to another instance (streams
// stay on BASE_URL: cross-instance latency on a shared ledger); LATENCY_ONLY=1 skips 2 and 3.

let args = CommandLine.arguments
guard args.count > 1 else {
    print("usage: StreamBench http://127.0.0.1:8080/weevent [rate] [seconds] [streams] [burst]")
    exit(2)
}
let base = args[1]
let rate = args.count > 2 ? Int(args[2]) ?? 1000 : 1000
let seconds = args.count > 3 ? Int(args[3]) ?? 10 : 10
let streamCount = args.count > 4 ? Int(args[4]) ?? 100 : 100
let burst = args.count > 5 ? Int(args[5]) ?? 20000 : 20000
let publishBase = ProcessInfo.processInfo.environment["PUBLISH_BASE"] ?? base
let latencyOnly = ProcessInfo.processInfo.environment["LATENCY_ONLY"] == "1"

var configuration = HTTPClient.Configuration()
configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 512
let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)

func get(_ url: String) async throws -> String { try await getText(http, url) }

func follow(_ url: String, onOpen: @Sendable () -> Void, onEvent: @Sendable (Substring) -> Bool) async throws {
    try await followStream(http, url, onOpen: onOpen, onEvent: onEvent)
}

// MARK: 1. latency at a steady rate

func latency() async throws -> [Double] {
    _ = try await get("\(publishBase)/rest/open?topic=bench.latency")
    let total = rate * seconds
    let sent = Shared([UInt64](repeating: 0, count: total))
    let latencies = Shared([Double]())
    let opened = Shared(0)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            try await follow("\(base)/rest/stream?topic=bench.latency", onOpen: { opened.withLock { $0 += 1 } }) { data in
                let arrival = now()
                // content is base64 of "<index>"; decode just that field.
                guard let c = data.range(of: #""content":""#), let q = data[c.upperBound...].firstIndex(of: "\""),
                    let raw = Data(base64Encoded: String(data[c.upperBound..<q])), let index = Int(String(decoding: raw, as: UTF8.self)),
                    (0..<total).contains(index)
                else { return true }
                let start = sent.withLock { $0[index] }
                let count = latencies.withLock { l in
                    l.append(Double(arrival - start) / 1e6)
                    return l.count
                }
                return count < total
            }
        }
        while opened.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }
        let interval = 1_000_000_000 / UInt64(rate)
        let start = now()
        try await withThrowingTaskGroup(of: Void.self) { publishers in
            for index in 0..<total {
                let due = start + UInt64(index) * interval
                let current = now()  // read once: a second read can be past `due` and underflow
                let wait = due > current ? due - current : 0
                if wait > 0 { try await Task.sleep(for: .nanoseconds(wait)) }
                publishers.addTask {
                    sent.withLock { $0[index] = now() }
                    _ = try await get("\(publishBase)/rest/publish?topic=bench.latency&content=\(index)")
                }
            }
            try await publishers.waitForAll()
        }
        try await group.waitForAll()
    }
    return latencies.withLock { $0 }.sorted()
}

// MARK: 2. fan-out to many streams

func fanOut() async throws -> (seconds: Double, publishSeconds: Double) {
    _ = try await get("\(base)/rest/open?topic=bench.fanout")
    let opened = Shared(0)
    let publishedAt = Shared<UInt64>(0)
    var elapsed = 0.0
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<streamCount {
            group.addTask {
                let received = Shared(0)
                try await follow("\(base)/rest/stream?topic=bench.fanout", onOpen: { opened.withLock { $0 += 1 } }) { _ in
                    received.withLock {
                        $0 += 1; return $0
                    } < burst
                }
            }
        }
        while opened.withLock({ $0 }) < streamCount { try await Task.sleep(for: .milliseconds(10)) }
        let start = now()
        try await withThrowingTaskGroup(of: Void.self) { publishers in
            let clients = 32
            for c in 0..<clients {
                publishers.addTask {
                    for i in stride(from: c, to: burst, by: clients) {
                        _ = try await get("\(base)/rest/publish?topic=bench.fanout&content=fanout-\(i)")
                    }
                }
            }
            try await publishers.waitForAll()
        }
        publishedAt.withLock { $0 = now() }
        try await group.waitForAll()
        elapsed = Double(now() - start) / 1e9
        publishedAt.withLock { $0 = $0 - start }
    }
    return (elapsed, Double(publishedAt.withLock { $0 }) / 1e9)
}

// MARK: 3. replay: the same streams read the stored burst from the ledger

func replay() async throws -> Double {
    let start = now()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<streamCount {
            group.addTask {
                let received = Shared(0)
                try await follow("\(base)/rest/stream?topic=bench.fanout&offset=OFFSET_FIRST", onOpen: {}) { _ in
                    received.withLock {
                        $0 += 1; return $0
                    } < burst
                }
            }
        }
        try await group.waitForAll()
    }
    return Double(now() - start) / 1e9
}

let sorted = try await latency()
let across = publishBase == base ? "" : " (published on another instance)"
print("| publish-to-stream latency, \(rate) events/s for \(seconds) s, 1 stream\(across) | events | p50 | p99 | max |")
print("|---|---:|---:|---:|---:|")
print(
    String(
        format: "| HTTP publish -> SSE arrival | %d | %.2f ms | %.2f ms | %.2f ms |",
        sorted.count, percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.last ?? .nan))
print()
if latencyOnly {
    try await http.shutdown().get()
    exit(0)
}
let (total, publishing) = try await fanOut()
print("| fan-out: \(burst) events (32 publishers) to \(streamCount) streams | publish time | all delivered | deliveries/s |")
print("|---|---:|---:|---:|")
print(
    String(
        format: "| every stream gets every event | %.2f s | %.2f s | %.0f |",
        publishing, total, Double(burst * streamCount) / total))
let replaySeconds = try await replay()
print(
    String(
        format: "| %d streams replay the %d stored events (OFFSET_FIRST) | - | %.2f s | %.0f |",
        streamCount, burst, replaySeconds, Double(burst * streamCount) / replaySeconds))
try await http.shutdown().get()
