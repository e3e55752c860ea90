import Foundation
import NIOCore
import Synchronization
import Testing
@testable import MQTT

/// Inbound backpressure: a client whose messages nobody takes stops reading from the socket,
/// so whatever a broker pushes, memory stays bounded; once the consumer reads again everything
/// arrives, in order, nothing lost.
@Suite(.timeLimit(.minutes(5))) struct BackpressureTests {
    static let count = 200_000
    static let payloadSize = 4096
    /// The stated bound: what the client may hold beyond its resident size before the push
    /// (its buffer of 1024 messages of 4 KB, a read's worth of decoded packets, allocator slack).
    static let residentBound = 64 << 20

    /// Resident set size of this process, from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    @Test func aFloodOfQoS0MessagesNobodyReadsKeepsMemoryBounded() async throws {
        let broker = try await FakeBroker.start()
        defer { Task { await broker.stop() } }
        let configuration = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "backpressure", keepAlive: .seconds(60))
        let client = try MQTTClient(configuration: configuration)
        async let connected = client.connect()
        let peer = await broker.nextPeer()
        try await peer.acceptConnect()
        _ = try await connected

        let pushed = Atomic<Int>(0)
        let channel = peer.channel
        let payload = ByteBuffer(repeating: UInt8(ascii: "p"), count: Self.payloadSize)
        // The fake broker writes as fast as the connection takes it, a batch at a time, so its
        // own memory stays one batch whatever the client does.
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
        let baseline = Self.residentBytes()
        var peak = baseline
        var lastProgress = (count: 0, at: ContinuousClock.now)
        // Until the push stalls for 2 s (the client stopped reading) or, without backpressure, ends.
        while true {
            try await Task.sleep(for: .milliseconds(100))
            peak = max(peak, Self.residentBytes())
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
        var received = 0
        var inOrder = true
        for await message in client.messages {
            if message.topic != "flood/\(received)" { inOrder = false }
            received += 1
            if received == Self.count { break }
        }
        #expect(received == Self.count)
        #expect(inOrder)
        try await pusher.value
        print("backpressure: push stalled at \(stalledAt) of \(Self.count) messages; resident growth \((peak - baseline) >> 20) MiB (bound \(Self.residentBound >> 20) MiB)")
        await client.disconnect()
    }
}
