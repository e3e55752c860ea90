import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import MQTT

/// One sample of every packet type, with the optional parts both present and absent.
let samplePackets: [MQTTPacket] = [
    .connect(ConnectPacket(clientID: "c1")),
    .connect(
        ConnectPacket(
            clientID: "bridge", cleanSession: false, keepAlive: 15, username: "chen", password: ByteBuffer(string: "pw"),
            will: MQTTWill(topic: "dev/status", payload: ByteBuffer(string: "gone"), qos: .exactlyOnce, retain: true))),
    .connack(ConnackPacket(sessionPresent: true, returnCode: 0)),
    .connack(ConnackPacket(sessionPresent: false, returnCode: 4)),
    .publish(PublishPacket(topic: "a/b", payload: ByteBuffer(string: "hello"))),
    .publish(PublishPacket(topic: "a/b", payload: ByteBuffer(), qos: .atLeastOnce, retain: true, dup: true, packetID: 7)),
    .publish(PublishPacket(topic: "温度/1", payload: ByteBuffer(repeating: 0xAB, count: 300), qos: .exactlyOnce, packetID: 65535)),
    .puback(PubackPacket(packetID: 1)),
    .pubrec(PubrecPacket(packetID: 2)),
    .pubrel(PubrelPacket(packetID: 3)),
    .pubcomp(PubcompPacket(packetID: 4)),
    .subscribe(
        SubscribePacket(packetID: 5, subscriptions: [.init(topicFilter: "sensors/+/t", qos: .atLeastOnce), .init(topicFilter: "#", qos: .exactlyOnce)])),
    .suback(SubackPacket(packetID: 5, returnCodes: [.grantedQoS1, .failure, .grantedQoS0, .grantedQoS2])),
    .unsubscribe(UnsubscribePacket(packetID: 6, topicFilters: ["sensors/+/t", "x"])),
    .unsuback(UnsubackPacket(packetID: 6)),
    .pingreq,
    .pingresp,
    .disconnect,
]

func bytes(_ values: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: values) }

func encoded(_ packet: MQTTPacket) -> ByteBuffer {
    var buffer = ByteBuffer()
    packet.write(to: &buffer)
    return buffer
}

@Suite struct CodecTests {
    @Test("every packet type survives a round trip", arguments: samplePackets)
    func roundTrip(packet: MQTTPacket) throws {
        var buffer = encoded(packet)
        let decoded = try MQTTPacket.read(from: &buffer)
        #expect(decoded == packet)
        #expect(buffer.readableBytes == 0)
    }

    @Test func allFourteenTypesAreCovered() {
        #expect(Set(samplePackets.map(\.type.rawValue)) == Set(MQTTPacketType.allCases.map(\.rawValue)))
    }

    @Test("wire bytes match the standard's examples")
    func knownEncodings() {
        #expect(Array(encoded(.pingreq).readableBytesView) == [0xC0, 0x00])
        #expect(Array(encoded(.disconnect).readableBytesView) == [0xE0, 0x00])
        #expect(Array(encoded(.pubrel(PubrelPacket(packetID: 0x0102))).readableBytesView) == [0x62, 0x02, 0x01, 0x02])
        #expect(
            Array(encoded(.subscribe(SubscribePacket(packetID: 10, subscriptions: [.init(topicFilter: "a", qos: .atLeastOnce)]))).readableBytesView)
                == [0x82, 0x06, 0x00, 0x0A, 0x00, 0x01, 0x61, 0x01])
        #expect(
            Array(
                encoded(.publish(PublishPacket(topic: "a/b", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, retain: true, dup: true, packetID: 1)))
                    .readableBytesView)
                == [0x3B, 0x08, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x00, 0x01, 0x78])
        let connect = encoded(.connect(ConnectPacket(clientID: "c", cleanSession: true, keepAlive: 60)))
        #expect(Array(connect.readableBytesView) == [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x63])
    }

    @Test("remaining length uses up to four bytes", arguments: [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152])
    func remainingLengthBoundaries(payloadSize: Int) throws {
        // topic "t" (3 bytes) + payload; QoS 0
        let size = max(0, payloadSize - 3)
        let packet = MQTTPacket.publish(PublishPacket(topic: "t", payload: ByteBuffer(repeating: 1, count: size)))
        var buffer = encoded(packet)
        #expect(try MQTTPacket.read(from: &buffer, maxPacketSize: 4_000_000) == packet)
    }

    @Test func incompletePacketConsumesNothing() throws {
        let full = encoded(samplePackets[1])
        for cut in 0..<full.readableBytes {
            var partial = full.getSlice(at: 0, length: cut)!
            #expect(try MQTTPacket.read(from: &partial) == nil)
            #expect(partial.readableBytes == cut)
        }
    }

    @Test("byte-at-a-time and many-per-buffer feeding (ByteToMessageDecoderVerifier)")
    func decoderVerifier() throws {
        let pairs = samplePackets.map { (encoded($0), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs, decoderFactory: { MQTTPacketDecoder() })
    }

    @Test func manyPacketsInOneBuffer() throws {
        var all = ByteBuffer()
        for _ in 0..<50 { for p in samplePackets { p.write(to: &all) } }
        var decoded: [MQTTPacket] = []
        while let p = try MQTTPacket.read(from: &all) { decoded.append(p) }
        #expect(decoded.count == 50 * samplePackets.count)
        #expect(Array(decoded.prefix(samplePackets.count)) == samplePackets)
    }
}

/// A malformed input and the rule it breaks.
struct Malformed: CustomTestStringConvertible, Sendable {
    let name: String
    let bytes: [UInt8]
    let kind: MQTTDecodeError.Kind
    var testDescription: String { name }
}

let malformedInputs: [Malformed] = [
    Malformed(name: "reserved packet type 0", bytes: [0x00, 0x00], kind: .reservedPacketType),
    Malformed(name: "reserved packet type 15", bytes: [0xF0, 0x00], kind: .reservedPacketType),
    Malformed(name: "remaining length of five bytes", bytes: [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], kind: .remainingLengthTooLong),
    Malformed(name: "PINGRESP with flags", bytes: [0xD1, 0x00], kind: .invalidFlags),
    Malformed(name: "PINGREQ with a body", bytes: [0xC0, 0x01, 0x00], kind: .invalidLength),
    Malformed(name: "DISCONNECT with flags", bytes: [0xE2, 0x00], kind: .invalidFlags),
    Malformed(name: "PUBACK with flags", bytes: [0x42, 0x02, 0x00, 0x01], kind: .invalidFlags),
    Malformed(name: "PUBREL without its 0010 flags", bytes: [0x60, 0x02, 0x00, 0x01], kind: .invalidFlags),
    Malformed(name: "SUBSCRIBE without its 0010 flags", bytes: [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00], kind: .invalidFlags),
    Malformed(name: "UNSUBSCRIBE without its 0010 flags", bytes: [0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 0x61], kind: .invalidFlags),
    Malformed(name: "PUBACK too short", bytes: [0x40, 0x01, 0x00], kind: .invalidLength),
    Malformed(name: "PUBCOMP too long", bytes: [0x70, 0x03, 0x00, 0x01, 0x00], kind: .invalidLength),
    Malformed(name: "PUBACK packet id 0", bytes: [0x40, 0x02, 0x00, 0x00], kind: .zeroPacketIdentifier),
    Malformed(name: "PUBREC packet id 0", bytes: [0x50, 0x02, 0x00, 0x00], kind: .zeroPacketIdentifier),
    Malformed(name: "PUBREL packet id 0", bytes: [0x62, 0x02, 0x00, 0x00], kind: .zeroPacketIdentifier),
    Malformed(name: "PUBCOMP packet id 0", bytes: [0x70, 0x02, 0x00, 0x00], kind: .zeroPacketIdentifier),
    Malformed(name: "UNSUBACK packet id 0", bytes: [0xB0, 0x02, 0x00, 0x00], kind: .zeroPacketIdentifier),
    Malformed(name: "SUBACK packet id 0", bytes: [0x90, 0x03, 0x00, 0x00, 0x00], kind: .zeroPacketIdentifier),
    Malformed(name: "QoS 1 PUBLISH packet id 0", bytes: [0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00], kind: .zeroPacketIdentifier),
    Malformed(name: "PUBLISH QoS 3", bytes: [0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01], kind: .invalidQoS),
    Malformed(name: "PUBLISH QoS 0 with DUP", bytes: [0x38, 0x03, 0x00, 0x01, 0x61], kind: .invalidFlags),
    Malformed(name: "PUBLISH topic with +", bytes: [0x30, 0x03, 0x00, 0x01, 0x2B], kind: .invalidTopicName),
    Malformed(name: "PUBLISH topic with #", bytes: [0x30, 0x05, 0x00, 0x03, 0x61, 0x2F, 0x23], kind: .invalidTopicName),
    Malformed(name: "PUBLISH empty topic", bytes: [0x30, 0x02, 0x00, 0x00], kind: .invalidTopicName),
    Malformed(name: "PUBLISH topic length past the end", bytes: [0x30, 0x03, 0x00, 0x05, 0x61], kind: .invalidLength),
    Malformed(name: "PUBLISH topic not UTF-8", bytes: [0x30, 0x04, 0x00, 0x02, 0xC3, 0x28], kind: .invalidUTF8),
    Malformed(name: "PUBLISH topic with an encoded surrogate", bytes: [0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80], kind: .invalidUTF8),
    Malformed(name: "PUBLISH topic with U+0000", bytes: [0x30, 0x04, 0x00, 0x02, 0x61, 0x00], kind: .invalidUTF8),
    Malformed(name: "CONNACK reserved acknowledge flags", bytes: [0x20, 0x02, 0x02, 0x00], kind: .invalidFlags),
    Malformed(name: "CONNACK return code 6", bytes: [0x20, 0x02, 0x00, 0x06], kind: .invalidReturnCode),
    Malformed(name: "CONNACK session present with a refusal", bytes: [0x20, 0x02, 0x01, 0x05], kind: .invalidFlags),
    Malformed(name: "CONNACK wrong length", bytes: [0x20, 0x03, 0x00, 0x00, 0x00], kind: .invalidLength),
    Malformed(name: "CONNACK with flags", bytes: [0x21, 0x02, 0x00, 0x00], kind: .invalidFlags),
    Malformed(name: "SUBACK invalid return code", bytes: [0x90, 0x03, 0x00, 0x01, 0x03], kind: .invalidReturnCode),
    Malformed(name: "SUBACK without return codes", bytes: [0x90, 0x02, 0x00, 0x01], kind: .emptyPayload),
    Malformed(name: "SUBSCRIBE without filters", bytes: [0x82, 0x02, 0x00, 0x01], kind: .emptyPayload),
    Malformed(name: "SUBSCRIBE requested QoS 3", bytes: [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x03], kind: .invalidQoS),
    Malformed(name: "SUBSCRIBE reserved QoS bits", bytes: [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x41], kind: .invalidQoS),
    Malformed(name: "SUBSCRIBE filter a/#/b", bytes: [0x82, 0x0A, 0x00, 0x01, 0x00, 0x05, 0x61, 0x2F, 0x23, 0x2F, 0x62, 0x00], kind: .invalidTopicFilter),
    Malformed(name: "UNSUBSCRIBE filter a+", bytes: [0xA2, 0x06, 0x00, 0x01, 0x00, 0x02, 0x61, 0x2B], kind: .invalidTopicFilter),
    Malformed(name: "UNSUBSCRIBE without filters", bytes: [0xA2, 0x02, 0x00, 0x01], kind: .emptyPayload),
    Malformed(
        name: "CONNECT wrong protocol name", bytes: [0x10, 0x0C, 0x00, 0x04, 0x4D, 0x51, 0x49, 0x73, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00], kind: .invalidProtocol
    ),
    Malformed(
        name: "CONNECT reserved flag", bytes: [0x10, 0x0C, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x03, 0x00, 0x3C, 0x00, 0x00], kind: .invalidConnectFlags),
    Malformed(
        name: "CONNECT will QoS without will", bytes: [0x10, 0x0C, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x0A, 0x00, 0x3C, 0x00, 0x00],
        kind: .invalidConnectFlags),
    Malformed(
        name: "CONNECT password without user name", bytes: [0x10, 0x0E, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x42, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x00],
        kind: .invalidConnectFlags),
    Malformed(name: "CONNECT will QoS 3", bytes: [0x10, 0x0C, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x1E, 0x00, 0x3C, 0x00, 0x00], kind: .invalidQoS),
]
