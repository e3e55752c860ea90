import Cluster
import Foundation
import Testing
import TestSupport
import ZooKeeper

/// `broker.zookeeper.auth`: the broker's nodes (bindings, subscriptions, election, registrations)
/// belong to its credentials; anyone else on the network can neither change nor read them.
@Suite struct ZooKeeperACLTests {
    @Test func withCredentialsOnlyTheBrokersSessionsCanTouchItsNodes() async throws {
        let root = uniqueRoot()
        try await withInstances(2, root: root, credentials: ("weevent", "s3cret")) { instances in
            let stores = instances.map {
                WatchedDocuments<Note>(coordinator: $0, root: $0.root + "/bindings", folders: ["inbound"], what: "bindings")
            }
            let path = stores[0].path(folder: "inbound", "sensor")
            try await stores[0].modify(path) { _ in Note(name: "sensor", count: 1) }
            // Another instance with the same credentials changes it.
            try await stores[1].modify(path) { current in Note(name: "sensor", count: (current?.count ?? 0) + 1) }

            let server = try await ZooKeeperServer.shared.value
            let anonymous = try await ZooKeeperClient.connect(to: server.hosts)
            let intruder = try await ZooKeeperClient.connect(to: server.hosts)
            try await intruder.addDigestAuth(user: "weevent", password: "guess")
            for client in [anonymous, intruder] {
                for attempt in [
                    { _ = try await client.set(path, data: Array(#"{"name":"sensor","count":99}"#.utf8)) },
                    { _ = try await client.get(path) },
                    { try await client.delete(path) },
                    { _ = try await client.create(root + "/leader/n_intruder_", data: [], mode: .ephemeralSequential) },
                ] as [@Sendable () async throws -> Void] {
                    let code = await Self.errorCode(attempt)
                    #expect(code == .noAuth, "\(String(describing: code))")
                }
            }
            #expect(try await stores[1].all() == [Note(name: "sensor", count: 2)])
            await anonymous.close()
            await intruder.close()
        }
    }

    @Test func withoutCredentialsTheNodesAreOpenAsBefore() async throws {
        let root = uniqueRoot()
        try await withInstances(1, root: root) { instances in
            let store = WatchedDocuments<Note>(coordinator: instances[0], root: root + "/bindings", folders: ["inbound"], what: "bindings")
            let path = store.path(folder: "inbound", "sensor")
            try await store.modify(path) { _ in Note(name: "sensor", count: 1) }
            let server = try await ZooKeeperServer.shared.value
            let anonymous = try await ZooKeeperClient.connect(to: server.hosts)
            #expect(try await anonymous.get(path).data.isEmpty == false)
            await anonymous.close()
        }
    }

    static func errorCode(_ body: @Sendable () async throws -> Void) async -> ZooKeeperError.Code? {
        do {
            try await body()
            return nil
        } catch let error as ZooKeeperError {
            return error.code
        } catch {
            return nil
        }
    }
}
