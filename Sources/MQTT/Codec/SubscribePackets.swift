import NIOCore

/// One topic filter and the maximum QoS asked for it.
public struct MQTTSubscription: Sendable, Hashable, Codable {
    public var topicFilter: String
    public var qos: MQTTQoS

    public init(topicFilter: String, qos: MQTTQoS) {
        self.topicFilter = topicFilter
        self.qos = qos
    }
}

/// SUBSCRIBE (section 3.8). Fixed-header flags must be 0010.
public struct SubscribePacket: Sendable, Hashable {
    public var packetID: UInt16
    public var subscriptions: [MQTTSubscription]

    public init(packetID: UInt16, subscriptions: [MQTTSubscription]) {
        self.packetID = packetID
        self.subscriptions = subscriptions
    }

    public func write(to buffer: inout ByteBuffer) {
        let length = 2 + subscriptions.reduce(0) { $0 + 3 + $1.topicFilter.utf8.count }
        buffer.writeMQTTFixedHeader(type: .subscribe, flags: 0x02, remainingLength: length)
        buffer.writeInteger(packetID)
        for s in subscriptions {
            buffer.writeMQTTString(s.topicFilter)
            buffer.writeInteger(s.qos.rawValue)
        }
    }

    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> SubscribePacket {
        let t = MQTTPacketType.subscribe
        try buffer.expectFlags(t, flags, 0x02)
        let id = try buffer.readMQTTPacketID(t)
        var subscriptions: [MQTTSubscription] = []
        while buffer.readableBytes > 0 {
            let filter = try buffer.readMQTTString(t, field: "topic filter")
            guard MQTTTopic.isValidFilter(filter) else {
                throw MQTTDecodeError(.invalidTopicFilter, packet: t.name, "'\(filter)'")
            }
            let options = try buffer.readMQTTByte(t, field: "requested QoS")
            guard options & 0xFC == 0, let qos = MQTTQoS(rawValue: options) else {
                throw MQTTDecodeError(.invalidQoS, packet: t.name, "requested QoS byte \(options)")
            }
            subscriptions.append(MQTTSubscription(topicFilter: filter, qos: qos))
        }
        guard !subscriptions.isEmpty else { throw MQTTDecodeError(.emptyPayload, packet: t.name) }
        return SubscribePacket(packetID: id, subscriptions: subscriptions)
    }
}

/// A SUBACK return code: a granted QoS, or failure (0x80).
public enum MQTTSubackReturnCode: UInt8, Sendable, Hashable {
    case grantedQoS0 = 0x00
    case grantedQoS1 = 0x01
    case grantedQoS2 = 0x02
    case failure = 0x80

    public var grantedQoS: MQTTQoS? {
        self == .failure ? nil : MQTTQoS(rawValue: rawValue)
    }
}

/// SUBACK (section 3.9).
public struct SubackPacket: Sendable, Hashable {
    public var packetID: UInt16
    public var returnCodes: [MQTTSubackReturnCode]

    public init(packetID: UInt16, returnCodes: [MQTTSubackReturnCode]) {
        self.packetID = packetID
        self.returnCodes = returnCodes
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeMQTTFixedHeader(type: .suback, flags: 0, remainingLength: 2 + returnCodes.count)
        buffer.writeInteger(packetID)
        for code in returnCodes { buffer.writeInteger(code.rawValue) }
    }

    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> SubackPacket {
        let t = MQTTPacketType.suback
        try buffer.expectFlags(t, flags, 0)
        let id = try buffer.readMQTTPacketID(t)
        var codes: [MQTTSubackReturnCode] = []
        codes.reserveCapacity(buffer.readableBytes)
        while let byte = buffer.readInteger(as: UInt8.self) {
            guard let code = MQTTSubackReturnCode(rawValue: byte) else {
                throw MQTTDecodeError(.invalidReturnCode, packet: t.name, "return code \(byte)")
            }
            codes.append(code)
        }
        guard !codes.isEmpty else { throw MQTTDecodeError(.emptyPayload, packet: t.name, "no return code") }
        return SubackPacket(packetID: id, returnCodes: codes)
    }
}

/// UNSUBSCRIBE (section 3.10). Fixed-header flags must be 0010.
public struct UnsubscribePacket: Sendable, Hashable {
    public var packetID: UInt16
    public var topicFilters: [String]

    public init(packetID: UInt16, topicFilters: [String]) {
        self.packetID = packetID
        self.topicFilters = topicFilters
    }

    public func write(to buffer: inout ByteBuffer) {
        let length = 2 + topicFilters.reduce(0) { $0 + 2 + $1.utf8.count }
        buffer.writeMQTTFixedHeader(type: .unsubscribe, flags: 0x02, remainingLength: length)
        buffer.writeInteger(packetID)
        for filter in topicFilters { buffer.writeMQTTString(filter) }
    }

    public static func read(from buffer: inout ByteBuffer, flags: UInt8) throws -> UnsubscribePacket {
        let t = MQTTPacketType.unsubscribe
        try buffer.expectFlags(t, flags, 0x02)
        let id = try buffer.readMQTTPacketID(t)
        var filters: [String] = []
        while buffer.readableBytes > 0 {
            let filter = try buffer.readMQTTString(t, field: "topic filter")
            guard MQTTTopic.isValidFilter(filter) else {
                throw MQTTDecodeError(.invalidTopicFilter, packet: t.name, "'\(filter)'")
            }
            filters.append(filter)
        }
        guard !filters.isEmpty else { throw MQTTDecodeError(.emptyPayload, packet: t.name) }
        return UnsubscribePacket(packetID: id, topicFilters: filters)
    }
}
