import Cluster
import Foundation
import WeEvent

/// Bindings in ZooKeeper (DESIGN §7), shared by every broker instance:
///
///     <root>/mqtt_topic                      data: bumped on every add/remove, so one watch sees every change
///     <root>/mqtt_topic/inbound/<encoded>    JSON binding
///     <root>/mqtt_topic/outbound/<encoded>   JSON binding with its checkpoint
///
/// `<encoded>` is `<groupId>/<topic>` percent-encoded. Updates are compare-and-set on the node
/// version (`WatchedDocuments`), so concurrent master requests on different instances cannot
/// lose one another. Checkpoint moves do not bump the root: nobody needs to be woken for them.
public final class ZooKeeperBindingStore: BindingStore {
    let documents: WatchedDocuments<Binding>

    public init(coordinator: ZooKeeperCoordinator) {
        documents = WatchedDocuments(
            coordinator: coordinator, root: coordinator.root + "/mqtt_topic",
            folders: Binding.Direction.allCases.map(\.rawValue), what: "bindings"
        )
    }

    private func path(_ key: Binding.Key) -> String {
        documents.path(folder: key.direction.rawValue, NodeName.encode("\(key.groupId)/\(key.topic)"))
    }

    public func bindings() async throws -> [Binding] {
        try await documents.all()
    }

    public func put(_ binding: Binding) async throws -> Binding {
        let stored = try await documents.modify(path(binding.key)) { existing in
            guard let existing else { return binding }
            return existing.sameSettings(as: binding) ? nil : binding.keepingCheckpoint(of: existing)
        }
        return stored ?? binding
    }

    public func remove(_ key: Binding.Key) async throws -> Bool {
        try await documents.remove(path(key))
    }

    public func advanceCheckpoint(_ key: Binding.Key, to position: UInt64, in ledgerID: String) async throws {
        try await documents.modify(path(key), notify: false) { existing in
            existing?.advanced(to: position, in: ledgerID)
        }
    }

    public func changes() -> AsyncStream<[Binding]> {
        documents.changes()
    }
}
