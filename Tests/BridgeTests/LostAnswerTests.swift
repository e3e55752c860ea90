import Foundation
import Ledger
import Logging
import MQTT
import Synchronization
import Testing
import TestSupport
import WeEvent
@testable import Bridge

@Suite struct LostAnswerTests {
    /// The bridge retries a store that failed; if that store had in fact committed, its QoS 2
    /// messages are found by their receipts and not stored a second time.
    @Test func aStoreThatCommittedBeforeFailingDoesNotStoreQoS2MessagesTwice() async throws {
        let memory = MemoryLedgerStore()
        try await BridgeFixture.with(memory: memory) { fixture in
            let ledgers = fixture.ledgers
            _ = try await fixture.ledger.open(topic: "t")
            memory.loseAnswers(ofNext: 1)
            let binding = Binding(direction: .inbound, groupId: "1", topic: "t", mqttTopic: "dev/#", qos: 2, createdAt: 1)
            let snapshot = BindingSnapshot()
            snapshot.replace([binding])
            let acks = AckRecorder()
            let (stream, sink) = AsyncStream.makeStream(of: MQTTMessage.self)
            for (i, payload) in ["a", "b", "c"].enumerated() {
                sink.yield(acks.message("dev/\(i)", payload, qos: .exactlyOnce, packetID: UInt16(i + 1)))
            }
            sink.finish()
            try await InboundBridge(
                messages: stream, ledgers: ledgers, bindings: snapshot, status: fixture.status, rejected: fixture.rejected,
                contentMaxLength: 1024, extensionsMaxLength: 1024, session: "weevent-test", logger: Logger(label: "test")
            ).run()
            #expect(try await fixture.stored("t").map(\.content) == ["a", "b", "c"])
            #expect(acks.packetIDs == [1, 2, 3])
        }
    }
}
