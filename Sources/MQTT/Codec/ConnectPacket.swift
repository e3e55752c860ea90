import NIOCore

/// A will message the broker publishes when the client vanishes without DISCONNECT.
public struct MQTTWill: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool

    public init(topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

/// CONNECT (section 3.1).
public struct ConnectPacket: Sendable, Hashable {
    public var clientID: String
    public var cleanSession: Bool
    public var keepAlive: UInt16
    public var username: String?
    public var password: ByteBuffer?
    public var will: MQTTWill?

    public init(
        clientID: String, cleanSession: Bool = true, keepAlive: UInt16 = 60, username: String? = nil, password: ByteBuffer? = nil, will: MQTTWill? = nil
    ) {
        self.clientID = clientID
        self.cleanSession = cleanSession
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.will = will
    }

    public func write(to buffer: inout ByteBuffer) {
        var flags: UInt8 = 0
        var length = 6 + 1 + 1 + 2 + 2 + clientID.utf8.count
        if cleanSession { flags |= 0x02 }
        if let will {
            flags |= 0x04 | (will.qos.rawValue << 3) | (will.retain ? 0x20 : 0)
            length += 2 + will.topic.utf8.count + 2 + will.payload.readableBytes
        }
        if let username {
            flags |= 0x80
            length += 2 + username.utf8.count
        }
        if let password {
            flags |= 0x40
            length += 2 + password.readableBytes
        }
        buffer.writeMQTTFixedHeader(type: .connect, flags: 0, remainingLength: length)
        buffer.writeMQTTString("MQTT")
        buffer.writeInteger(UInt8(4))
        buffer.writeInteger(flags)
        buffer.writeInteger(keepAlive)
        buffer.writeMQTTString(clientID)
        if let will {
            buffer.writeMQTTString(will.topic)
            buffer.writeMQTTBinary(will.payload)
        }
        if let username { buffer.writeMQTTString(username) }
        if let password { buffer.writeMQTTBinary(password) }
    }

    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> ConnectPacket {
        let t = MQTTPacketType.connect
        try buffer.expectFlags(t, flags, 0)
        let name = try buffer.readMQTTString(t, field: "protocol name")
        let level = try buffer.readMQTTByte(t, field: "protocol level")
        guard name == "MQTT", level == 4 else {
            throw MQTTDecodeError(.invalidProtocol, packet: t.name, "\(name) level \(level)")
        }
        let connectFlags = try buffer.readMQTTByte(t, field: "connect flags")
        let keepAlive = try buffer.readMQTTUInt16(t, field: "keep alive")
        guard connectFlags & 0x01 == 0 else {
            throw MQTTDecodeError(.invalidConnectFlags, packet: t.name, "reserved bit set")
        }
        let hasWill = connectFlags & 0x04 != 0
        let willQoSBits = (connectFlags >> 3) & 0x03
        let willRetain = connectFlags & 0x20 != 0
        let hasUsername = connectFlags & 0x80 != 0
        let hasPassword = connectFlags & 0x40 != 0
        if !hasWill && (willQoSBits != 0 || willRetain) {
            throw MQTTDecodeError(.invalidConnectFlags, packet: t.name, "will QoS or retain without will")
        }
        guard let willQoS = MQTTQoS(rawValue: willQoSBits) else {
            throw MQTTDecodeError(.invalidQoS, packet: t.name, "will QoS 3")
        }
        if hasPassword && !hasUsername {
            throw MQTTDecodeError(.invalidConnectFlags, packet: t.name, "password without user name")
        }
        let clientID = try buffer.readMQTTString(t, field: "client identifier")
        var will: MQTTWill?
        if hasWill {
            let topic = try buffer.readMQTTString(t, field: "will topic")
            guard MQTTTopic.isValidName(topic) else {
                throw MQTTDecodeError(.invalidTopicName, packet: t.name, "will topic '\(topic)'")
            }
            let payload = try buffer.readMQTTBinary(t, field: "will message")
            will = MQTTWill(topic: topic, payload: payload, qos: willQoS, retain: willRetain)
        }
        let username = hasUsername ? try buffer.readMQTTString(t, field: "user name") : nil
        let password = hasPassword ? try buffer.readMQTTBinary(t, field: "password") : nil
        try buffer.expectConsumed(t)
        return ConnectPacket(
            clientID: clientID, cleanSession: connectFlags & 0x02 != 0, keepAlive: keepAlive, username: username, password: password, will: will)
    }
}

/// CONNACK (section 3.2).
public struct ConnackPacket: Sendable, Hashable {
    public var sessionPresent: Bool
    /// 0 accepted; 1 to 5 refused (see `MQTTConnectError`).
    public var returnCode: UInt8

    public init(sessionPresent: Bool, returnCode: UInt8) {
        self.sessionPresent = sessionPresent
        self.returnCode = returnCode
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeMQTTFixedHeader(type: .connack, flags: 0, remainingLength: 2)
        buffer.writeInteger(UInt8(sessionPresent ? 1 : 0))
        buffer.writeInteger(returnCode)
    }

    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> ConnackPacket {
        let t = MQTTPacketType.connack
        try buffer.expectFlags(t, flags, 0)
        guard buffer.readableBytes == 2 else {
            throw MQTTDecodeError(.invalidLength, packet: t.name, "remaining length \(buffer.readableBytes), expected 2")
        }
        let ackFlags = buffer.readInteger(as: UInt8.self)!
        let code = buffer.readInteger(as: UInt8.self)!
        guard ackFlags & 0xFE == 0 else {
            throw MQTTDecodeError(.invalidFlags, packet: t.name, "reserved acknowledge flags \(ackFlags)")
        }
        guard code <= 5 else {
            throw MQTTDecodeError(.invalidReturnCode, packet: t.name, "return code \(code)")
        }
        guard code == 0 || ackFlags == 0 else {
            throw MQTTDecodeError(.invalidFlags, packet: t.name, "session present with refusal \(code)")
        }
        return ConnackPacket(sessionPresent: ackFlags == 1, returnCode: code)
    }
}
