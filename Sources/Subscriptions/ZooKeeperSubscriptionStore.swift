import Cluster
import Foundation
import WeEvent

/// Callback subscriptions in ZooKeeper, shared by every broker instance:
///
///     <root>/subscriptions          data: bumped on every add, remove and URL change (one watch sees them)
///     <root>/subscriptions/<id>     JSON: the subscription with its position and the ledger it counts in
///
/// Updates are compare-and-set on the node version (`WatchedDocuments`). Positions are written
/// by the one instance delivering (the leader) and do not bump the root: the others read them
/// when asked.
public final class ZooKeeperSubscriptionStore: SubscriptionStore {
    let documents: WatchedDocuments<StoredSubscription>

    public init(coordinator: ZooKeeperCoordinator) {
        documents = WatchedDocuments(coordinator: coordinator, root: coordinator.root + "/subscriptions", what: "subscriptions")
    }

    private func path(_ id: String) -> String { documents.path(NodeName.encode(id)) }

    public func load() async throws -> [Subscription] {
        Self.ordered(try await documents.all())
    }

    public func save(_ subscription: Subscription) async throws {
        try await documents.modify(path(subscription.id)) { _ in StoredSubscription(subscription) }
    }

    public func add(_ subscription: Subscription, limit: Int) async throws -> Bool {
        try await documents.add(path(subscription.id), StoredSubscription(subscription), limit: limit)
    }

    public func savePosition(id: String, position: UInt64, delivered: UInt64, ledgerID: String) async throws {
        try await documents.modify(path(id), notify: false) { stored in
            stored.map { stored in
                var changed = stored
                changed.position = position
                changed.delivered = delivered
                changed.ledgerId = ledgerID
                return changed
            }
        }
    }

    public func remove(id: String) async throws {
        try await documents.remove(path(id))
    }

    public func changes() -> AsyncStream<[Subscription]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [Subscription].self, bufferingPolicy: .bufferingNewest(1))
        let task = Task {
            for await stored in documents.changes() { continuation.yield(Self.ordered(stored)) }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private static func ordered(_ stored: [StoredSubscription]) -> [Subscription] {
        stored.map(\.subscription).sorted { ($0.createdTimestamp, $0.id) < ($1.createdTimestamp, $1.id) }
    }
}

/// The JSON of a subscription node, in WeEvent's field names.
struct StoredSubscription: Codable, Sendable {
    var subscriptionId: String
    var groupId: String
    var topic: String
    var url: String
    var position: UInt64
    var delivered: UInt64
    var createdTimestamp: Int64
    var ledgerId: String?

    init(_ s: Subscription) {
        subscriptionId = s.id
        groupId = s.groupID
        topic = s.topic
        url = s.url
        position = s.position
        delivered = s.delivered
        createdTimestamp = s.createdTimestamp
        ledgerId = s.ledgerID
    }

    var subscription: Subscription {
        Subscription(
            id: subscriptionId, groupID: groupId, topic: topic, url: url, position: position,
            delivered: delivered, createdTimestamp: createdTimestamp, ledgerID: ledgerId
        )
    }
}
