import NIOCore

/// A message the broker delivered.
///
/// For QoS 1 and 2 the broker is told the message arrived only when the application calls `ack()`,
/// so a message the application has not finished with is redelivered after a crash or reconnect.
public struct MQTTMessage: Sendable {
    public let topic: String
    public let payload: ByteBuffer
    public let qos: MQTTQoS
    public let retain: Bool
    /// The broker says it may have delivered this message before.
    public let dup: Bool
    /// nil at QoS 0.
    public let packetID: UInt16?
    /// A QoS 2 message sent as new (DUP 0) under a packet id whose earlier message the broker
    /// had not released: the broker lost that exchange (a restart from an older persistence
    /// file). It is a new message, or that earlier one sent again by a broker that forgot it
    /// had; an application that recorded the earlier one (the bridge's receipts) can tell which.
    public let underUnreleasedID: Bool
    /// Set when the message was larger than `MQTTConfiguration.maxPacketSize`: the length of the
    /// payload, which was skipped (`payload` is empty). Acknowledge it like any other message.
    public let skippedPayloadLength: Int?
    private let acknowledgement: Acknowledgement

    /// Who is told when the application calls `ack()`.
    enum Acknowledgement: Sendable {
        case none
        /// The client that received the message, for the session it arrived in.
        case client(MQTTAcknowledger, sessionEpoch: UInt64)
        /// The application's own: a message built outside a client (a replay, a test).
        case custom(@Sendable () -> Void)
    }

    /// A message built by the application, whose `ack()` calls `acknowledge` (at QoS 1 and 2).
    public init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false, dup: Bool = false,
        packetID: UInt16? = nil, underUnreleasedID: Bool = false, acknowledge: (@Sendable () -> Void)? = nil
    ) {
        self.init(
            topic: topic, payload: payload, qos: qos, retain: retain, dup: dup, packetID: packetID, underUnreleasedID: underUnreleasedID,
            acknowledgement: acknowledge.map { .custom($0) } ?? .none, skippedPayloadLength: nil
        )
    }

    init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, dup: Bool, packetID: UInt16?, underUnreleasedID: Bool = false,
        acknowledgement: Acknowledgement, skippedPayloadLength: Int?
    ) {
        self.underUnreleasedID = underUnreleasedID
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetID = packetID
        self.acknowledgement = acknowledgement
        self.skippedPayloadLength = skippedPayloadLength
    }

    /// The payload as UTF-8 text (invalid sequences repaired).
    public var payloadString: String { String(decoding: payload.readableBytesView, as: UTF8.self) }

    /// Tells the broker the application has processed the message: PUBACK at QoS 1, PUBREC at QoS 2.
    /// Does nothing at QoS 0. Returns at once; the acknowledgement goes out with the next flush.
    /// If the connection was lost meanwhile, a QoS 2 acknowledgement is still remembered and answers
    /// the broker's redelivery; a QoS 1 message is simply delivered again.
    public func ack() {
        guard qos != .atMostOnce, let packetID else { return }
        switch acknowledgement {
        case .none: break
        case .client(let acknowledger, let sessionEpoch):
            acknowledger.acknowledge(packetID: packetID, qos: qos, sessionEpoch: sessionEpoch)
        case .custom(let acknowledge): acknowledge()
        }
    }
}

/// The connection as the application sees it.
public enum MQTTConnectionState: Sendable, Hashable {
    case connecting
    case connected(sessionPresent: Bool)
    /// Lost; a reconnect is scheduled.
    case disconnected(reason: String)
    /// For good: `disconnect()` was called or reconnecting gave up.
    case closed
}

/// Routes `MQTTMessage.ack()` to the client's event loop.
final class MQTTAcknowledger: Sendable {
    let core: NIOLoopBoundBox<MQTTClientCore>
    let eventLoop: any EventLoop

    init(core: NIOLoopBoundBox<MQTTClientCore>, eventLoop: any EventLoop) {
        self.core = core
        self.eventLoop = eventLoop
    }

    func acknowledge(packetID: UInt16, qos: MQTTQoS, sessionEpoch: UInt64) {
        if eventLoop.inEventLoop {
            core.value.acknowledge(packetID: packetID, qos: qos, sessionEpoch: sessionEpoch)
        } else {
            let core = self.core
            eventLoop.execute { core.value.acknowledge(packetID: packetID, qos: qos, sessionEpoch: sessionEpoch) }
        }
    }
}
