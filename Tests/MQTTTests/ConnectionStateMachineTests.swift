import NIOCore
import Testing
@testable import MQTT

/// The decisions of one connection, driven directly: handshake, what a client may receive, keep-alive.
@Suite struct ConnectionStateMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func connected(keepAlive: TimeAmount = .seconds(10)) -> MQTTConnectionStateMachine {
        var machine = MQTTConnectionStateMachine(keepAlive: keepAlive, pingTimeout: .seconds(5))
        _ = machine.channelActive(now: start)
        _ = machine.received(.connack(ConnackPacket(sessionPresent: false, returnCode: 0)))
        return machine
    }

    @Test func theHandshakeSendsConnectOnceAndAcceptsAConnack() {
        var machine = MQTTConnectionStateMachine(keepAlive: .seconds(10), pingTimeout: .seconds(5))
        do { let outcome = machine.channelActive(now: start); #expect(outcome == .sendConnect) }
        do { let outcome = machine.channelActive(now: start); #expect(outcome == .none) }
        #expect(machine.state == .awaitingConnack)
        do {
            let outcome = machine.received(.connack(ConnackPacket(sessionPresent: true, returnCode: 0)));
            #expect(outcome == .connectionAccepted(sessionPresent: true))
        }
        #expect(machine.state == .connected)
    }

    @Test func aRefusedConnackClosesWithItsReturnCode() {
        var machine = MQTTConnectionStateMachine(keepAlive: .seconds(10), pingTimeout: .seconds(5))
        _ = machine.channelActive(now: start)
        do {
            let outcome = machine.received(.connack(ConnackPacket(sessionPresent: false, returnCode: 5))); #expect(outcome == .connectionRefused(returnCode: 5))
        }
        #expect(machine.state == .closed)
        do { let outcome = machine.received(.pingresp); #expect(outcome == .none) }
    }

    @Test func anythingButConnackBeforeTheHandshakeClosesTheConnection() {
        var machine = MQTTConnectionStateMachine(keepAlive: .seconds(10), pingTimeout: .seconds(5))
        _ = machine.channelActive(now: start)
        do { let outcome = machine.received(.pingresp); #expect(outcome == .close(reason: "PINGRESP received before CONNACK")) }
        #expect(machine.state == .closed)
    }

    @Test(arguments: [
        MQTTPacket.connack(ConnackPacket(sessionPresent: false, returnCode: 0)),
        .subscribe(SubscribePacket(packetID: 1, subscriptions: [MQTTSubscription(topicFilter: "a", qos: .atMostOnce)])),
        .pingreq, .disconnect,
    ])
    func packetsOnlyAClientSendsCloseTheConnection(_ packet: MQTTPacket) {
        var machine = connected()
        do { let outcome = machine.received(packet); #expect(outcome == .close(reason: "a broker must not send \(packet.type.name) here")) }
        #expect(machine.state == .closed)
    }

    @Test func sessionPacketsArePassedToTheSession() {
        var machine = connected()
        let publish = MQTTPacket.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, packetID: 3))
        do { let outcome = machine.received(publish); #expect(outcome == .session(publish)) }
        do { let outcome = machine.received(.puback(PubackPacket(packetID: 3))); #expect(outcome == .session(.puback(PubackPacket(packetID: 3)))) }
        #expect(machine.state == .connected)
    }

    @Test func keepAlivePingsAfterIdleAndGivesUpOnASilentPeer() {
        var machine = connected()
        do { let outcome = machine.keepAliveTick(now: start + .seconds(9)); #expect(outcome == .none) }
        machine.wrote(now: start + .seconds(9))
        // Idle is counted from the last write.
        do { let outcome = machine.keepAliveTick(now: start + .seconds(18)); #expect(outcome == .none) }
        do { let outcome = machine.keepAliveTick(now: start + .seconds(19)); #expect(outcome == .sendPingreq) }
        do { let outcome = machine.keepAliveTick(now: start + .seconds(23)); #expect(outcome == .none) }
        do { let outcome = machine.keepAliveTick(now: start + .seconds(24)); #expect(outcome == .closeDeadPeer) }
        #expect(machine.state == .closed)
    }

    @Test func aPingrespClearsThePendingPing() {
        var machine = connected()
        do { let outcome = machine.keepAliveTick(now: start + .seconds(10)); #expect(outcome == .sendPingreq) }
        do { let outcome = machine.received(.pingresp); #expect(outcome == .none) }
        do { let outcome = machine.keepAliveTick(now: start + .seconds(16)); #expect(outcome == .none) }
        do { let outcome = machine.keepAliveTick(now: start + .seconds(20)); #expect(outcome == .sendPingreq) }
    }

    @Test func keepAliveZeroNeverPings() {
        var machine = connected(keepAlive: .zero)
        do { let outcome = machine.keepAliveTick(now: start + .hours(1)); #expect(outcome == .none) }
    }

    @Test func theConnackTimerOnlyFiresWhileWaitingForIt() {
        var waiting = MQTTConnectionStateMachine(keepAlive: .seconds(10), pingTimeout: .seconds(5))
        _ = waiting.channelActive(now: start)
        do { let fired = waiting.connackTimeout(); #expect(fired) }
        #expect(waiting.state == .closed)
        var done = connected()
        do { let fired = done.connackTimeout(); #expect(!fired) }
        #expect(done.state == .connected)
    }
}
