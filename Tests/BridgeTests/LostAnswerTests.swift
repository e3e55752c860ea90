import Foundation
import Ledger
import Logging
import MQTT
import Synchronization
import Testing
import TestSupport
import WeEvent
@testable import Bridge

/// The real embedded ledger, except that its first batch store commits and then reports a
/// failure, as a PostgreSQL commit whose answer is lost to a timeout does.
final class LostAnswerLedger: EventLedger {
    let base: any EventLedger
    private let lost = Mutex(false)
    init(_ base: any EventLedger) { self.base = base }

    var groupID: String { base.groupID }
    var ledgerID: String { base.ledgerID }
    var commits: CommitFeed { base.commits }
    func open(topic: String, reopening: Bool) async throws -> Bool { try await base.open(topic: topic, reopening: reopening) }
    func close(topic: String) async throws { try await base.close(topic: topic) }
    func exists(topic: String) async throws -> Bool { try await base.exists(topic: topic) }
    func state(topic: String) async throws -> TopicState { try await base.state(topic: topic) }
    func list(pageIndex: Int, pageSize: Int) async throws -> TopicPage { try await base.list(pageIndex: pageIndex, pageSize: pageSize) }
    func publish(_ event: NewEvent) async throws -> EventID { try await base.publish(event) }
    func publish(_ events: [NewEvent]) async throws -> [Result<EventID, WeEventError>] { try await base.publish(events) }
    func publish(
        _ events: [NewEvent], receipts: [InboundReceipt?], queued: @escaping @Sendable () -> Void
    ) async throws -> [Result<EventID, WeEventError>] {
        let results = try await base.publish(events, receipts: receipts, queued: queued)
        if lost.withLock({
            let first = !$0; $0 = true; return first
        }) {
            throw LedgerStoreError("no answer from the store within 5.0 seconds (commit of group 1)")
        }
        return results
    }
    func receipt(_ receipt: InboundReceipt) async throws -> EventID? { try await base.receipt(receipt) }
    func retire(_ receipts: [InboundReceipt]) async throws { try await base.retire(receipts) }
    func retireAll(session: String) async throws { try await base.retireAll(session: session) }
    func event(id: EventID) async throws -> Event { try await base.event(id: id) }
    func chainInfo() async throws -> ChainInfo { try await base.chainInfo() }
    func events(after position: UInt64, through: UInt64?, matching filter: TopicFilter, limit: Int) async throws -> EventRange {
        try await base.events(after: position, through: through, matching: filter, limit: limit)
    }
    func position(of id: EventID) async throws -> UInt64 { try await base.position(of: id) }
    func firstPosition(ofBlock height: UInt64) async throws -> UInt64 { try await base.firstPosition(ofBlock: height) }
    func blockHeader(at height: UInt64) async throws -> BlockHeader { try await base.blockHeader(at: height) }
    func lastPosition(before timestamp: Int64) async throws -> UInt64 { try await base.lastPosition(before: timestamp) }
    func proof(of id: EventID, through head: UInt64) async throws -> EventProof { try await base.proof(of: id, through: head) }
    func verify() async throws -> VerificationReport { try await base.verify() }
    func shutdown() async { await base.shutdown() }
}

@Suite struct LostAnswerTests {
    /// The bridge retries a store that failed; if that store had in fact committed, its QoS 2
    /// messages are found by their receipts and not stored a second time.
    @Test func aStoreThatCommittedBeforeFailingDoesNotStoreQoS2MessagesTwice() async throws {
        try await BridgeFixture.with { fixture in
            let ledger = LostAnswerLedger(fixture.ledger)
            _ = try await ledger.open(topic: "t")
            let ledgers = LedgerSet(groups: ["1"], ledgers: ["1": ledger])
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
