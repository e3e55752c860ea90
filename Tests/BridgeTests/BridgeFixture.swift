import Foundation
import Ledger
import Logging
import MQTT
import NIOCore
import Synchronization
import WeEvent
@testable import Bridge

/// A real embedded ledger (group "1"; or an in-memory one on `memory`), a file binding store and
/// a rejected-message log in a temporary directory: what a bridge works on, without an MQTT broker.
struct BridgeFixture {
    let directory: String
    let ledgers: LedgerSet
    let store: LocalBindingStore
    let status = BridgeStatusBoard(instance: "test:1")
    let rejected: RejectedMessageLog
    var ledger: any EventLedger { try! ledgers.ledger("1") }

    static func with(memory: MemoryLedgerStore? = nil, _ body: (BridgeFixture) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ledgers =
            try memory.map { LedgerSet(groups: ["1"], ledgers: ["1": GroupLedger.inMemory(groupID: "1", store: $0, blockMaxEvents: 100)]) }
            ?? LedgerSet.openEmbedded(path: directory, groups: ["1"], blockMaxEvents: 100, blockMaxDelay: .zero, logger: Logger(label: "test"))
        let fixture = BridgeFixture(
            directory: directory, ledgers: ledgers, store: try LocalBindingStore(directory: directory),
            rejected: try RejectedMessageLog(directory: directory)
        )
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await ledgers.withRunning(logger: Logger(label: "test")) { try await body(fixture) }
    }

    /// The contents of `topic`'s events, in ledger order, with the MQTT topic each came from.
    func stored(_ topic: String) async throws -> [(content: String, mqttTopic: String?)] {
        let range = try await ledger.events(after: 0, through: nil, matching: try TopicFilter.parse(topic), limit: 1000)
        return range.events.map {
            (String(decoding: $0.event.content, as: UTF8.self), $0.event.extensions[MQTTBridge.mqttTopicExtension])
        }
    }
}

/// What was acknowledged, in order: the packet ids whose `ack()` was called.
final class AckRecorder: Sendable {
    private let acked = Mutex<[UInt16]>([])
    var packetIDs: [UInt16] { acked.withLock { $0 } }

    func message(
        _ topic: String, _ payload: String, qos: MQTTQoS = .atLeastOnce, packetID: UInt16, dup: Bool = false, underUnreleasedID: Bool = false
    ) -> MQTTMessage {
        MQTTMessage(
            topic: topic, payload: ByteBuffer(string: payload), qos: qos, dup: dup, packetID: packetID, underUnreleasedID: underUnreleasedID,
            acknowledge: { self.acked.withLock { $0.append(packetID) } }
        )
    }
}
