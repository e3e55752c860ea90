import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
@testable import MQTT

/// Keep-alive on a test event loop, where time moves only when the test says so.
@Suite struct KeepAliveTests {
    final class RecordingDelegate: MQTTConnectionDelegate {
        var accepted = false
        var closedWith: (any Error)??
        func connectionAccepted(_ handler: MQTTChannelHandler, sessionPresent: Bool) { accepted = true }
        func received(_ packet: MQTTPacket, on handler: MQTTChannelHandler) {}
        func connectionClosed(_ handler: MQTTChannelHandler, error: (any Error)?) { closedWith = .some(error) }
    }

    func outbound(_ channel: EmbeddedChannel) throws -> [MQTTPacket] {
        var packets: [MQTTPacket] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            while let p = try MQTTPacket.read(from: &buffer) { packets.append(p) }
        }
        return packets
    }

    @Test func idleConnectionSendsPingreqAndADeadPeerIsDetected() throws {
        let delegate = RecordingDelegate()
        let handler = MQTTChannelHandler(
            connect: ConnectPacket(clientID: "k", keepAlive: 10), keepAlive: .seconds(10), pingTimeout: .seconds(10),
            connectTimeout: .seconds(5), delegate: delegate, trace: nil, logger: .init(label: "test")
        )
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        channel.embeddedEventLoop.run()
        #expect(try outbound(channel) == [.connect(ConnectPacket(clientID: "k", keepAlive: 10))])
        try channel.writeInbound(MQTTPacket.connack(ConnackPacket(sessionPresent: false, returnCode: 0)))
        #expect(delegate.accepted)
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(try outbound(channel).isEmpty)
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(try outbound(channel) == [.pingreq])
        try channel.writeInbound(MQTTPacket.pingresp)
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(try outbound(channel) == [.pingreq])
        #expect(channel.isActive)
        // No PINGRESP this time.
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(!channel.isActive)
        let error = delegate.closedWith.flatMap { $0 } as? MQTTClientError
        #expect(error?.kind == .connectionLost)
    }

    @Test func missingConnackTimesOut() throws {
        let delegate = RecordingDelegate()
        let handler = MQTTChannelHandler(
            connect: ConnectPacket(clientID: "k"), keepAlive: .seconds(10), pingTimeout: .seconds(10),
            connectTimeout: .seconds(5), delegate: delegate, trace: nil, logger: .init(label: "test")
        )
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(!channel.isActive)
        #expect((delegate.closedWith.flatMap { $0 } as? MQTTClientError)?.kind == .timeout)
    }

    @Test func reconnectDelaysGrowAndStayBounded() {
        let policy = MQTTReconnectPolicy(initialDelay: .milliseconds(100), maxDelay: .seconds(2), jitter: 0.5)
        for attempt in 1...20 {
            let delay = policy.delay(attempt: attempt)
            let base = min(100 * (1 << min(attempt - 1, 20)), 2000)
            #expect(delay <= .milliseconds(Int64(base)))
            #expect(delay >= .milliseconds(Int64(base / 2)))
        }
    }
}
