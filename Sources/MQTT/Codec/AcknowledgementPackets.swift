import NIOCore

// PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK carry nothing but a packet identifier.

extension ByteBuffer {
    mutating func writeIDOnlyPacket(_ type: MQTTPacketType, flags: UInt8, id: UInt16) {
        writeMQTTFixedHeader(type: type, flags: flags, remainingLength: 2)
        writeInteger(id)
    }

    mutating func readIDOnlyPacket(_ type: MQTTPacketType, flags: UInt8, expectedFlags: UInt8) throws -> UInt16 {
        try expectFlags(type, flags, expectedFlags)
        guard readableBytes == 2 else {
            throw MQTTDecodeError(.invalidLength, packet: type.name, "remaining length \(readableBytes), expected 2")
        }
        return try readMQTTPacketID(type)
    }
}

/// PUBACK (section 3.4): QoS 1 delivery acknowledged.
public struct PubackPacket: Sendable, Hashable {
    public var packetID: UInt16
    public init(packetID: UInt16) { self.packetID = packetID }
    public func write(to buffer: inout ByteBuffer) { buffer.writeIDOnlyPacket(.puback, flags: 0, id: packetID) }
    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> PubackPacket {
        PubackPacket(packetID: try buffer.readIDOnlyPacket(.puback, flags: flags, expectedFlags: 0))
    }
}

/// PUBREC (section 3.5): QoS 2 delivery, part 1.
public struct PubrecPacket: Sendable, Hashable {
    public var packetID: UInt16
    public init(packetID: UInt16) { self.packetID = packetID }
    public func write(to buffer: inout ByteBuffer) { buffer.writeIDOnlyPacket(.pubrec, flags: 0, id: packetID) }
    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> PubrecPacket {
        PubrecPacket(packetID: try buffer.readIDOnlyPacket(.pubrec, flags: flags, expectedFlags: 0))
    }
}

/// PUBREL (section 3.6): QoS 2 delivery, part 2. Fixed-header flags must be 0010.
public struct PubrelPacket: Sendable, Hashable {
    public var packetID: UInt16
    public init(packetID: UInt16) { self.packetID = packetID }
    public func write(to buffer: inout ByteBuffer) { buffer.writeIDOnlyPacket(.pubrel, flags: 0x02, id: packetID) }
    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> PubrelPacket {
        PubrelPacket(packetID: try buffer.readIDOnlyPacket(.pubrel, flags: flags, expectedFlags: 0x02))
    }
}

/// PUBCOMP (section 3.7): QoS 2 delivery, part 3.
public struct PubcompPacket: Sendable, Hashable {
    public var packetID: UInt16
    public init(packetID: UInt16) { self.packetID = packetID }
    public func write(to buffer: inout ByteBuffer) { buffer.writeIDOnlyPacket(.pubcomp, flags: 0, id: packetID) }
    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> PubcompPacket {
        PubcompPacket(packetID: try buffer.readIDOnlyPacket(.pubcomp, flags: flags, expectedFlags: 0))
    }
}

/// UNSUBACK (section 3.11).
public struct UnsubackPacket: Sendable, Hashable {
    public var packetID: UInt16
    public init(packetID: UInt16) { self.packetID = packetID }
    public func write(to buffer: inout ByteBuffer) { buffer.writeIDOnlyPacket(.unsuback, flags: 0, id: packetID) }
    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> UnsubackPacket {
        UnsubackPacket(packetID: try buffer.readIDOnlyPacket(.unsuback, flags: flags, expectedFlags: 0))
    }
}
