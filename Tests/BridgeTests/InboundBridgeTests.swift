import Foundation
import GRDB
import Ledger
import Logging
import MQTT
import Testing
import TestSupport
import WeEvent
@testable import Bridge

/// Device → ledger without an MQTT broker: messages from a stream, a real embedded ledger.
@Suite struct InboundBridgeTests {
    /// Runs an inbound bridge over `messages` until they are all handled.
    func bridge(
        _ fixture: BridgeFixture, _ bindings: [Binding], _ messages: [MQTTMessage], contentMaxLength: Int = 10_240
    ) async throws {
        let (stream, sink) = AsyncStream.makeStream(of: MQTTMessage.self)
        for message in messages { sink.yield(message) }
        sink.finish()
        let snapshot = BindingSnapshot()
        snapshot.replace(bindings)
        try await InboundBridge(
            messages: stream, ledgers: fixture.ledgers, bindings: snapshot, status: fixture.status, rejected: fixture.rejected,
            contentMaxLength: contentMaxLength, extensionsMaxLength: 1024, session: "weevent-test", logger: Logger(label: "test")
        ).run()
    }

    func inbound(_ topic: String, filter: String) -> Binding {
        Binding(direction: .inbound, groupId: "1", topic: topic, mqttTopic: filter, qos: 1, createdAt: 1)
    }

    @Test func messagesOnABoundFilterBecomeEventsAndEveryMessageIsAcknowledged() async throws {
        try await BridgeFixture.with { fixture in
            _ = try await fixture.ledger.open(topic: "readings")
            let acks = AckRecorder()
            try await bridge(
                fixture, [inbound("readings", filter: "dev/+/temp")],
                [
                    acks.message("dev/1/temp", "21.5", packetID: 1),
                    acks.message("elsewhere/x", "not bound", packetID: 2),
                    acks.message("dev/2/temp", "22.0", packetID: 3),
                ])
            let stored = try await fixture.stored("readings")
            #expect(stored.map(\.content) == ["21.5", "22.0"])
            #expect(stored.map(\.mqttTopic) == ["dev/1/temp", "dev/2/temp"])
            // An unbound message is acknowledged too (nothing would ever take it), in arrival order.
            #expect(acks.packetIDs == [1, 2, 3])
            #expect(fixture.status.snapshot()[inbound("readings", filter: "dev/+/temp").key]?.bridged == 2)
        }
    }

    @Test func aPayloadThatCannotBeAnEventIsRejectedLoggedAndAcknowledged() async throws {
        try await BridgeFixture.with { fixture in
            _ = try await fixture.ledger.open(topic: "small")
            let binding = inbound("small", filter: "small")
            let acks = AckRecorder()
            try await bridge(
                fixture, [binding],
                [
                    acks.message("small", "far too long", packetID: 1),
                    acks.message("small", "fits", packetID: 2),
                ], contentMaxLength: 4)
            #expect(try await fixture.stored("small").map(\.content) == ["fits"])
            #expect(acks.packetIDs == [1, 2])
            let rejected = try await fixture.rejected.read(groupId: "1", topic: "small", limit: 10)
            #expect(rejected.map(\.payload) == [Data("far too long".utf8).base64EncodedString()])
            #expect(rejected.first?.reason.contains("exceeds max length") == true, "\(rejected)")
            #expect(fixture.status.snapshot()[binding.key]?.rejected == 1)
        }
    }

    /// A rejection the log cannot record is not acknowledged: the broker would otherwise forget
    /// a message nobody kept. The bridge retries, shows the error on the binding, and goes on
    /// (acknowledging) once the log takes it.
    @Test func aRejectionThatCannotBeRecordedIsNotAcknowledged() async throws {
        try await BridgeFixture.with { fixture in
            _ = try await fixture.ledger.open(topic: "small")
            let binding = inbound("small", filter: "small")
            // The log's table vanishes under it (a damaged or tampered file): every write fails.
            // Waits for the log's own writes (its retries) instead of failing with "database is locked".
            var waiting = GRDB.Configuration()
            waiting.busyMode = .timeout(30)
            let other = try DatabaseQueue(path: fixture.rejected.path, configuration: waiting)
            try await other.write { try $0.execute(sql: "ALTER TABLE rejected RENAME TO hidden") }
            let acks = AckRecorder()
            let running = Task {
                try await bridge(
                    fixture, [binding],
                    [
                        acks.message("small", "far too long", packetID: 1),
                        acks.message("small", "fits", packetID: 2),
                    ], contentMaxLength: 4)
            }
            #expect(await eventually { fixture.status.snapshot()[binding.key]?.lastError?.contains("rejected log") == true })
            #expect(acks.packetIDs.isEmpty)
            #expect(fixture.status.snapshot()[binding.key]?.rejected ?? 0 == 0)
            try await other.write { try $0.execute(sql: "ALTER TABLE hidden RENAME TO rejected") }
            try await running.value
            #expect(acks.packetIDs == [1, 2])
            #expect(try await fixture.rejected.read(groupId: "1", topic: "small", limit: 10).count == 1)
            #expect(fixture.status.snapshot()[binding.key]?.rejected == 1)
        }
    }

    @Test func aMessageForATopicThatIsNotOpenIsRejectedNotLost() async throws {
        try await BridgeFixture.with { fixture in
            let binding = inbound("never.opened", filter: "dev/#")
            let acks = AckRecorder()
            try await bridge(fixture, [binding], [acks.message("dev/a", "reading", packetID: 9)])
            #expect(acks.packetIDs == [9])
            let rejected = try await fixture.rejected.read(groupId: "1", topic: "never.opened", limit: 10)
            #expect(rejected.map(\.reason) == ["topic not exist"])
        }
    }

    /// A QoS 2 message redelivered (DUP) after it was stored, as after a crash before PUBREC:
    /// its receipt names the stored event, so it is acknowledged and not stored again. A later
    /// message that reuses the packet id with another payload is a new message.
    @Test func aRedeliveredQoS2MessageIsStoredOnce() async throws {
        try await BridgeFixture.with { fixture in
            _ = try await fixture.ledger.open(topic: "once")
            let binding = inbound("once", filter: "once")
            let acks = AckRecorder()
            try await bridge(fixture, [binding], [acks.message("once", "first", qos: .exactlyOnce, packetID: 7)])
            try await bridge(fixture, [binding], [acks.message("once", "first", qos: .exactlyOnce, packetID: 7, dup: true)])
            #expect(try await fixture.stored("once").map(\.content) == ["first"])
            try await bridge(fixture, [binding], [acks.message("once", "second", qos: .exactlyOnce, packetID: 7, dup: true)])
            #expect(try await fixture.stored("once").map(\.content) == ["first", "second"])
            #expect(acks.packetIDs == [7, 7, 7])
        }
    }

    /// A broker restarted from an older persistence file sends, as new (DUP 0), under a packet id
    /// whose receipt the bridge still holds (no PUBREL came): the client marks such a message.
    /// The stored message sent again is not stored twice; a new one under the id is stored.
    @Test func aMessageUnderAnUnreleasedIdIsStoredUnlessItIsTheStoredOne() async throws {
        try await BridgeFixture.with { fixture in
            _ = try await fixture.ledger.open(topic: "reused")
            let binding = inbound("reused", filter: "reused")
            let acks = AckRecorder()
            try await bridge(fixture, [binding], [acks.message("reused", "first", qos: .exactlyOnce, packetID: 9)])
            try await bridge(fixture, [binding], [acks.message("reused", "first", qos: .exactlyOnce, packetID: 9, underUnreleasedID: true)])
            #expect(try await fixture.stored("reused").map(\.content) == ["first"])
            try await bridge(fixture, [binding], [acks.message("reused", "after the restart", qos: .exactlyOnce, packetID: 9, underUnreleasedID: true)])
            #expect(try await fixture.stored("reused").map(\.content) == ["first", "after the restart"])
            #expect(acks.packetIDs == [9, 9, 9])
        }
    }

    /// A binding made through an instance that serves another group: the leader cannot store its
    /// messages, rejects them with the reason and goes on with every other binding. It used to
    /// stop the whole inbound bridge with "event group id is not found".
    @Test func aBindingOfAGroupThisInstanceDoesNotServeDoesNotStopTheOthers() async throws {
        try await BridgeFixture.with { fixture in
            _ = try await fixture.ledger.open(topic: "here")
            let elsewhere = Binding(direction: .inbound, groupId: "9", topic: "there", mqttTopic: "far/#", qos: 1, createdAt: 1)
            let acks = AckRecorder()
            try await bridge(
                fixture, [elsewhere, inbound("here", filter: "near/#")],
                [
                    acks.message("far/x", "unstorable here", packetID: 1),
                    acks.message("near/x", "stored", packetID: 2),
                ])
            #expect(try await fixture.stored("here").map(\.content) == ["stored"])
            #expect(acks.packetIDs == [1, 2])
            #expect(
                try await fixture.rejected.read(groupId: "9", topic: "there", limit: 5).map(\.reason) == ["group 9 is not in this instance's ledger.groups"])
            #expect(fixture.status.snapshot()[elsewhere.key]?.lastError?.contains("ledger.groups") == true)
        }
    }

    @Test func oneMessageMatchingTwoBindingsBecomesAnEventInEach() async throws {
        try await BridgeFixture.with { fixture in
            _ = try await fixture.ledger.open(topic: "all")
            _ = try await fixture.ledger.open(topic: "temperatures")
            let acks = AckRecorder()
            try await bridge(
                fixture, [inbound("all", filter: "#"), inbound("temperatures", filter: "+/temp")],
                [
                    acks.message("d1/temp", "20", packetID: 1),
                    acks.message("d1/humidity", "40", packetID: 2),
                ])
            #expect(try await fixture.stored("all").map(\.content) == ["20", "40"])
            #expect(try await fixture.stored("temperatures").map(\.content) == ["20"])
            #expect(acks.packetIDs == [1, 2])
        }
    }
}
