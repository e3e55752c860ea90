import NIOCore
import Synchronization
import NIOEmbedded
import NIOPosix
import TestSupport
import Testing

@testable import MQTT

/// Exact packet flows between our client and a scripted broker on loopback.
@Suite(.serialized) struct FakePeerTests {
    func makeClient(_ broker: FakeBroker, cleanSession: Bool = true) throws -> MQTTClient {
        var configuration = MQTTConfiguration(
            host: "127.0.0.1", port: broker.port, clientID: "fake-peer-test", cleanSession: cleanSession, keepAlive: .seconds(60))
        configuration.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(10), maxDelay: .milliseconds(50))
        return try MQTTClient(configuration: configuration)
    }

    /// A client with a persistent session (clean session off) connected to a scripted broker.
    /// The body gets the client, the broker (its `nextPeer()` is the connection after a drop)
    /// and the first connection's peer.
    func withPersistentClient(_ body: @escaping @Sendable (MQTTClient, FakeBroker, ScriptedPeer) async throws -> Void) async throws {
        let broker = try await FakeBroker.start()
        let client = try makeClient(broker, cleanSession: false)
        try await withScriptTimeout {
            async let connected = client.connect()
            let peer = await broker.nextPeer()
            let connect = try await peer.acceptConnect()
            #expect(!connect.cleanSession)
            _ = try await connected
            try await body(client, broker, peer)
        }
        await client.disconnect()
        await broker.stop()
    }

    @Test func qos2PublishRunsTheFullExchange() async throws {
        try await withConnectedClient { client, peer in
            async let published: Void = client.publish(to: "cmd/1", payload: "on", qos: .exactlyOnce)
            guard case .publish(let publish) = await peer.receive() else { Issue.record("expected PUBLISH"); return }
            #expect(publish.qos == .exactlyOnce && publish.packetID == 1 && publish.topic == "cmd/1" && !publish.dup)
            try await peer.send(.pubrec(PubrecPacket(packetID: 1)))
            #expect(await peer.receive() == .pubrel(PubrelPacket(packetID: 1)))
            let midway = try await client.sessionState()
            #expect(midway.outbound.map(\.released) == [true])
            try await peer.send(.pubcomp(PubcompPacket(packetID: 1)))
            try await published
            #expect(try await client.sessionState().outbound.isEmpty)
        }
    }

    @Test func qos2MessageIsDeliveredOnceAndAcknowledgedOnlyByTheApplication() async throws {
        try await withConnectedClient { client, peer in
            var messages = client.messages.makeAsyncIterator()
            let publish = PublishPacket(topic: "dev/1", payload: ByteBuffer(string: "t=21"), qos: .exactlyOnce, packetID: 9)
            try await peer.send(.publish(publish))
            var dup = publish
            dup.dup = true
            try await peer.send(.publish(dup))
            let message = await messages.next()!
            #expect(message.topic == "dev/1" && message.payloadString == "t=21" && message.qos == .exactlyOnce)
            // Not acknowledged yet: the next thing the broker sees is what the application does next.
            async let subscribed = client.subscribe(to: [MQTTSubscription(topicFilter: "x", qos: .atMostOnce)])
            guard case .subscribe(let subscribe) = await peer.receive() else { Issue.record("expected SUBSCRIBE, not an acknowledgement"); return }
            try await peer.send(.suback(SubackPacket(packetID: subscribe.packetID, returnCodes: [.grantedQoS0])))
            _ = try await subscribed
            message.ack()
            #expect(await peer.receive() == .pubrec(PubrecPacket(packetID: 9)))
            try await peer.send(.pubrel(PubrelPacket(packetID: 9)))
            #expect(await peer.receive() == .pubcomp(PubcompPacket(packetID: 9)))
            // The duplicate was not delivered: the next message is the marker.
            try await peer.send(.publish(PublishPacket(topic: "dev/1", payload: ByteBuffer(string: "marker"))))
            #expect(await messages.next()?.payloadString == "marker")
        }
    }

    /// The answers a test gives the release hook, one per call, when it chooses to.
    actor ReleaseAnswers {
        private var answers: [Bool] = []
        private(set) var calls: [UInt16] = []

        func give(_ answer: Bool) { answers.append(answer) }

        func answer(_ packetID: UInt16) async -> Bool {
            calls.append(packetID)
            while answers.isEmpty { try? await Task.sleep(for: .milliseconds(10)) }
            return answers.removeFirst()
        }
    }

    /// With `onInboundRelease`, PUBCOMP waits for it (the bridge retires its receipt durably
    /// first), and is not sent when it answers false.
    @Test func pubcompWaitsForTheReleaseHookAndIsNotSentWhenItFails() async throws {
        let answers = ReleaseAnswers()
        try await withConnectedClient(configure: { configuration in
            configuration.onInboundRelease = { packetID in await answers.answer(packetID) }
        }) { client, peer in
            var messages = client.messages.makeAsyncIterator()
            for id: UInt16 in [5, 6] {
                try await peer.send(.publish(PublishPacket(topic: "dev/1", payload: ByteBuffer(string: "x"), qos: .exactlyOnce, packetID: id)))
                let message = await messages.next()!
                message.ack()
                #expect(await peer.receive() == .pubrec(PubrecPacket(packetID: id)))
            }
            try await peer.send(.pubrel(PubrelPacket(packetID: 5)))
            #expect(await eventually { await answers.calls == [5] })
            await answers.give(true)
            #expect(await peer.receive() == .pubcomp(PubcompPacket(packetID: 5)))
            // A failed release: no PUBCOMP; the client drops the connection, so the broker will
            // send PUBREL again on the next one.
            try await peer.send(.pubrel(PubrelPacket(packetID: 6)))
            await answers.give(false)
            #expect(await peer.receive() == nil)
            #expect(await answers.calls == [5, 6])
        }
    }

    /// With `onSessionLost`, no SUBSCRIBE leaves before it has answered true (retried on false):
    /// with no session the broker sends nothing until then, so nothing arrives under old receipts.
    @Test func subscriptionsWaitUntilTheLostSessionIsForgotten() async throws {
        let answers = ReleaseAnswers()
        let sentSubscribeAt = Mutex<ContinuousClock.Instant?>(nil)
        try await withConnectedClient(configure: { configuration in
            configuration.onSessionLost = { await answers.answer(0) }
            configuration.packetTrace = { sent, packet in
                if sent, case .subscribe = packet { sentSubscribeAt.withLock { $0 = $0 ?? .now } }
            }
        }) { client, peer in
            async let subscribed = client.subscribe(to: [MQTTSubscription(topicFilter: "a/#", qos: .atLeastOnce)])
            #expect(await eventually { await answers.calls == [0] })
            #expect(sentSubscribeAt.withLock { $0 } == nil)
            await answers.give(false)
            // Refused: the client asks again (and still sends no SUBSCRIBE).
            #expect(await eventually { await answers.calls == [0, 0] })
            #expect(sentSubscribeAt.withLock { $0 } == nil)
            let forgotten = ContinuousClock.now
            await answers.give(true)
            guard case .subscribe(let packet) = await peer.receive() else {
                Issue.record("expected SUBSCRIBE")
                return
            }
            #expect(await answers.calls == [0, 0])
            #expect(sentSubscribeAt.withLock { $0 }.map { $0 >= forgotten } == true)
            try await peer.send(.suback(SubackPacket(packetID: packet.packetID, returnCodes: [.grantedQoS1])))
            _ = try await subscribed
        }
    }

    @Test func qos1MessageIsAcknowledgedAfterAck() async throws {
        try await withConnectedClient { client, peer in
            var messages = client.messages.makeAsyncIterator()
            try await peer.send(.publish(PublishPacket(topic: "a", payload: ByteBuffer(string: "1"), qos: .atLeastOnce, packetID: 3)))
            let message = await messages.next()!
            message.ack()
            #expect(await peer.receive() == .puback(PubackPacket(packetID: 3)))
        }
    }

    @Test func unacknowledgedPublishesAreResentWithDupAfterADroppedConnection() async throws {
        try await withPersistentClient { client, broker, peer in
            var peer = peer
            async let first: Void = client.publish(to: "q/1", payload: "one", qos: .atLeastOnce)
            guard case .publish(let p1) = await peer.receive() else { Issue.record("expected PUBLISH"); return }
            async let second: Void = client.publish(to: "q/2", payload: "two", qos: .exactlyOnce)
            guard case .publish(let p2) = await peer.receive() else { Issue.record("expected PUBLISH"); return }
            try await peer.send(.pubrec(PubrecPacket(packetID: p2.packetID!)))
            #expect(await peer.receive() == .pubrel(PubrelPacket(packetID: p2.packetID!)))
            // The broker drops the connection before acknowledging anything else.
            try await peer.channel.close()
            peer = await broker.nextPeer()
            try await peer.acceptConnect(sessionPresent: true)
            var resent = p1
            resent.dup = true
            #expect(await peer.receive() == .publish(resent))
            #expect(await peer.receive() == .pubrel(PubrelPacket(packetID: p2.packetID!)))
            try await peer.send(.puback(PubackPacket(packetID: p1.packetID!)))
            try await peer.send(.pubcomp(PubcompPacket(packetID: p2.packetID!)))
            try await first
            try await second
        }
    }

    /// What mosquitto does after a SIGKILL: restarted from a persistence file saved before a
    /// QoS 2 exchange, it keeps the session but not that exchange, and gives the packet id we
    /// acknowledged (PUBREC, no PUBREL yet) to a new message, sent as new (DUP 0). The client
    /// delivers it; a DUP 1 PUBLISH under the id is still the acknowledged one, answered with PUBREC.
    @Test func aNewMessageUnderAnIdTheBrokerNeverReleasedIsDelivered() async throws {
        try await withPersistentClient { client, broker, peer in
            var peer = peer
            var messages = client.messages.makeAsyncIterator()
            let before = PublishPacket(topic: "dev/1", payload: ByteBuffer(string: "before the crash"), qos: .exactlyOnce, packetID: 7)
            try await peer.send(.publish(before))
            await messages.next()?.ack()
            #expect(await peer.receive() == .pubrec(PubrecPacket(packetID: 7)))
            // The broker dies before PUBREL and comes back from an older file, session present.
            try await peer.channel.close()
            peer = await broker.nextPeer()
            try await peer.acceptConnect(sessionPresent: true)
            var resent = before
            resent.dup = true
            try await peer.send(.publish(resent))
            #expect(await peer.receive() == .pubrec(PubrecPacket(packetID: 7)))
            try await peer.send(.publish(PublishPacket(topic: "dev/1", payload: ByteBuffer(string: "after the restart"), qos: .exactlyOnce, packetID: 7)))
            let new = await messages.next()
            #expect(new?.payloadString == "after the restart" && new?.underUnreleasedID == true && new?.dup == false)
            new?.ack()
            #expect(await peer.receive() == .pubrec(PubrecPacket(packetID: 7)))
            try await peer.send(.pubrel(PubrelPacket(packetID: 7)))
            #expect(await peer.receive() == .pubcomp(PubcompPacket(packetID: 7)))
        }
    }

    @Test func subscriptionsAreRestoredWhenTheBrokerLostTheSession() async throws {
        try await withPersistentClient { client, broker, peer in
            var peer = peer
            async let subscribed = client.subscribe(to: [MQTTSubscription(topicFilter: "s/#", qos: .atLeastOnce)])
            guard case .subscribe(let s) = await peer.receive() else { Issue.record("expected SUBSCRIBE"); return }
            try await peer.send(.suback(SubackPacket(packetID: s.packetID, returnCodes: [.grantedQoS1])))
            #expect(try await subscribed == [.atLeastOnce])
            try await peer.channel.close()
            peer = await broker.nextPeer()
            try await peer.acceptConnect(sessionPresent: false)
            guard case .subscribe(let again) = await peer.receive() else { Issue.record("expected SUBSCRIBE"); return }
            #expect(again.subscriptions == [MQTTSubscription(topicFilter: "s/#", qos: .atLeastOnce)])
        }
    }

    @Test func unexpectedPubrelIsAnsweredWithPubcomp() async throws {
        try await withConnectedClient { client, peer in
            try await peer.send(.pubrel(PubrelPacket(packetID: 42)))
            #expect(await peer.receive() == .pubcomp(PubcompPacket(packetID: 42)))
        }
    }

    @Test func strayAcknowledgementsAreIgnored() async throws {
        try await withConnectedClient { client, peer in
            try await peer.send(.puback(PubackPacket(packetID: 1)))
            try await peer.send(.pubcomp(PubcompPacket(packetID: 2)))
            try await peer.send(.pubrec(PubrecPacket(packetID: 3)))
            try await peer.send(.unsuback(UnsubackPacket(packetID: 4)))
            // The client neither answered nor dropped the connection: its next packet is our publish, id 1.
            async let published: Void = client.publish(to: "a", payload: "x", qos: .atLeastOnce)
            guard case .publish(let p) = await peer.receive() else { Issue.record("expected PUBLISH"); return }
            #expect(p.packetID == 1)
            try await peer.send(.puback(PubackPacket(packetID: 1)))
            try await published
            #expect(peer.channel.isActive)
        }
    }

    @Test func refusedConnectionIsATypedError() async throws {
        let broker = try await FakeBroker.start()
        let client = try makeClient(broker)
        try await withScriptTimeout {
            let connected = Task { try await client.connect() }
            let peer = await broker.nextPeer()
            _ = await peer.receive()
            try await peer.send(.connack(ConnackPacket(sessionPresent: false, returnCode: 4)))
            await #expect(throws: MQTTConnectError(returnCode: .badUsernameOrPassword)) { try await connected.value }
        }
        await broker.stop()
    }

    @Test func refusedSubscriptionNamesTheFilter() async throws {
        try await withConnectedClient { client, peer in
            let subscribed = Task {
                try await client.subscribe(to: [
                    MQTTSubscription(topicFilter: "ok", qos: .atLeastOnce), MQTTSubscription(topicFilter: "secret/#", qos: .atLeastOnce),
                ])
            }
            guard case .subscribe(let s) = await peer.receive() else { Issue.record("expected SUBSCRIBE"); return }
            try await peer.send(.suback(SubackPacket(packetID: s.packetID, returnCodes: [.grantedQoS1, .failure])))
            await #expect(throws: MQTTSubscribeError(refusedFilters: ["secret/#"])) { try await subscribed.value }
        }
    }

    @Test func malformedPacketFromTheBrokerClosesTheConnection() async throws {
        let broker = try await FakeBroker.start()
        var configuration = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "m", keepAlive: .seconds(60))
        configuration.reconnect = .never
        let client = try MQTTClient(configuration: configuration)
        try await withScriptTimeout {
            async let connected = client.connect()
            let peer = await broker.nextPeer()
            try await peer.acceptConnect()
            _ = try await connected
            // PUBACK with packet identifier 0, as raw bytes.
            try await peer.sendRaw([0x40, 0x02, 0x00, 0x00])
            #expect(await peer.receive() == nil)
            var states: [MQTTConnectionState] = []
            for await state in client.connectionStates { states.append(state) }
            #expect(states.last == .closed)
        }
        await broker.stop()
    }
}
