import Foundation
import Ledger
import Logging
import MQTT
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import Testing
import WeEvent
@testable import Bridge

/// Ledger → devices without an MQTT broker: a recorder stands in for the client and the test
/// decides when the broker "acknowledges" each message.
@Suite(.timeLimit(.minutes(1))) struct OutboundBridgeTests {
    final class Recorder: MQTTPublishing {
        struct Sent: Sendable {
            let topic: String
            let payload: String
            let qos: MQTTQoS
            let promise: EventLoopPromise<Void>
        }

        private let sent = Mutex<[Sent]>([])
        var messages: [Sent] { sent.withLock { $0 } }

        func startPublish(to topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, notAfter: Int64?) -> EventLoopFuture<Void> {
            let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
            sent.withLock { $0.append(Sent(topic: topic, payload: String(buffer: payload), qos: qos, promise: promise)) }
            return promise.futureResult
        }
    }

    func outbound(_ fixture: BridgeFixture, checkpoint: UInt64) async throws -> Binding {
        let binding = Binding(
            direction: .outbound, groupId: "1", topic: "commands", mqttTopic: "dev/cmd", qos: 2, createdAt: 1,
            checkpoint: checkpoint, checkpointLedger: fixture.ledger.ledgerID
        )
        return try await fixture.store.put(binding)
    }

    func checkpoint(_ fixture: BridgeFixture) async throws -> UInt64? {
        try await fixture.store.bindings().first { $0.direction == .outbound }?.checkpoint
    }

    func publish(_ fixture: BridgeFixture, _ content: String, fromMQTT: String? = nil) async throws {
        let extensions = fromMQTT.map { [MQTTBridge.mqttTopicExtension: $0] } ?? [:]
        _ = try await fixture.ledger.publish(NewEvent(topic: "commands", content: Array(content.utf8), extensions: extensions))
    }

    func start(_ fixture: BridgeFixture, _ binding: Binding, _ recorder: Recorder) -> Task<Void, any Error> {
        let bridge = OutboundBridge(
            client: recorder, ledger: fixture.ledger, binding: binding, store: fixture.store, status: fixture.status,
            logger: Logger(label: "test")
        )
        return Task { try await bridge.run() }
    }

    @Test func eventsAfterTheCheckpointGoOutInOrderAndTheCheckpointFollowsAcknowledgements() async throws {
        try await BridgeFixture.with { fixture in
            _ = try await fixture.ledger.open(topic: "commands")
            try await publish(fixture, "before the binding")
            let binding = try await outbound(fixture, checkpoint: try await fixture.ledger.chainInfo().eventCount)
            let recorder = Recorder()
            let running = start(fixture, binding, recorder)
            defer { running.cancel() }
            for i in 1...3 { try await publish(fixture, "c\(i)") }
            #expect(await eventually { recorder.messages.count == 3 })
            #expect(recorder.messages.map(\.payload) == ["c1", "c2", "c3"])
            #expect(recorder.messages.allSatisfy { $0.topic == "dev/cmd" && $0.qos == .exactlyOnce })
            // Nothing acknowledged yet: the checkpoint has not moved.
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await checkpoint(fixture) == 1)
            for message in recorder.messages { message.promise.succeed() }
            #expect(await eventually { (try? await checkpoint(fixture)) == 4 })
            #expect(fixture.status.snapshot()[binding.key]?.bridged == 3)
        }
    }

    @Test func anEventThatCameFromTheSameMQTTTopicIsNotSentBack() async throws {
        try await BridgeFixture.with { fixture in
            _ = try await fixture.ledger.open(topic: "commands")
            let binding = try await outbound(fixture, checkpoint: 0)
            let recorder = Recorder()
            let running = start(fixture, binding, recorder)
            defer { running.cancel() }
            try await publish(fixture, "echo", fromMQTT: "dev/cmd")
            try await publish(fixture, "from another device", fromMQTT: "dev/other")
            try await publish(fixture, "from REST")
            #expect(await eventually { recorder.messages.count == 2 })
            #expect(recorder.messages.map(\.payload) == ["from another device", "from REST"])
            for message in recorder.messages { message.promise.succeed() }
            #expect(await eventually { (try? await checkpoint(fixture)) == 3 })
        }
    }

    /// The broker never acknowledges the second message (the connection died): the bridge stops
    /// with the error, and the checkpoint stays after the first, so the next run sends the second again.
    @Test func aFailedAcknowledgementKeepsTheCheckpointBeforeTheUnacknowledgedEvent() async throws {
        try await BridgeFixture.with { fixture in
            _ = try await fixture.ledger.open(topic: "commands")
            let binding = try await outbound(fixture, checkpoint: 0)
            let recorder = Recorder()
            let running = start(fixture, binding, recorder)
            try await publish(fixture, "acknowledged")
            #expect(await eventually { recorder.messages.count == 1 })
            recorder.messages[0].promise.succeed()
            #expect(await eventually { (try? await checkpoint(fixture)) == 1 })
            try await publish(fixture, "lost with the connection")
            #expect(await eventually { recorder.messages.count == 2 })
            recorder.messages[1].promise.fail(MQTTClientError(.connectionLost, "test"))
            await #expect(throws: MQTTClientError.self) { try await running.value }
            #expect(try await checkpoint(fixture) == 1)

            let resumed = Recorder()
            let again = start(fixture, try #require(try await fixture.store.bindings().first), resumed)
            defer { again.cancel() }
            #expect(await eventually { resumed.messages.count == 1 })
            #expect(resumed.messages.map(\.payload) == ["lost with the connection"])
        }
    }
}
