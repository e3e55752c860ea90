import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import MQTT

/// A PUBLISH above the maximum packet size is skipped, not fatal: its topic and packet id are
/// read, its payload discarded as it arrives, and the connection goes on.
@Suite(.serialized) struct OversizedPublishTests {
    func bytes(_ packets: [MQTTPacket]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for packet in packets { packet.write(to: &buffer) }
        return buffer
    }

    /// Feeds `input` in slices of `chunk` bytes, as TCP may deliver it.
    func decode(_ input: ByteBuffer, maxPacketSize: Int, chunk: Int) throws -> [MQTTPacket] {
        var decoder = MQTTPacketDecoder(maxPacketSize: maxPacketSize)
        var pending = ByteBuffer()
        var packets: [MQTTPacket] = []
        var input = input
        while input.readableBytes > 0 {
            var slice = input.readSlice(length: min(chunk, input.readableBytes))!
            pending.writeBuffer(&slice)
            while let packet = try decoder.next(from: &pending) { packets.append(packet) }
            pending.discardReadBytes()
            // Never more than one chunk plus a header is held, whatever the skipped packet's size.
            #expect(pending.readableBytes <= chunk + 5 + 2 + 64 + 2)
        }
        return packets
    }

    @Test(arguments: [1, 7, 4096, 1 << 20])
    func theOversizedPayloadIsSkippedAndTheNextPacketRead(chunk: Int) throws {
        let big = PublishPacket(topic: "dev/7/image", payload: ByteBuffer(repeating: 0x41, count: 300_000), qos: .atLeastOnce, dup: true, packetID: 9)
        let small = PublishPacket(topic: "dev/7/temp", payload: ByteBuffer(string: "21.5"), qos: .exactlyOnce, packetID: 10)
        let packets = try decode(bytes([.publish(big), .publish(small), .pingresp]), maxPacketSize: 1024, chunk: chunk)
        #expect(
            packets == [
                .publish(PublishPacket(topic: "dev/7/image", payload: ByteBuffer(), qos: .atLeastOnce, dup: true, packetID: 9, skippedPayloadLength: 300_000)),
                .publish(small),
                .pingresp,
            ])
    }

    @Test func anOversizedPacketOfAnotherTypeIsStillAnError() throws {
        let suback = MQTTPacket.suback(SubackPacket(packetID: 1, returnCodes: Array(repeating: .grantedQoS0, count: 2000)))
        #expect(throws: MQTTDecodeError.self) { _ = try decode(bytes([suback]), maxPacketSize: 1024, chunk: 4096) }
    }

    /// The client delivers the skipped message (empty payload, its length), acknowledges it when
    /// the application does, and keeps the connection: the next message follows on it.
    @Test func theClientDeliversTheSkippedMessageAndKeepsTheConnection() async throws {
        try await withConnectedClient(configure: { $0.maxPacketSize = 2048 }) { client, peer in
            var messages = client.messages.makeAsyncIterator()
            try await peer.send(.publish(PublishPacket(topic: "big", payload: ByteBuffer(repeating: 1, count: 2_000_000), qos: .atLeastOnce, packetID: 3)))
            try await peer.send(.publish(PublishPacket(topic: "small", payload: ByteBuffer(string: "ok"), qos: .atLeastOnce, packetID: 4)))
            let skipped = await messages.next()!
            #expect(skipped.topic == "big" && skipped.skippedPayloadLength == 2_000_000 && skipped.payload.readableBytes == 0)
            skipped.ack()
            #expect(await peer.receive() == .puback(PubackPacket(packetID: 3)))
            let next = await messages.next()!
            #expect(next.payloadString == "ok" && next.skippedPayloadLength == nil)
            next.ack()
            #expect(await peer.receive() == .puback(PubackPacket(packetID: 4)))
        }
    }
}
