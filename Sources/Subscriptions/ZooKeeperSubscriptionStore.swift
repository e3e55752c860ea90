import Bridge
import Foundation
import Logging
import WeEvent
import ZooKeeper

/// Callback subscriptions in ZooKeeper, shared by every broker instance:
///
///     <root>/subscriptions          data: bumped on every add, remove and URL change (one watch sees them)
///     <root>/subscriptions/<id>     JSON: the subscription with its position and the ledger it counts in
///
/// Updates are compare-and-set on the node version. Positions are written by the one instance
/// delivering (the leader) and do not bump the root: the others read them when asked.
public final class ZooKeeperSubscriptionStore: SubscriptionStore {
    let coordinator: ZooKeeperCoordinator

    public init(coordinator: ZooKeeperCoordinator) {
        self.coordinator = coordinator
    }

    private var root: String { coordinator.subscriptionsPath }

    public func load() async throws -> [Subscription] {
        let root = self.root
        return try await coordinator.request { client in try await Self.read(client, root: root) }
    }

    static func read(_ client: ZooKeeperClient, root: String) async throws -> [Subscription] {
        let names: [String]
        do {
            names = try await client.children(root)
        } catch let error as ZooKeeperError where error.code == .noNode {
            return []
        }
        var all: [Subscription] = []
        for name in names {
            do {
                let node = try await client.get("\(root)/\(name)")
                all.append(try JSONDecoder().decode(StoredSubscription.self, from: Data(node.data)).subscription)
            } catch let error as ZooKeeperError where error.code == .noNode {
                continue  // removed meanwhile
            }
        }
        return all.sorted { ($0.createdTimestamp, $0.id) < ($1.createdTimestamp, $1.id) }
    }

    public func save(_ subscription: Subscription) async throws {
        let path = "\(root)/\(subscription.id)"
        let data = try Self.encode(subscription)
        try await coordinator.request { client in
            do {
                try await client.create(path, data: data)
            } catch let error as ZooKeeperError where error.code == .nodeExists {
                try await client.set(path, data: data)
            }
            try await bump(client)
        }
    }

    public func setURL(id: String, url: String) async throws {
        try await update(id, bump: true) { $0.url = url }
    }

    public func savePosition(id: String, position: UInt64, delivered: UInt64, ledgerID: String) async throws {
        try await update(id, bump: false) { subscription in
            subscription.position = position
            subscription.delivered = delivered
            subscription.ledgerID = ledgerID
        }
    }

    public func remove(id: String) async throws {
        let path = "\(root)/\(id)"
        try await coordinator.request { client in
            do {
                try await client.delete(path)
            } catch let error as ZooKeeperError where error.code == .noNode {
                return
            }
            try await bump(client)
        }
    }

    public func changes() -> AsyncStream<[Subscription]> {
        let root = self.root
        return coordinator.snapshots(watching: root, what: "subscriptions") { client in try await Self.read(client, root: root) }
    }

    /// Read, change, write back if nobody wrote in between (else again); nothing if it is gone.
    private func update(_ id: String, bump shouldBump: Bool, _ change: @escaping (inout Subscription) -> Void) async throws {
        let path = "\(root)/\(id)"
        try await coordinator.request { client in
            while true {
                do {
                    let node = try await client.get(path)
                    var subscription = try JSONDecoder().decode(StoredSubscription.self, from: Data(node.data)).subscription
                    change(&subscription)
                    try await client.set(path, data: Self.encode(subscription), version: node.stat.version)
                    if shouldBump { try await bump(client) }
                    return
                } catch let error as ZooKeeperError where error.code == .noNode {
                    return
                } catch let error as ZooKeeperError where error.code == .badVersion {
                    continue
                }
            }
        }
    }

    private func bump(_ client: ZooKeeperClient) async throws {
        try await client.set(root, data: Array("\(Date().timeIntervalSince1970)".utf8))
    }

    static func encode(_ subscription: Subscription) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(StoredSubscription(subscription)))
    }
}

/// The JSON of a subscription node, in WeEvent's field names.
private struct StoredSubscription: Codable {
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
