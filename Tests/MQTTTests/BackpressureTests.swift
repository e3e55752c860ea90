import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import TestSupport
@testable import MQTT

/// Inbound backpressure: a client whose messages nobody takes stops reading from the socket,
/// so whatever a broker pushes, memory stays bounded; once the consumer reads again everything
/// arrives, in order, nothing lost. The client runs in a process of its own
/// (`MQTTPeer hold`), so its resident size is not mixed with the other suites running here.
@Suite(.timeLimit(.minutes(5))) struct BackpressureTests {
    static let count = 200_000
    static let payloadSize = 4096
    /// The stated bound: what the client may hold beyond its resident size before the push
    /// (its buffer of 1024 messages of 4 KB, a read's worth of decoded packets, allocator slack).
    static let residentBound = 64 << 20
    /// The flood's own event loop: the push keeps its loop busy for seconds, and the in-process
    /// servers and clients of other suites on the singleton loops should not wait behind it.
    static let floodLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    static var benchBinary: String {
        let directory =
            ProcessInfo.processInfo.environment["WEEVENT_BIN"].map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
            ?? repositoryRoot + "/.build/debug"
        return directory + "/MQTTPeer"
    }

    static func status(_ path: String) -> [String: String] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return Dictionary(
            text.split(whereSeparator: \.isWhitespace).compactMap { field -> (String, String)? in
                let parts = field.split(separator: "=", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            }, uniquingKeysWith: { $1 })
    }

    @Test func aFloodOfQoS0MessagesNobodyReadsKeepsMemoryBounded() async throws {
        let broker = try await FakeBroker.start(on: Self.floodLoop)
        defer { Task { await broker.stop() } }
        let statusFile = FileManager.default.temporaryDirectory.appendingPathComponent("hold-\(UUID().uuidString)").path
        defer { for suffix in ["", ".go", ".tmp"] { try? FileManager.default.removeItem(atPath: statusFile + suffix) } }
        let holder = try Child(Self.benchBinary, ["hold", "\(broker.port)", "\(Self.count)", statusFile])
        defer { if holder.isRunning { holder.kill() } }
        let peer = await broker.nextPeer()
        try await peer.acceptConnect()
        #expect(await eventually { Int(Self.status(statusFile)["rss"] ?? "") != nil })
        try await Task.sleep(for: .milliseconds(300))
        let baseline = try #require(Int(Self.status(statusFile)["rss"] ?? ""))

        let pushed = Atomic<Int>(0)
        let channel = peer.channel
        let payload = ByteBuffer(repeating: UInt8(ascii: "p"), count: Self.payloadSize)
        // The fake broker writes as fast as the connection takes it, a batch at a time.
        let pusher = Task {
            var sent = 0
            while sent < Self.count {
                let batch = min(100, Self.count - sent)
                for i in 0..<batch - 1 {
                    channel.write(MQTTPacket.publish(PublishPacket(topic: "flood/\(sent + i)", payload: payload, qos: .atMostOnce)), promise: nil)
                }
                try await channel.writeAndFlush(MQTTPacket.publish(PublishPacket(topic: "flood/\(sent + batch - 1)", payload: payload, qos: .atMostOnce)))
                sent += batch
                pushed.store(sent, ordering: .relaxed)
            }
        }
        var peak = baseline
        var lastProgress = (count: 0, at: ContinuousClock.now)
        // Until the push stalls for 2 s (the client stopped reading) or, without backpressure, ends.
        while true {
            try await Task.sleep(for: .milliseconds(100))
            peak = max(peak, Int(Self.status(statusFile)["rss"] ?? "") ?? 0)
            let now = pushed.load(ordering: .relaxed)
            if now == Self.count { break }
            if now != lastProgress.count {
                lastProgress = (now, .now)
            } else if ContinuousClock.now - lastProgress.at > .seconds(2) {
                break
            }
        }
        let stalledAt = pushed.load(ordering: .relaxed)
        #expect(stalledAt < Self.count, "the whole flood was taken in: no backpressure")
        #expect(peak - baseline < Self.residentBound, "resident memory grew by \((peak - baseline) >> 20) MiB")

        // The consumer starts: everything arrives, in order.
        _ = FileManager.default.createFile(atPath: statusFile + ".go", contents: nil)
        let result = await holder.wait()
        let final = Self.status(statusFile)
        #expect(result.status == 0, "hold exited with \(result.status): \(result.stderr)")
        #expect(final["received"] == "\(Self.count)" && final["inorder"] == "true", "\(final); hold's output: \(result.stdout) \(result.stderr)")
        do {
            try await pusher.value
        } catch {
            Issue.record("the fake broker could not push everything (\(error)) after \(pushed.load(ordering: .relaxed)) messages; hold: \(final)")
        }
        print(
            "backpressure: push stalled at \(stalledAt) of \(Self.count) messages; the client's resident size grew \((peak - baseline) >> 20) MiB (bound \(Self.residentBound >> 20) MiB)"
        )
    }
}
