import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
@testable import MQTT

@Suite struct SessionTests {
    @Test func packetIdentifiersStartAtOneAndSkipThoseInUse() {
        var session = MQTTSession()
        do { let outcome = session.allocatePacketID(); #expect(outcome == 1) }
        session.startPublish(PublishPacket(topic: "a", payload: ByteBuffer(), qos: .atLeastOnce, packetID: 2), sent: true)
        do { let outcome = session.allocatePacketID(); #expect(outcome == 3) }
    }

    @Test func sessionStateSurvivesASnapshot() {
        var session = MQTTSession()
        session.startPublish(PublishPacket(topic: "a", payload: ByteBuffer(string: "p"), qos: .atLeastOnce, packetID: 1), sent: true)
        session.startPublish(PublishPacket(topic: "b", payload: ByteBuffer(), qos: .exactlyOnce, packetID: 2), sent: true)
        _ = session.receivedPubrec(2)
        _ = session.receivedPublish(PublishPacket(topic: "c", payload: ByteBuffer(), qos: .exactlyOnce, packetID: 7))
        _ = session.acknowledge(7, qos: .exactlyOnce)
        let restored = MQTTSession(session.snapshot)
        #expect(restored.snapshot == session.snapshot)
        #expect(
            restored.packetsToResend() == [
                .publish(PublishPacket(topic: "a", payload: ByteBuffer(string: "p"), qos: .atLeastOnce, dup: true, packetID: 1)),
                .pubrel(PubrelPacket(packetID: 2)),
            ])
        var copy = restored
        do {
            let outcome = copy.receivedPublish(PublishPacket(topic: "c", payload: ByteBuffer(), qos: .exactlyOnce, dup: true, packetID: 7));
            #expect(outcome == .resendPubrec)
        }
    }

    // MARK: exchanges, one at a time (MQTT 3.1.1 §4.3)
    func publish(_ id: UInt16, _ qos: MQTTQoS, dup: Bool = false) -> PublishPacket {
        PublishPacket(topic: "t", payload: ByteBuffer(string: "m\(id)"), qos: qos, dup: dup, packetID: id)
    }

    @Test func qos1OutboundCompletesOnPubackOnly() {
        var session = MQTTSession()
        session.startPublish(publish(1, .atLeastOnce), sent: true)
        do { let outcome = session.receivedPubrec(1); #expect(outcome == .ignored) }
        do { let outcome = session.receivedPubcomp(1); #expect(outcome == .ignored) }
        do { let outcome = session.receivedPuback(1); #expect(outcome == .completed) }
        do { let outcome = session.receivedPuback(1); #expect(outcome == .ignored) }
        #expect(session.packetsToResend().isEmpty)
    }

    @Test func qos2OutboundGoesPublishPubrecPubrelPubcomp() {
        var session = MQTTSession()
        session.startPublish(publish(4, .exactlyOnce), sent: true)
        do { let outcome = session.receivedPuback(4); #expect(outcome == .ignored) }
        do { let outcome = session.receivedPubcomp(4); #expect(outcome == .ignored) }
        do { let outcome = session.receivedPubrec(4); #expect(outcome == .sendPubrel) }
        // After PUBREC the message is never sent again, only the PUBREL.
        #expect(session.packetsToResend() == [.pubrel(PubrelPacket(packetID: 4))])
        do { let outcome = session.receivedPubrec(4); #expect(outcome == .sendPubrel) }
        do { let outcome = session.receivedPubcomp(4); #expect(outcome == .completed) }
        #expect(session.packetsToResend().isEmpty)
    }

    @Test func unsentPublishesAreQueuedNotResent() {
        var session = MQTTSession()
        session.startPublish(publish(1, .atLeastOnce), sent: false)
        session.startPublish(publish(2, .atLeastOnce), sent: true)
        #expect(
            session.packetsToResend() == [.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "m2"), qos: .atLeastOnce, dup: true, packetID: 2))])
        do {
            var expired: [UInt16] = []
            let outcome = session.takeNextUnsent(expired: &expired)?.packetID
            #expect(outcome == 1 && expired.isEmpty)
        }
    }

    /// A publish given a time not to send after is dropped, not sent, when it is still unsent
    /// then; one already sent is resent like any other; later ones go out.
    @Test func anUnsentPublishPastItsDeadlineIsNeverSent() {
        var session = MQTTSession()
        session.startPublish(publish(1, .atLeastOnce), sent: false, notAfter: 1000)
        session.startPublish(publish(2, .atLeastOnce), sent: false, notAfter: 5000)
        session.startPublish(publish(3, .atLeastOnce), sent: false)
        var expired: [UInt16] = []
        #expect(session.takeNextUnsent(now: 1000, expired: &expired)?.packetID == 2 && expired == [1])
        #expect(session.takeNextUnsent(now: 9000, expired: &expired)?.packetID == 3 && expired == [1])
        #expect(session.takeNextUnsent(now: 9000, expired: &expired) == nil)
        #expect(session.packetsToResend().count == 2, "the sent ones, whatever their deadline")
        #expect(session.sentInFlight == 2 && session.unsentCount == 0)
    }

    @Test func qos2InboundIsDeliveredOnceAndAnsweredAfterTheApplication() {
        var session = MQTTSession()
        do { let outcome = session.receivedPublish(publish(9, .exactlyOnce)); #expect(outcome == .deliver) }
        // Redelivered (DUP) before the application acknowledged: not delivered twice, not answered yet.
        do { let outcome = session.receivedPublish(publish(9, .exactlyOnce, dup: true)); #expect(outcome == .ignoreDuplicate) }
        do { let outcome = session.acknowledge(9, qos: .exactlyOnce); #expect(outcome == .sendPubrec) }
        // Redelivered after PUBREC (ours was lost): answered again, still not delivered.
        do { let outcome = session.receivedPublish(publish(9, .exactlyOnce, dup: true)); #expect(outcome == .resendPubrec) }
        session.receivedPubrel(9)
        // After PUBREL the id is free: the same id is a new message.
        do { let outcome = session.receivedPublish(publish(9, .exactlyOnce)); #expect(outcome == .deliver) }
    }

    /// A broker that lost an exchange (restarted from an older persistence file) sends a new
    /// message under an id it never released: DUP 0. Delivered, and PUBREC waits for every
    /// message delivered under the id; a DUP 1 PUBLISH is still the earlier one.
    @Test func aNewMessageUnderAnUnreleasedIdIsDelivered() {
        var session = MQTTSession()
        do { let outcome = session.receivedPublish(publish(5, .exactlyOnce)); #expect(outcome == .deliver) }
        do { let outcome = session.acknowledge(5, qos: .exactlyOnce); #expect(outcome == .sendPubrec) }
        do { let outcome = session.receivedPublish(publish(5, .exactlyOnce, dup: true)); #expect(outcome == .resendPubrec) }
        do { let outcome = session.receivedPublish(publish(5, .exactlyOnce)); #expect(outcome == .deliverUnderUnreleasedID) }
        // And again before the application acknowledged it: two messages under one id.
        do { let outcome = session.receivedPublish(publish(5, .exactlyOnce)); #expect(outcome == .deliverUnderUnreleasedID) }
        do { let outcome = session.receivedPublish(publish(5, .exactlyOnce, dup: true)); #expect(outcome == .ignoreDuplicate) }
        #expect(session.snapshot.inboundQoS2Pending == [5])
        do { let outcome = session.acknowledge(5, qos: .exactlyOnce); #expect(outcome == .nothing) }
        do { let outcome = session.acknowledge(5, qos: .exactlyOnce); #expect(outcome == .sendPubrec) }
        #expect(session.snapshot.inboundQoS2Acknowledged == [5])
        session.receivedPubrel(5)
        do { let outcome = session.receivedPublish(publish(5, .exactlyOnce)); #expect(outcome == .deliver) }
    }

    @Test func aLostBrokerSessionForgetsInboundIdentifiers() {
        var session = MQTTSession()
        do { let outcome = session.receivedPublish(publish(3, .exactlyOnce)); #expect(outcome == .deliver) }
        session.brokerLostSession()
        do { let outcome = session.acknowledge(3, qos: .exactlyOnce); #expect(outcome == .nothing) }
        do { let outcome = session.receivedPublish(publish(3, .exactlyOnce)); #expect(outcome == .deliver) }
    }

    @Test func qos0AndQoS1InboundAreAlwaysDelivered() {
        var session = MQTTSession()
        do { let outcome = session.receivedPublish(publish(1, .atLeastOnce)); #expect(outcome == .deliver) }
        do { let outcome = session.receivedPublish(publish(1, .atLeastOnce)); #expect(outcome == .deliver) }
        do { let outcome = session.acknowledge(1, qos: .atLeastOnce); #expect(outcome == .sendPuback) }
        do { let outcome = session.acknowledge(0, qos: .atMostOnce); #expect(outcome == .nothing) }
    }
}
