import Foundation
import Testing
import WeEvent
@testable import Ledger

/// The group tree (RFC 9162) over every event, as each store keeps it: its root is the root of
/// every stored event hash in position order, its proofs verify, it goes on after a reopen, and a
/// store made before the tree existed gets it on its next start.
@Suite(.timeLimit(.minutes(6))) struct GroupTreeTests {
    /// Every stored event hash, in position order.
    static func leaves(_ ledger: any EventLedger) async throws -> [[UInt8]] {
        let group = try #require(ledger as? GroupLedger)
        let size = try await group.chainInfo().eventCount
        return try await group.driver.storedEvents(from: 1, to: size + 1).map(\.hash)
    }

    static func publish(_ count: Int, on ledger: any EventLedger, from start: Int = 0) async throws {
        var next = start
        while next < start + count {
            let batch = min(97, start + count - next)
            let results = try await ledger.publish((next..<(next + batch)).map { NewEvent(topic: "t", content: Array("e\($0)".utf8)) })
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            next += batch
        }
    }

    /// The tree's head and proofs checked against the root of all stored leaves.
    static func checkTree(_ ledger: any EventLedger, store: Store) async throws {
        let group = try #require(ledger as? GroupLedger)
        let leaves = try await leaves(ledger)
        let (size, root) = try await group.treeHead()
        #expect(size == UInt64(leaves.count), "\(store)")
        #expect(root == MerkleTree.root(of: leaves), "\(store)")
        for position in Set([1, 255, 256, 257, leaves.count / 2, leaves.count].filter { $0 >= 1 && $0 <= leaves.count }) {
            let proof = try await group.inclusionProof(position: UInt64(position), treeSize: size)
            #expect(
                MerkleTree.verifyInclusion(leaf: leaves[position - 1], index: UInt64(position - 1), size: size, proof: proof, root: root),
                "\(store): position \(position) of \(size)"
            )
        }
        for from in Set([1, 255, 256, 300, leaves.count].filter { $0 >= 1 && $0 <= leaves.count }) {
            let consistency = try await group.consistency(from: UInt64(from), to: size)
            let proof = consistency.proof
            let old = MerkleTree.root(of: Array(leaves.prefix(from)))
            #expect(consistency.fromRoot == old)
            #expect(MerkleTree.verifyConsistency(size1: UInt64(from), size2: size, proof: proof, root1: old, root2: root), "\(store): \(from) to \(size)")
        }
    }

    @Test(arguments: Store.allCases) func theTreeCoversEveryEventAndGoesOnAfterAReopen(_ store: Store) async throws {
        try await withKeptLocation(store) { place in
            try await withLedger(store, maxEvents: 7, keep: place) { ledger, _ in
                _ = try await ledger.open(topic: "t")
                try await Self.publish(600, on: ledger)
                try await Self.checkTree(ledger, store: store)
                let group = try #require(ledger as? GroupLedger)
                await #expect(throws: WeEventError.self) { _ = try await group.inclusionProof(position: 601, treeSize: 601) }
                await #expect(throws: WeEventError.self) { _ = try await group.consistency(from: 2, to: 1) }
            }
            try await withLedger(store, maxEvents: 7, keep: place) { ledger, _ in
                try await Self.publish(100, on: ledger, from: 600)
                try await Self.checkTree(ledger, store: store)
            }
        }
    }

    /// A store whose tree is missing (as one written before the tree existed) builds it from its
    /// events when it opens.
    @Test(arguments: [Store.sqlite, Store.postgresql]) func aStoreWithoutItsTreeBuildsItOnOpen(_ store: Store) async throws {
        try await withKeptLocation(store) { place in
            try await withLedger(store, maxEvents: 50, keep: place) { ledger, subject in
                _ = try await ledger.open(topic: "t")
                try await Self.publish(530, on: ledger)
                try await subject.tamper(
                    sqlite: "DELETE FROM tree_nodes; DELETE FROM meta WHERE key IN ('tree_size', 'tree_border')",
                    postgresql: "DELETE FROM tree_nodes; UPDATE ledgers SET tree_border = NULL"
                )
            }
            try await withLedger(store, maxEvents: 50, keep: place) { ledger, _ in
                try await Self.checkTree(ledger, store: store)
                try await Self.publish(10, on: ledger, from: 530)
                try await Self.checkTree(ledger, store: store)
            }
        }
    }

    /// `weevent ledger copy` keeps the tree: the copy's head and proofs are the source's.
    @Test func aCopiedLedgerHasTheSameTree() async throws {
        try await withLedger(.sqlite, maxEvents: 13) { source, _ in
            _ = try await source.open(topic: "t")
            try await Self.publish(300, on: source)
            try await withLedger(.postgresql, maxEvents: 13) { destination, _ in
                let copied = try await LedgerCopy.copy(
                    from: try #require(source as? GroupLedger), to: try #require(destination as? GroupLedger), slice: 7
                )
                #expect(copied.eventsCopied == 300)
                let (from, to) = (try #require(source as? GroupLedger), try #require(destination as? GroupLedger))
                let (sourceSize, sourceRoot) = try await from.treeHead()
                let (copySize, copyRoot) = try await to.treeHead()
                #expect(copySize == sourceSize && copySize == 300)
                #expect(copyRoot == sourceRoot)
                try await Self.checkTree(destination, store: .postgresql)
            }
        }
    }
}
