import Foundation
import Testing
@testable import Bridge

@Suite struct LocalBindingStoreTests {
    func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("bindings-\(UUID().uuidString)").path
    }

    func binding(_ topic: String, _ direction: Binding.Direction = .inbound, mqtt: String? = nil, qos: Int = 1) -> Binding {
        Binding(direction: direction, groupId: "1", topic: topic, mqttTopic: mqtt ?? topic, qos: qos, createdAt: 1)
    }

    @Test func bindingsSurviveReopening() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LocalBindingStore(directory: dir)
        _ = try await store.put(binding("a"))
        _ = try await store.put(binding("b", .outbound))
        try await store.advanceCheckpoint(binding("b", .outbound).key, to: 42, in: "L")
        #expect(try await store.remove(binding("a").key))
        #expect(try await store.remove(binding("a").key) == false)
        let reopened = try LocalBindingStore(directory: dir)
        let all = try await reopened.bindings()
        #expect(all.map(\.topic) == ["b"])
        #expect(all.first?.checkpoint == 42)
    }

    @Test func puttingTheSameBindingKeepsItAndChangingItKeepsTheCheckpoint() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LocalBindingStore(directory: dir)
        _ = try await store.put(binding("o", .outbound))
        try await store.advanceCheckpoint(binding("o", .outbound).key, to: 7, in: "L")
        try await store.advanceCheckpoint(binding("o", .outbound).key, to: 3, in: "L")
        #expect(try await store.put(binding("o", .outbound)).checkpoint == 7)
        let changed = try await store.put(binding("o", .outbound, mqtt: "devices/cmd", qos: 2))
        #expect(changed.mqttTopic == "devices/cmd" && changed.qos == 2 && changed.checkpoint == 7)
        #expect(changed.checkpointLedger == "L")
        // A leader on another ledger took over: its position replaces the old one, even if lower.
        try await store.advanceCheckpoint(binding("o", .outbound).key, to: 2, in: "M")
        let taken = try await store.bindings().first
        #expect(taken?.checkpoint == 2 && taken?.checkpointLedger == "M")
    }

    @Test func watchersSeeEveryChange() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LocalBindingStore(directory: dir)
        var changes = store.changes().makeAsyncIterator()
        #expect(await changes.next()?.isEmpty == true)
        _ = try await store.put(binding("a"))
        #expect(await changes.next()?.map(\.topic) == ["a"])
        _ = try await store.remove(binding("a").key)
        #expect(await changes.next()?.isEmpty == true)
    }
}
