import NIOCore

/// Turns bytes into `MQTTPacket`s. A malformed packet is thrown as `MQTTDecodeError`, which
/// `ByteToMessageHandler` passes to `errorCaught`, where the connection handler closes the channel.
public struct MQTTPacketDecoder: ByteToMessageDecoder {
    public typealias InboundOut = MQTTPacket

    public let maxPacketSize: Int

    public init(maxPacketSize: Int = MQTTPacket.maxRemainingLength + 5) {
        self.maxPacketSize = maxPacketSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let packet = try MQTTPacket.read(from: &buffer, maxPacketSize: maxPacketSize) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(packet))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

/// Turns `MQTTPacket`s into bytes (used by fake peers in tests; the client encodes in its handler).
public struct MQTTPacketEncoder: MessageToByteEncoder {
    public typealias OutboundIn = MQTTPacket
    public init() {}
    public func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        data.write(to: &out)
    }
}
