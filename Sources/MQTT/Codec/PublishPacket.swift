import NIOCore

/// PUBLISH (section 3.3). `packetID` is nil exactly when `qos` is 0.
public struct PublishPacket: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    public var dup: Bool
    public var packetID: UInt16?
    /// Set on a received PUBLISH larger than the receiver's maximum packet size: its payload's
    /// length. The payload was skipped, not read (`payload` is empty); the exchange still runs
    /// per its QoS, so one oversized message does not cost the connection.
    public var skippedPayloadLength: Int?

    public init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false, dup: Bool = false,
        packetID: UInt16? = nil, skippedPayloadLength: Int? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetID = packetID
        self.skippedPayloadLength = skippedPayloadLength
    }

    public func write(to buffer: inout ByteBuffer) {
        let topicLength = topic.utf8.count
        let length = 2 + topicLength + (qos == .atMostOnce ? 0 : 2) + payload.readableBytes
        let flags: UInt8 = (dup ? 0x08 : 0) | (qos.rawValue << 1) | (retain ? 0x01 : 0)
        buffer.reserveCapacity(minimumWritableBytes: length + 5)
        buffer.writeMQTTFixedHeader(type: .publish, flags: flags, remainingLength: length)
        buffer.writeMQTTString(topic)
        if qos != .atMostOnce { buffer.writeInteger(packetID ?? 0) }
        buffer.writeImmutableBuffer(payload)
    }

    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> PublishPacket {
        var packet = try readHeader(from: &buffer, flags: flags)
        packet.payload = buffer.readSlice(length: buffer.readableBytes)!
        return packet
    }

    /// The variable header (topic, packet id) with the fixed header's flags; the payload left
    /// in `buffer`. The returned packet's payload is empty.
    static func readHeader(from buffer: inout ByteBuffer, flags: UInt8) throws -> PublishPacket {
        let t = MQTTPacketType.publish
        guard let qos = MQTTQoS(rawValue: (flags >> 1) & 0x03) else {
            throw MQTTDecodeError(.invalidQoS, packet: t.name, "QoS 3")
        }
        let dup = flags & 0x08 != 0
        if dup && qos == .atMostOnce {
            throw MQTTDecodeError(.invalidFlags, packet: t.name, "DUP set on QoS 0 (MQTT-3.3.1-2)")
        }
        let topic = try buffer.readMQTTString(t, field: "topic name")
        guard MQTTTopic.isValidName(topic) else {
            throw MQTTDecodeError(.invalidTopicName, packet: t.name, "'\(topic)'")
        }
        let id: UInt16? = qos == .atMostOnce ? nil : try buffer.readMQTTPacketID(t)
        return PublishPacket(topic: topic, payload: ByteBuffer(), qos: qos, retain: flags & 0x01 != 0, dup: dup, packetID: id)
    }
}
