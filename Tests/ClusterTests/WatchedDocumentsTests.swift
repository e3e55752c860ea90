import Cluster
import Foundation
import Logging
import Testing
import TestSupport

/// A document as a user of the store keeps one.
struct Note: Codable, Sendable, Equatable {
    var name: String
    var count: Int
}

/// Runs `body` with `count` coordinators (instances) on the shared ZooKeeper, under one fresh root.
func withInstances(
    _ count: Int, root: String = uniqueRoot(#function), credentials: (user: String, password: String)? = nil,
    _ body: @Sendable ([ZooKeeperCoordinator]) async throws -> Void
) async throws {
    let server = try await ZooKeeperServer.shared.value
    let coordinators = (0..<count).map { i in
        ZooKeeperCoordinator(
            hosts: server.hosts, root: root, instance: "instance-\(i)", sessionTimeout: .seconds(4),
            credentials: credentials, logger: Logger(label: "test")
        )
    }
    let running = coordinators.map { coordinator in Task { try await coordinator.run() } }
    defer { for task in running { task.cancel() } }
    // Every instance in the cluster first (a loaded machine may take a while to connect).
    for coordinator in coordinators {
        _ = try await withDeadline(.seconds(60), "a ZooKeeper session for \(coordinator.instance)") { await coordinator.client() }
    }
    try await body(coordinators)
    for task in running {
        task.cancel()
        _ = await task.result
    }
}

@Suite struct WatchedDocumentsTests {
    func notes(_ coordinator: ZooKeeperCoordinator) -> WatchedDocuments<Note> {
        WatchedDocuments(coordinator: coordinator, root: coordinator.root + "/notes", folders: ["a", "b"], what: "notes")
    }

    @Test func aDocumentWrittenOnOneInstanceIsReadAndSeenOnAnother() async throws {
        try await withInstances(2) { instances in
            let (a, b) = (notes(instances[0]), notes(instances[1]))
            let seen = Task {
                try await firstElement(of: b.changes(), within: .seconds(20)) { $0.contains(Note(name: "x/y", count: 1)) }
            }
            let stored = try await a.modify(a.path(folder: "b", NodeName.encode("x/y"))) { _ in Note(name: "x/y", count: 1) }
            #expect(stored == Note(name: "x/y", count: 1))
            try await a.modify(a.path(folder: "a", "first")) { _ in Note(name: "first", count: 0) }
            #expect(try await b.all() == [Note(name: "first", count: 0), Note(name: "x/y", count: 1)])
            #expect(try await seen.value != nil)
        }
    }

    /// Documents added at once from two instances under a limit: exactly the limit are kept.
    @Test func concurrentAddsFromTwoInstancesNeverPassTheLimit() async throws {
        try await withInstances(2) { instances in
            let stores = instances.map(notes)
            let added = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<16 {
                    let store = stores[i % 2]
                    group.addTask { try await store.add(store.path(folder: "a", "n\(i)"), Note(name: "n\(i)", count: i), limit: 5) }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(added == 5)
            #expect(try await stores[1].all().count == 5)
        }
    }

    @Test func concurrentChangesFromTwoInstancesAreAllKept() async throws {
        try await withInstances(2) { instances in
            let stores = instances.map(notes)
            let path = stores[0].path(folder: "a", "counter")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in stores {
                    group.addTask {
                        for _ in 0..<15 {
                            try await store.modify(path) { current in
                                Note(name: "counter", count: (current?.count ?? 0) + 1)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await stores[1].all() == [Note(name: "counter", count: 30)])
        }
    }

    @Test func leavingADocumentAsItIsAndRemovingIt() async throws {
        try await withInstances(1) { instances in
            let store = notes(instances[0])
            let path = store.path(folder: "a", "n")
            let untouched = try await store.modify(path) { _ in nil }
            #expect(untouched == nil)  // nothing there, nothing made
            let made = try await store.modify(path) { _ in Note(name: "n", count: 7) }
            #expect(made == Note(name: "n", count: 7))
            let kept = try await store.modify(path) { _ in nil }
            #expect(kept == Note(name: "n", count: 7))
            #expect(try await store.remove(path))
            #expect(try await !store.remove(path))
            #expect(try await store.all() == [])
        }
    }

    @Test func withoutAReachableZooKeeperARequestFailsWithACoordinationError() async throws {
        let coordinator = ZooKeeperCoordinator(
            hosts: "127.0.0.1:1", root: "/nowhere", instance: "lonely", sessionTimeout: .milliseconds(500), logger: Logger(label: "test")
        )
        await #expect(throws: CoordinationError.self) {
            _ = try await WatchedDocuments<Note>(coordinator: coordinator, root: "/nowhere/notes", what: "notes").all()
        }
    }
}
