import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
@testable import MQTT

@Suite struct MalformedInputTests {
    @Test("malformed input is refused", arguments: malformedInputs)
    func refused(input: Malformed) {
        var buffer = bytes(input.bytes)
        #expect {
            _ = try MQTTPacket.read(from: &buffer)
        } throws: { error in
            (error as? MQTTDecodeError)?.kind == input.kind
        }
    }

    @Test func packetLargerThanTheMaximumIsRefusedFromItsHeader() {
        // Header announces 1000 bytes; only the header has arrived.
        var buffer = bytes([0x30, 0xE8, 0x07])
        #expect {
            _ = try MQTTPacket.read(from: &buffer, maxPacketSize: 512)
        } throws: { error in
            (error as? MQTTDecodeError)?.kind == .packetTooLarge
        }
    }

    @Test func decoderInAPipelineReportsMalformedPacket() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoder()))
        #expect(throws: MQTTDecodeError.self) {
            try channel.writeInbound(bytes([0x40, 0x02, 0x00, 0x00]))
        }
        _ = try? channel.finish()
    }

    @Test("random bytes never crash the decoder")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let count = Int.random(in: 0..<40, using: &generator)
            var buffer = ByteBuffer(bytes: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
            while (try? MQTTPacket.read(from: &buffer)) ?? nil != nil {}
        }
    }

    @Test func topicFilterRules() {
        for valid in ["a", "a/b", "+", "#", "a/+/b", "a/#", "/", "+/+", "sport/tennis/#", "a//b"] {
            #expect(MQTTTopic.isValidFilter(valid), "\(valid)")
        }
        for invalid in ["", "a#", "a/#/b", "a+", "+a/b", "a/b#", "a\u{0}b"] {
            #expect(!MQTTTopic.isValidFilter(invalid), "\(invalid)")
        }
        #expect(MQTTTopic.isValidName("a/b"))
        #expect(!MQTTTopic.isValidName("a/+"))
        #expect(!MQTTTopic.isValidName(""))
    }

    @Test(arguments: [
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/#", "sport", true),
        ("#", "a/b/c", true),
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("sport/+", "sport/", true),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("#", "$SYS/broker", false),
        ("$SYS/#", "$SYS/broker", true),
        ("iot-2/type/+/id/+/evt/+/fmt/json", "iot-2/type/gw/id/dev1/evt/status/fmt/json", true),
        ("iot-2/type/+/id/+/evt/+/fmt/json", "iot-2/type/gw/id/dev1/evt/status/fmt/xml", false),
        ("iot-2/type/+/id/+/evt/+/fmt/json", "iot-2/type/gw/id/dev1/cmd/status/fmt/json", false),
        ("a/b", "a/b", true),
        ("a/b", "a/b/c", false),
    ])
    func topicMatching(filter: String, topic: String, expected: Bool) {
        #expect(MQTTTopic.matches(filter: filter, topic: topic) == expected)
    }
}
