import NIOCore

/// MQTT 3.1.1 control packet types (section 2.2.1).
public enum MQTTPacketType: UInt8, Sendable, CaseIterable {
    case connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp
    case subscribe, suback, unsubscribe, unsuback, pingreq, pingresp, disconnect

    public var name: String {
        switch self {
        case .connect: "CONNECT"
        case .connack: "CONNACK"
        case .publish: "PUBLISH"
        case .puback: "PUBACK"
        case .pubrec: "PUBREC"
        case .pubrel: "PUBREL"
        case .pubcomp: "PUBCOMP"
        case .subscribe: "SUBSCRIBE"
        case .suback: "SUBACK"
        case .unsubscribe: "UNSUBSCRIBE"
        case .unsuback: "UNSUBACK"
        case .pingreq: "PINGREQ"
        case .pingresp: "PINGRESP"
        case .disconnect: "DISCONNECT"
        }
    }
}

/// Quality of service of a message.
public enum MQTTQoS: UInt8, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One MQTT 3.1.1 control packet.
public enum MQTTPacket: Sendable, Hashable {
    case connect(ConnectPacket)
    case connack(ConnackPacket)
    case publish(PublishPacket)
    case puback(PubackPacket)
    case pubrec(PubrecPacket)
    case pubrel(PubrelPacket)
    case pubcomp(PubcompPacket)
    case subscribe(SubscribePacket)
    case suback(SubackPacket)
    case unsubscribe(UnsubscribePacket)
    case unsuback(UnsubackPacket)
    case pingreq
    case pingresp
    case disconnect

    /// The largest remaining length four bytes can encode.
    public static let maxRemainingLength = 268_435_455

    public var type: MQTTPacketType {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .puback: .puback
        case .pubrec: .pubrec
        case .pubrel: .pubrel
        case .pubcomp: .pubcomp
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .pingreq: .pingreq
        case .pingresp: .pingresp
        case .disconnect: .disconnect
        }
    }

    /// Appends the whole packet, fixed header included.
    public func write(to buffer: inout ByteBuffer) {
        switch self {
        case .connect(let p): p.write(to: &buffer)
        case .connack(let p): p.write(to: &buffer)
        case .publish(let p): p.write(to: &buffer)
        case .puback(let p): p.write(to: &buffer)
        case .pubrec(let p): p.write(to: &buffer)
        case .pubrel(let p): p.write(to: &buffer)
        case .pubcomp(let p): p.write(to: &buffer)
        case .subscribe(let p): p.write(to: &buffer)
        case .suback(let p): p.write(to: &buffer)
        case .unsubscribe(let p): p.write(to: &buffer)
        case .unsuback(let p): p.write(to: &buffer)
        case .pingreq: buffer.writeMQTTFixedHeader(type: .pingreq, flags: 0, remainingLength: 0)
        case .pingresp: buffer.writeMQTTFixedHeader(type: .pingresp, flags: 0, remainingLength: 0)
        case .disconnect: buffer.writeMQTTFixedHeader(type: .disconnect, flags: 0, remainingLength: 0)
        }
    }

    /// Reads one whole packet from the front of `buffer`.
    ///
    /// Returns nil, consuming nothing, when the packet is not complete yet. Throws `MQTTDecodeError`
    /// for a malformed packet, as soon as the fixed header shows it (so an oversized packet is
    /// refused before its bytes arrive).
    public static func read(from buffer: inout ByteBuffer, maxPacketSize: Int = maxRemainingLength + 5) throws -> MQTTPacket? {
        guard let header = try FixedHeader(peekingAt: buffer) else { return nil }
        let first = header.first
        let typeName = header.typeName
        let lengthBytes = header.lengthBytes
        let remaining = header.remaining
        guard let type = header.type else {
            throw MQTTDecodeError(.reservedPacketType, packet: typeName)
        }
        let total = header.total
        if total > maxPacketSize {
            throw MQTTDecodeError(.packetTooLarge, packet: typeName, "\(total) bytes, maximum \(maxPacketSize)")
        }
        guard buffer.readableBytes >= total else { return nil }
        let flags = first & 0x0F
        buffer.moveReaderIndex(forwardBy: 1 + lengthBytes)
        var body = buffer.readSlice(length: remaining)!
        let packet: MQTTPacket
        switch type {
        case .connect: packet = .connect(try ConnectPacket.read(from: &body, flags: flags))
        case .connack: packet = .connack(try ConnackPacket.read(from: &body, flags: flags))
        case .publish: packet = .publish(try PublishPacket.read(from: &body, flags: flags))
        case .puback: packet = .puback(try PubackPacket.read(from: &body, flags: flags))
        case .pubrec: packet = .pubrec(try PubrecPacket.read(from: &body, flags: flags))
        case .pubrel: packet = .pubrel(try PubrelPacket.read(from: &body, flags: flags))
        case .pubcomp: packet = .pubcomp(try PubcompPacket.read(from: &body, flags: flags))
        case .subscribe: packet = .subscribe(try SubscribePacket.read(from: &body, flags: flags))
        case .suback: packet = .suback(try SubackPacket.read(from: &body, flags: flags))
        case .unsubscribe: packet = .unsubscribe(try UnsubscribePacket.read(from: &body, flags: flags))
        case .unsuback: packet = .unsuback(try UnsubackPacket.read(from: &body, flags: flags))
        case .pingreq, .pingresp, .disconnect:
            try body.expectEmptyPacket(type, flags: flags)
            packet = type == .pingreq ? .pingreq : (type == .pingresp ? .pingresp : .disconnect)
        }
        return packet
    }
}

/// A packet's fixed header, read without consuming anything.
struct FixedHeader {
    let first: UInt8
    let lengthBytes: Int
    /// The remaining length: variable header and payload.
    let remaining: Int

    var type: MQTTPacketType? { MQTTPacketType(rawValue: first >> 4) }
    var flags: UInt8 { first & 0x0F }
    var typeName: String { type?.name ?? "packet type \(first >> 4)" }
    /// The whole packet's size.
    var total: Int { 1 + lengthBytes + remaining }

    /// nil while the header is not complete in `buffer`.
    init?(peekingAt buffer: ByteBuffer) throws {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        // Remaining length: at most four bytes, seven bits each.
        var remaining = 0
        var multiplier = 1
        var index = buffer.readerIndex + 1
        var lengthBytes = 0
        while true {
            guard let byte = buffer.getInteger(at: index, as: UInt8.self) else { return nil }
            lengthBytes += 1
            index += 1
            remaining += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 { break }
            if lengthBytes == 4 {
                throw MQTTDecodeError(.remainingLengthTooLong, packet: MQTTPacketType(rawValue: first >> 4)?.name ?? "packet type \(first >> 4)")
            }
            multiplier *= 128
        }
        self.first = first
        self.lengthBytes = lengthBytes
        self.remaining = remaining
    }
}

extension MQTTPacket: CustomStringConvertible {
    /// One line per packet, as `-d` prints it.
    public var description: String {
        switch self {
        case .connect(let p):
            "CONNECT (c\(p.cleanSession ? 1 : 0), k\(p.keepAlive), id '\(p.clientID)'\(p.username.map { ", u '\($0)'" } ?? "")\(p.will.map { ", will '\($0.topic)' q\($0.qos.rawValue)" } ?? ""))"
        case .connack(let p): "CONNACK (sp\(p.sessionPresent ? 1 : 0), rc\(p.returnCode))"
        case .publish(let p):
            "PUBLISH (d\(p.dup ? 1 : 0), q\(p.qos.rawValue), r\(p.retain ? 1 : 0), m\(p.packetID ?? 0), '\(p.topic)', \(p.skippedPayloadLength.map { "\($0) bytes skipped" } ?? "\(p.payload.readableBytes) bytes"))"
        case .puback(let p): "PUBACK (m\(p.packetID))"
        case .pubrec(let p): "PUBREC (m\(p.packetID))"
        case .pubrel(let p): "PUBREL (m\(p.packetID))"
        case .pubcomp(let p): "PUBCOMP (m\(p.packetID))"
        case .subscribe(let p):
            "SUBSCRIBE (m\(p.packetID), " + p.subscriptions.map { "'\($0.topicFilter)' q\($0.qos.rawValue)" }.joined(separator: ", ") + ")"
        case .suback(let p): "SUBACK (m\(p.packetID), " + p.returnCodes.map { String($0.rawValue) }.joined(separator: ", ") + ")"
        case .unsubscribe(let p): "UNSUBSCRIBE (m\(p.packetID), " + p.topicFilters.map { "'\($0)'" }.joined(separator: ", ") + ")"
        case .unsuback(let p): "UNSUBACK (m\(p.packetID))"
        case .pingreq: "PINGREQ"
        case .pingresp: "PINGRESP"
        case .disconnect: "DISCONNECT"
        }
    }
}

// MARK: - Shared encoding rules

extension ByteBuffer {
    @inlinable
    mutating func writeMQTTFixedHeader(type: MQTTPacketType, flags: UInt8, remainingLength: Int) {
        writeInteger(type.rawValue << 4 | flags)
        var value = remainingLength
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value > 0 { byte |= 0x80 }
            writeInteger(byte)
        } while value > 0
    }

    @inlinable
    mutating func writeMQTTString(_ string: String) {
        // Callers validate lengths at the API boundary; the codec only truncates nothing.
        writeInteger(UInt16(truncatingIfNeeded: string.utf8.count))
        writeString(string)
    }

    mutating func writeMQTTBinary(_ bytes: ByteBuffer) {
        writeInteger(UInt16(truncatingIfNeeded: bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }

    mutating func readMQTTString(_ packet: MQTTPacketType, field: String) throws -> String {
        guard let length = readInteger(as: UInt16.self), let slice = readSlice(length: Int(length)) else {
            throw MQTTDecodeError(.invalidLength, packet: packet.name, "\(field) runs past the end")
        }
        // Valid UTF-8 (which excludes encoded surrogates) and no U+0000 (MQTT-1.5.3-1, -2).
        let string: String? = slice.withUnsafeReadableBytes { raw in
            if raw.contains(0) { return nil }
            return String(validating: raw, as: UTF8.self)
        }
        guard let string else {
            throw MQTTDecodeError(.invalidUTF8, packet: packet.name, field)
        }
        return string
    }

    mutating func readMQTTBinary(_ packet: MQTTPacketType, field: String) throws -> ByteBuffer {
        guard let length = readInteger(as: UInt16.self), let slice = readSlice(length: Int(length)) else {
            throw MQTTDecodeError(.invalidLength, packet: packet.name, "\(field) runs past the end")
        }
        return slice
    }

    mutating func readMQTTByte(_ packet: MQTTPacketType, field: String) throws -> UInt8 {
        guard let byte = readInteger(as: UInt8.self) else {
            throw MQTTDecodeError(.invalidLength, packet: packet.name, "no \(field)")
        }
        return byte
    }

    mutating func readMQTTUInt16(_ packet: MQTTPacketType, field: String) throws -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else {
            throw MQTTDecodeError(.invalidLength, packet: packet.name, "no \(field)")
        }
        return value
    }

    mutating func readMQTTPacketID(_ packet: MQTTPacketType) throws -> UInt16 {
        let id = try readMQTTUInt16(packet, field: "packet identifier")
        guard id != 0 else { throw MQTTDecodeError(.zeroPacketIdentifier, packet: packet.name) }
        return id
    }

    func expectFlags(_ packet: MQTTPacketType, _ flags: UInt8, _ expected: UInt8) throws {
        guard flags == expected else {
            throw MQTTDecodeError(.invalidFlags, packet: packet.name, "flags \(flags), expected \(expected)")
        }
    }

    func expectConsumed(_ packet: MQTTPacketType) throws {
        guard readableBytes == 0 else {
            throw MQTTDecodeError(.invalidLength, packet: packet.name, "\(readableBytes) unexpected trailing bytes")
        }
    }

    func expectEmptyPacket(_ packet: MQTTPacketType, flags: UInt8) throws {
        try expectFlags(packet, flags, 0)
        try expectConsumed(packet)
    }
}
