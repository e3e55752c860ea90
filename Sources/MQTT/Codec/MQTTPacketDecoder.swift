import NIOCore

/// Turns bytes into `MQTTPacket`s. A malformed packet is thrown as `MQTTDecodeError`, which
/// `ByteToMessageHandler` passes to `errorCaught`, where the connection handler closes the channel.
///
/// A PUBLISH above `maxPacketSize` is not an error: it is passed on with its topic and packet id
/// and `skippedPayloadLength` set, and its payload is discarded as it arrives (never buffered),
/// so the exchange can run per its QoS and the connection goes on.
public struct MQTTPacketDecoder: ByteToMessageDecoder {
    public typealias InboundOut = MQTTPacket

    public let maxPacketSize: Int
    /// Payload bytes of an oversized PUBLISH still to discard.
    private var skipping = 0

    public init(maxPacketSize: Int = MQTTPacket.maxRemainingLength + 5) {
        self.maxPacketSize = maxPacketSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let packet = try next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(packet))
        return .continue
    }

    /// The next packet, nil when more bytes are needed.
    mutating func next(from buffer: inout ByteBuffer) throws -> MQTTPacket? {
        if skipping > 0 {
            let discarded = min(skipping, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: discarded)
            skipping -= discarded
            if skipping > 0 { return nil }
        }
        if let header = try FixedHeader(peekingAt: buffer), header.type == .publish, header.total > maxPacketSize {
            return try startSkipping(header, in: &buffer)
        }
        return try MQTTPacket.read(from: &buffer, maxPacketSize: maxPacketSize)
    }

    /// Reads an oversized PUBLISH's variable header once it is all there (at most 64 KiB of
    /// topic) and discards the payload from then on.
    private mutating func startSkipping(_ header: FixedHeader, in buffer: inout ByteBuffer) throws -> MQTTPacket? {
        let start = buffer.readerIndex + 1 + header.lengthBytes
        guard let topicLength = buffer.getInteger(at: start, as: UInt16.self) else { return nil }
        let variableHeader = 2 + Int(topicLength) + ((header.flags >> 1) & 0x03 == 0 ? 0 : 2)
        guard variableHeader <= header.remaining else {
            throw MQTTDecodeError(.invalidLength, packet: "PUBLISH", "topic longer than the packet")
        }
        guard buffer.readableBytes >= 1 + header.lengthBytes + variableHeader else { return nil }
        buffer.moveReaderIndex(forwardBy: 1 + header.lengthBytes)
        var fields = buffer.readSlice(length: variableHeader)!
        var packet = try PublishPacket.readHeader(from: &fields, flags: header.flags)
        packet.skippedPayloadLength = header.remaining - variableHeader
        skipping = header.remaining - variableHeader  // discarded by the next calls, as it arrives
        return .publish(packet)
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
