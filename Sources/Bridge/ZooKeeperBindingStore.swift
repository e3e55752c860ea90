import Foundation
import WeEvent
import ZooKeeper

/// Bindings in ZooKeeper (DESIGN §7), shared by every broker instance:
///
///     <root>/mqtt_topic                      data: bumped on every add/remove, so one watch sees every change
///     <root>/mqtt_topic/inbound/<encoded>    JSON binding
///     <root>/mqtt_topic/outbound/<encoded>   JSON binding with its checkpoint
///
/// `<encoded>` is `<groupId>/<topic>` percent-encoded. Updates are compare-and-set on the node
/// version, so concurrent master requests on different instances cannot lose one another.
public final class ZooKeeperBindingStore: BindingStore {
    let coordinator: ZooKeeperCoordinator

    public init(coordinator: ZooKeeperCoordinator) {
        self.coordinator = coordinator
    }

    private func path(_ key: Binding.Key) -> String {
        "\(coordinator.bindingsPath)/\(key.direction.rawValue)/\(key.nodeName)"
    }

    public func bindings() async throws -> [Binding] {
        try await coordinator.request { try await Self.read($0, root: coordinator.bindingsPath) }
    }

    static func read(_ client: ZooKeeperClient, root: String) async throws -> [Binding] {
        var all: [Binding] = []
        let decoder = JSONDecoder()
        for direction in Binding.Direction.allCases {
            let dir = "\(root)/\(direction.rawValue)"
            let names: [String]
            do {
                names = try await client.children(dir)
            } catch let error as ZooKeeperError where error.code == .noNode {
                continue
            }
            for name in names.sorted() {
                do {
                    let node = try await client.get("\(dir)/\(name)")
                    all.append(try decoder.decode(Binding.self, from: Data(node.data)))
                } catch let error as ZooKeeperError where error.code == .noNode {
                    continue  // removed meanwhile
                }
            }
        }
        return all
    }

    public func put(_ binding: Binding) async throws -> Binding {
        try await coordinator.request { client in
            let path = path(binding.key)
            while true {
                do {
                    let node = try await client.get(path)
                    let existing = try JSONDecoder().decode(Binding.self, from: Data(node.data))
                    if existing.sameSettings(as: binding) { return existing }
                    var stored = binding
                    stored.checkpoint = existing.checkpoint
                    stored.checkpointLedger = existing.checkpointLedger
                    try await client.set(path, data: Self.encode(stored), version: node.stat.version)
                    try await bump(client)
                    return stored
                } catch let error as ZooKeeperError where error.code == .noNode {
                    do {
                        try await client.create(path, data: Self.encode(binding))
                        try await bump(client)
                        return binding
                    } catch let error as ZooKeeperError where error.code == .nodeExists {
                        continue
                    }
                } catch let error as ZooKeeperError where error.code == .badVersion {
                    continue
                }
            }
        }
    }

    public func remove(_ key: Binding.Key) async throws -> Bool {
        try await coordinator.request { client in
            do {
                try await client.delete(path(key))
            } catch let error as ZooKeeperError where error.code == .noNode {
                return false
            }
            try await bump(client)
            return true
        }
    }

    public func advanceCheckpoint(_ key: Binding.Key, to position: UInt64, in ledgerID: String) async throws {
        try await coordinator.request { client in
            let path = path(key)
            while true {
                do {
                    let node = try await client.get(path)
                    var binding = try JSONDecoder().decode(Binding.self, from: Data(node.data))
                    guard binding.isAdvance(to: position, in: ledgerID) else { return }
                    binding.checkpoint = position
                    binding.checkpointLedger = ledgerID
                    try await client.set(path, data: Self.encode(binding), version: node.stat.version)
                    return
                } catch let error as ZooKeeperError where error.code == .noNode {
                    return  // removed meanwhile
                } catch let error as ZooKeeperError where error.code == .badVersion {
                    continue
                }
            }
        }
    }

    private func bump(_ client: ZooKeeperClient) async throws {
        try await client.set(coordinator.bindingsPath, data: Array("\(Date().timeIntervalSince1970)".utf8))
    }

    static func encode(_ binding: Binding) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(binding))
    }

    public func changes() -> AsyncStream<[Binding]> {
        let root = coordinator.bindingsPath
        return coordinator.snapshots(watching: root, what: "bindings") { client in try await Self.read(client, root: root) }
    }
}
