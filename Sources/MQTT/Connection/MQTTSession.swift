import NIOCore

/// A snapshot of a client's session state, for an application that wants it to survive a restart.
///
/// Pass it back to `MQTTClient.init(configuration:session:)` with the same client id and
/// `cleanSession == false`, and unacknowledged messages are resent and inbound QoS 2 messages
/// that were already processed are not delivered twice.
public struct MQTTSessionState: Sendable, Hashable, Codable {
    /// An outbound QoS 1/2 message the broker has not fully acknowledged.
    public struct OutboundMessage: Sendable, Hashable, Codable {
        public var packetID: UInt16
        public var topic: String
        public var payload: [UInt8]
        public var qos: MQTTQoS
        public var retain: Bool
        /// QoS 2 only: PUBREC was received, so only PUBREL remains to be resent.
        public var released: Bool

        public init(packetID: UInt16, topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool, released: Bool) {
            self.packetID = packetID
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.released = released
        }
    }

    /// The next packet identifier to try.
    public var nextPacketID: UInt16
    /// In the order they were first sent.
    public var outbound: [OutboundMessage]
    /// Inbound QoS 2 packet identifiers the application acknowledged (PUBREC) that the broker has not released yet.
    public var inboundQoS2Acknowledged: [UInt16]
    /// Inbound QoS 2 packet identifiers delivered to the application and not acknowledged by it yet.
    public var inboundQoS2Pending: [UInt16]
    /// Subscriptions restored when the broker has lost the session.
    public var subscriptions: [MQTTSubscription]

    public init(
        nextPacketID: UInt16 = 1, outbound: [OutboundMessage] = [], inboundQoS2Acknowledged: [UInt16] = [], inboundQoS2Pending: [UInt16] = [],
        subscriptions: [MQTTSubscription] = []
    ) {
        self.nextPacketID = nextPacketID
        self.outbound = outbound
        self.inboundQoS2Acknowledged = inboundQoS2Acknowledged
        self.inboundQoS2Pending = inboundQoS2Pending
        self.subscriptions = subscriptions
    }
}

/// The session rules of MQTT 3.1.1 section 4.3/4.4 as a value: every method says what to send.
/// It spans connections; the client keeps it, the channel handler feeds it packets.
struct MQTTSession {
    enum Outbound {
        /// Awaiting PUBACK (QoS 1) or PUBREC (QoS 2). `sent` is false until it first went out.
        case publish(PublishPacket, sent: Bool)
        /// Awaiting PUBCOMP.
        case released
    }

    enum Inbound: Equatable {
        /// Delivered to the application `deliveries` times under this id (more than once only when
        /// the broker reused the id for a new message: `receivedPublish`), not acknowledged yet.
        case awaitingApplication(deliveries: Int)
        /// PUBREC sent; awaiting PUBREL.
        case acknowledged
    }

    enum AckOutcome: Equatable {
        case completed
        case ignored
    }

    enum PubrecOutcome: Equatable {
        case sendPubrel
        case ignored
    }

    enum PublishOutcome: Equatable {
        case deliver
        /// A first delivery (DUP 0) under an id whose earlier message the broker never released:
        /// the broker lost that exchange (restarted from an older persistence file) and reused
        /// the id. Delivered, as a new message.
        case deliverUnderUnreleasedID
        case resendPubrec
        case ignoreDuplicate
    }

    enum AcknowledgeOutcome: Equatable {
        case sendPuback
        case sendPubrec
        case nothing
    }

    private(set) var outbound: [UInt16: (order: UInt64, state: Outbound)] = [:]
    private(set) var inboundQoS2: [UInt16: Inbound] = [:]
    private(set) var subscriptions: [MQTTSubscription] = []
    private var requestIDs: Set<UInt16> = []
    /// Publishes not sent yet, oldest first (ids; `takeNextUnsent` skips one whose entry is gone).
    private var unsentQueue: [UInt16] = []
    private var unsentHead = 0
    private(set) var unsentCount = 0
    /// Publishes not sent yet that must not go out after a time (milliseconds since 1970).
    private var deadlines: [UInt16: Int64] = [:]
    private var nextID: UInt16 = 1
    private var order: UInt64 = 0

    init() {}

    init(_ state: MQTTSessionState) {
        nextID = state.nextPacketID == 0 ? 1 : state.nextPacketID
        for message in state.outbound {
            order += 1
            if message.released {
                outbound[message.packetID] = (order, .released)
            } else {
                var buffer = ByteBufferAllocator().buffer(capacity: message.payload.count)
                buffer.writeBytes(message.payload)
                let packet = PublishPacket(
                    topic: message.topic, payload: buffer, qos: message.qos, retain: message.retain, dup: false, packetID: message.packetID)
                outbound[message.packetID] = (order, .publish(packet, sent: true))
            }
        }
        for id in state.inboundQoS2Acknowledged { inboundQoS2[id] = .acknowledged }
        for id in state.inboundQoS2Pending { inboundQoS2[id] = .awaitingApplication(deliveries: 1) }
        subscriptions = state.subscriptions
    }

    var snapshot: MQTTSessionState {
        let messages = outbound.sorted { $0.value.order < $1.value.order }.compactMap { id, entry -> MQTTSessionState.OutboundMessage? in
            switch entry.state {
            case .publish(let p, _):
                return .init(packetID: id, topic: p.topic, payload: Array(p.payload.readableBytesView), qos: p.qos, retain: p.retain, released: false)
            case .released:
                return .init(packetID: id, topic: "", payload: [], qos: .exactlyOnce, retain: false, released: true)
            }
        }
        return MQTTSessionState(
            nextPacketID: nextID,
            outbound: messages,
            inboundQoS2Acknowledged: inboundQoS2.filter { $0.value == .acknowledged }.map(\.key).sorted(),
            inboundQoS2Pending: inboundQoS2.filter { $0.value != .acknowledged }.map(\.key).sorted(),
            subscriptions: subscriptions
        )
    }

    // MARK: Packet identifiers

    /// Allocates an identifier not in use, counting up from 1 and wrapping. Nil when all 65535 are in use.
    mutating func allocatePacketID() -> UInt16? {
        guard outbound.count + requestIDs.count < Int(UInt16.max) else { return nil }
        while true {
            let id = nextID
            nextID = nextID == UInt16.max ? 1 : nextID + 1
            if outbound[id] == nil && !requestIDs.contains(id) { return id }
        }
    }

    mutating func allocateRequestID() -> UInt16? {
        guard let id = allocatePacketID() else { return nil }
        requestIDs.insert(id)
        return id
    }

    mutating func releaseRequestID(_ id: UInt16) {
        requestIDs.remove(id)
    }

    // MARK: Outbound

    /// Records a QoS 1/2 publish as in flight; returns the packet to send.
    /// `notAfter`: a publish still unsent at that time (ms since 1970) is never sent (`takeNextUnsent`).
    mutating func startPublish(_ packet: PublishPacket, sent: Bool, notAfter: Int64? = nil) {
        guard let id = packet.packetID else { return }
        order += 1
        outbound[id] = (order, .publish(packet, sent: sent))
        if !sent {
            unsentQueue.append(id)
            unsentCount += 1
            if let notAfter { deadlines[id] = notAfter }
        }
    }

    /// Outbound messages on the wire awaiting an acknowledgement.
    var sentInFlight: Int { outbound.count - unsentCount }

    /// The oldest publish not sent yet, now marked sent. Those passed over because their
    /// deadline is not after `now` are forgotten and their ids added to `expired`.
    mutating func takeNextUnsent(now: Int64 = 0, expired: inout [UInt16]) -> PublishPacket? {
        while unsentHead < unsentQueue.count {
            let id = unsentQueue[unsentHead]
            unsentHead += 1
            if unsentHead > 1024 && unsentHead * 2 > unsentQueue.count {
                unsentQueue.removeFirst(unsentHead)
                unsentHead = 0
            }
            if let entry = outbound[id], case .publish(let p, sent: false) = entry.state {
                unsentCount -= 1
                if let deadline = deadlines.removeValue(forKey: id), deadline <= now {
                    outbound[id] = nil
                    expired.append(id)
                    continue
                }
                outbound[id] = (entry.order, .publish(p, sent: true))
                return p
            }
        }
        return nil
    }

    mutating func receivedPuback(_ id: UInt16) -> AckOutcome {
        guard let entry = outbound[id], case .publish(let p, _) = entry.state, p.qos == .atLeastOnce else { return .ignored }
        outbound[id] = nil
        return .completed
    }

    mutating func receivedPubrec(_ id: UInt16) -> PubrecOutcome {
        guard let entry = outbound[id] else { return .ignored }
        switch entry.state {
        case .publish(let p, _):
            guard p.qos == .exactlyOnce else { return .ignored }
            outbound[id] = (entry.order, .released)
            return .sendPubrel
        case .released:
            // A repeated PUBREC: our PUBREL may have been lost, send it again.
            return .sendPubrel
        }
    }

    mutating func receivedPubcomp(_ id: UInt16) -> AckOutcome {
        guard let entry = outbound[id], case .released = entry.state else { return .ignored }
        outbound[id] = nil
        return .completed
    }

    /// What to send again on a new connection, in the order first sent: PUBLISH with DUP, PUBREL.
    /// Publishes never sent stay queued for `takeNextUnsent()`.
    func packetsToResend() -> [MQTTPacket] {
        outbound.sorted { $0.value.order < $1.value.order }.compactMap { id, entry in
            switch entry.state {
            case .publish(var p, let sent):
                guard sent else { return nil }
                p.dup = true
                return .publish(p)
            case .released:
                return .pubrel(PubrelPacket(packetID: id))
            }
        }
    }

    // MARK: Inbound

    mutating func receivedPublish(_ packet: PublishPacket) -> PublishOutcome {
        guard packet.qos == .exactlyOnce, let id = packet.packetID else { return .deliver }
        // A broker sends a message again with DUP set (MQTT-3.3.1-1) and reuses an id only after
        // PUBCOMP (MQTT-2.3.1-3), so a DUP 0 PUBLISH under an id still in flight here is a new
        // message: the broker lost the earlier exchange, as mosquitto does when it restarts from
        // a persistence file saved before it. Ignoring it would lose it while the broker counts it
        // delivered (it sends PUBREL for it and completes it to its publisher).
        switch inboundQoS2[id] {
        case nil:
            inboundQoS2[id] = .awaitingApplication(deliveries: 1)
            return .deliver
        case .awaitingApplication(let deliveries):
            // Redelivered before the application acknowledged: it already has the message.
            guard !packet.dup else { return .ignoreDuplicate }
            inboundQoS2[id] = .awaitingApplication(deliveries: deliveries + 1)
            return .deliverUnderUnreleasedID
        case .acknowledged:
            guard !packet.dup else { return .resendPubrec }
            inboundQoS2[id] = .awaitingApplication(deliveries: 1)
            return .deliverUnderUnreleasedID
        }
    }

    /// The application finished with an inbound message.
    mutating func acknowledge(_ id: UInt16, qos: MQTTQoS) -> AcknowledgeOutcome {
        switch qos {
        case .atMostOnce:
            return .nothing
        case .atLeastOnce:
            return .sendPuback
        case .exactlyOnce:
            switch inboundQoS2[id] {
            case nil:
                return .nothing
            case .awaitingApplication(let deliveries) where deliveries > 1:
                // PUBREC acknowledges every message delivered under the id: only after the last.
                inboundQoS2[id] = .awaitingApplication(deliveries: deliveries - 1)
                return .nothing
            case .awaitingApplication, .acknowledged:
                inboundQoS2[id] = .acknowledged
                return .sendPubrec
            }
        }
    }

    /// PUBREL is always answered with PUBCOMP, known or not (MQTT-4.3.3-2 and robustness after a lost session).
    mutating func receivedPubrel(_ id: UInt16) {
        inboundQoS2[id] = nil
    }

    /// The broker has no session for us: inbound identifiers it used no longer mean anything.
    mutating func brokerLostSession() {
        inboundQoS2.removeAll()
    }

    // MARK: Subscriptions

    mutating func subscribed(_ subscription: MQTTSubscription) {
        if let index = subscriptions.firstIndex(where: { $0.topicFilter == subscription.topicFilter }) {
            subscriptions[index] = subscription
        } else {
            subscriptions.append(subscription)
        }
    }

    mutating func unsubscribed(_ filter: String) {
        subscriptions.removeAll { $0.topicFilter == filter }
    }
}
