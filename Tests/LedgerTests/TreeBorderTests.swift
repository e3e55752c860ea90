import Crypto
import Synchronization
import Testing
@testable import Ledger

/// Stored hashes of a tree built by appending to a `TreeBorder`, as a store keeps them.
final class StoredTree: TreeHashSource {
    private let nodes = Mutex<(leaves: [[UInt8]], levels: [Int: [UInt64: [UInt8]]])>(([], [:]))
    private let readCount = Mutex(0)
    var reads: Int { readCount.withLock { $0 } }

    init(leaves: [[UInt8]]) {
        var border = TreeBorder()
        var levels: [Int: [UInt64: [UInt8]]] = [:]
        for leaf in leaves {
            for node in border.append(leaf) { levels[node.subtree.level, default: [:]][node.subtree.index] = node.hash }
        }
        nodes.withLock { $0 = (leaves, levels) }
    }

    func storedHashes(level: Int, indexes: Range<UInt64>) async throws -> [[UInt8]] {
        readCount.withLock { $0 += 1 }
        return nodes.withLock { nodes in
            if level == 0 {
                let end = min(Int(indexes.upperBound), nodes.leaves.count)
                return Int(indexes.lowerBound) < end ? Array(nodes.leaves[Int(indexes.lowerBound)..<end]) : []
            }
            let stored = nodes.levels[level] ?? [:]
            var found: [[UInt8]] = []
            for index in indexes {
                guard let hash = stored[index] else { break }
                found.append(hash)
            }
            return found
        }
    }
}

@Suite struct TreeBorderTests {
    static func leaves(_ count: Int) -> [[UInt8]] {
        (0..<count).map { (i: Int) -> [UInt8] in
            let input: [UInt8] = [0, UInt8(truncatingIfNeeded: i), UInt8(truncatingIfNeeded: i >> 8), UInt8(truncatingIfNeeded: i >> 16)]
            return Array(SHA256.hash(data: input))
        }
    }

    /// A reference root straight from RFC 9162's definition, level by level.
    static func reference(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        MerkleTree.root(of: Array(leaves))
    }

    @Test func theBorderKnowsTheRootAfterEveryAppendAndCompletesEveryStoredNode() {
        let leaves = Self.leaves(600)
        var border = TreeBorder()
        var completed: [TreeBorder.Node] = []
        for (i, leaf) in leaves.enumerated() {
            completed += border.append(leaf)
            #expect(border.size == UInt64(i + 1))
            #expect(border.hashes.count == (i + 1).nonzeroBitCount)
            if i % 37 == 0 || i > 250 && i < 260 { #expect(border.root == Self.reference(leaves[...i]), "size \(i + 1)") }
        }
        // 600 leaves hold two full subtrees of 256: nodes (8, 0) and (8, 1), and nothing at level 16.
        #expect(completed.map(\.subtree) == [.init(level: 8, index: 0), .init(level: 8, index: 1)])
        #expect(completed[1].hash == MerkleTree.root(ofFull: Array(leaves[256..<512])))
        #expect(TreeBorder(size: border.size, hashes: border.hashes) == border)
        #expect(TreeBorder(size: 3, hashes: border.hashes) == nil, "a border whose hashes do not match its size")
        #expect(TreeBorder().root == MerkleTree.emptyRoot)
    }

    /// Proofs from stored hashes equal proofs from all the leaves, for trees across tile edges.
    @Test func proofsFromStoredTilesEqualProofsFromTheLeaves() async throws {
        let leaves = Self.leaves(1100)
        let stored = StoredTree(leaves: leaves)
        func fromLeaves(_ ranges: [Range<UInt64>]) -> [[UInt8]] {
            ranges.map { range in MerkleTree.hash(of: range) { MerkleTree.root(ofFull: Array(leaves[Int($0.leaves.lowerBound)..<Int($0.leaves.upperBound)])) } }
        }
        for size in [1, 2, 255, 256, 257, 511, 512, 513, 1024, 1100] as [UInt64] {
            let root = Self.reference(leaves[..<Int(size)])
            for index in Set([0, size / 3, size / 2, size - 1]) {
                var reader = TreeReader(source: stored)
                let proof = try await reader.inclusionProof(index: index, size: size)
                #expect(proof == fromLeaves(MerkleTree.inclusionRanges(index: index, size: size)), "leaf \(index) of \(size)")
                #expect(MerkleTree.verifyInclusion(leaf: leaves[Int(index)], index: index, size: size, proof: proof, root: root))
            }
            for from in Set([1, size / 2, size - 1, size]) where from > 0 {
                var reader = TreeReader(source: stored)
                let proof = try await reader.consistencyProof(from: from, to: size)
                let oldRoot = Self.reference(leaves[..<Int(from)])
                #expect(MerkleTree.verifyConsistency(size1: from, size2: size, proof: proof, root1: oldRoot, root2: root), "\(from) to \(size)")
            }
            var reader = TreeReader(source: stored)
            #expect(try await reader.hash(of: 0..<size) == root)
        }
    }

    /// A proof in a tree of 70,000 leaves (three stored levels: leaves, 8, 16) reads at most two
    /// tiles per stored level, however far the leaf is from the edge.
    @Test func aProofReadsAtMostTwoTilesPerStoredLevel() async throws {
        let leaves = Self.leaves(70_000)
        let stored = StoredTree(leaves: leaves)
        let size: UInt64 = 70_000
        var border = TreeBorder()
        for leaf in leaves { border.append(leaf) }
        for index: UInt64 in [0, 1_000, 65_535, 65_536, 69_999] {
            var reader = TreeReader(source: stored)
            let proof = try await reader.inclusionProof(index: index, size: size)
            #expect(MerkleTree.verifyInclusion(leaf: leaves[Int(index)], index: index, size: size, proof: proof, root: border.root))
            #expect(reader.reads <= 6, "leaf \(index): \(reader.reads) reads")
        }
        var reader = TreeReader(source: stored)
        let proof = try await reader.consistencyProof(from: 12_345, to: size)
        #expect(reader.reads <= 6)
        var old = TreeBorder()
        for leaf in leaves.prefix(12_345) { old.append(leaf) }
        #expect(MerkleTree.verifyConsistency(size1: 12_345, size2: size, proof: proof, root1: old.root, root2: border.root))
    }
}
