import Crypto
import Testing
@testable import Ledger

/// The RFC 9162 tree against the published test vectors of RFC 6962's eight leaves (as
/// transparency-dev/merkle carries them: leaf inputs, the root of every size, and inclusion and
/// consistency proofs), and every proof of larger trees against the verification algorithms.
@Suite struct MerkleTreeTests {
    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static func leafHash(_ input: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: [0] + input))
    }

    static let inputs = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(hex)
    static let leaves = inputs.map(leafHash)

    /// The root of every tree size from 0 to 8.
    static let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ].map(hex)

    /// (leaf index, tree size, proof).
    static let inclusionVectors: [(UInt64, UInt64, [String])] = [
        (0, 1, []),
        (
            0, 8,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        ),
        (
            5, 8,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        ),
        (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1, 5,
            [
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        ),
    ]

    /// (size 1, size 2, proof).
    static let consistencyVectors: [(UInt64, UInt64, [String])] = [
        (1, 1, []),
        (
            1, 8,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        ),
        (
            6, 8,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        ),
        (
            2, 5,
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        ),
        (
            6, 7,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        ),
    ]

    /// A proof's hashes computed from the leaves themselves.
    static func hashes(_ ranges: [Range<UInt64>], _ leaves: [[UInt8]]) -> [[UInt8]] {
        ranges.map { range in
            MerkleTree.hash(of: range) { MerkleTree.root(ofFull: Array(leaves[Int($0.leaves.lowerBound)..<Int($0.leaves.upperBound)])) }
        }
    }

    static func root(_ size: UInt64, _ leaves: [[UInt8]]) -> [UInt8] {
        hashes([0..<size], leaves)[0]
    }

    @Test func rootsOfEveryPrefixMatchTheVectors() {
        for size in 0...8 {
            #expect(Self.root(UInt64(size), Self.leaves) == Self.roots[size], "size \(size)")
            #expect(MerkleTree.root(of: Array(Self.leaves.prefix(size))) == Self.roots[size], "size \(size), level by level")
        }
    }

    @Test func inclusionProofsMatchTheVectorsAndVerify() {
        for (index, size, expected) in Self.inclusionVectors {
            let proof = Self.hashes(MerkleTree.inclusionRanges(index: index, size: size), Self.leaves)
            #expect(proof == expected.map(Self.hex), "leaf \(index) of \(size)")
            let leaf = Self.leaves[Int(index)]
            #expect(MerkleTree.verifyInclusion(leaf: leaf, index: index, size: size, proof: proof, root: Self.roots[Int(size)]))
            // What the published failure cases change: the index, the size, the leaf, the root, the proof.
            #expect(!MerkleTree.verifyInclusion(leaf: leaf, index: index ^ 2, size: size, proof: proof, root: Self.roots[Int(size)]) || size < 3)
            #expect(!MerkleTree.verifyInclusion(leaf: leaf, index: index, size: size * 2, proof: proof, root: Self.roots[Int(size)]))
            #expect(!MerkleTree.verifyInclusion(leaf: Self.leaves[7], index: index, size: size, proof: proof, root: Self.roots[Int(size)]))
            #expect(!MerkleTree.verifyInclusion(leaf: leaf, index: index, size: size, proof: proof, root: Self.roots[0]))
            #expect(!MerkleTree.verifyInclusion(leaf: leaf, index: index, size: size, proof: proof + [Self.roots[1]], root: Self.roots[Int(size)]))
            if !proof.isEmpty {
                var flipped = proof
                flipped[0][4] ^= 1
                #expect(!MerkleTree.verifyInclusion(leaf: leaf, index: index, size: size, proof: flipped, root: Self.roots[Int(size)]))
                #expect(
                    !MerkleTree.verifyInclusion(leaf: leaf, index: index, size: size, proof: Array(proof.dropLast()), root: Self.roots[Int(size)])
                )
            }
        }
    }

    @Test func consistencyProofsMatchTheVectorsAndVerify() {
        for (size1, size2, expected) in Self.consistencyVectors {
            let proof = Self.hashes(MerkleTree.consistencyRanges(from: size1, to: size2), Self.leaves)
            #expect(proof == expected.map(Self.hex), "\(size1) to \(size2)")
            let (root1, root2) = (Self.roots[Int(size1)], Self.roots[Int(size2)])
            #expect(MerkleTree.verifyConsistency(size1: size1, size2: size2, proof: proof, root1: root1, root2: root2))
            #expect(!MerkleTree.verifyConsistency(size1: size2, size2: size1, proof: proof, root1: root2, root2: root1) || size1 == size2)
            #expect(!MerkleTree.verifyConsistency(size1: size1, size2: size2, proof: proof, root1: root1, root2: Self.roots[3]) || size2 == 3)
            #expect(!MerkleTree.verifyConsistency(size1: size1, size2: size2, proof: proof + [root1], root1: root1, root2: root2))
            if !proof.isEmpty {
                var flipped = proof
                flipped[proof.count - 1][0] ^= 0x80
                #expect(!MerkleTree.verifyConsistency(size1: size1, size2: size2, proof: flipped, root1: root1, root2: root2))
                #expect(!MerkleTree.verifyConsistency(size1: size1, size2: size2, proof: [], root1: root1, root2: root2))
            }
        }
    }

    /// Every proof of every tree up to 70 leaves verifies, and no proof verifies against another
    /// tree's root; the whole tree's root is the per-block rule's root (one implementation).
    @Test func everyProofOfSmallTreesVerifies() {
        let leaves = (0..<70).map { Self.leafHash([UInt8($0), 7]) }
        let roots = (0...70).map { Self.root(UInt64($0), leaves) }
        for size in 1...70 {
            #expect(roots[size] == BlockHash.merkleRoot(Array(leaves.prefix(size))))
            for index in 0..<size {
                let proof = Self.hashes(MerkleTree.inclusionRanges(index: UInt64(index), size: UInt64(size)), leaves)
                #expect(MerkleTree.verifyInclusion(leaf: leaves[index], index: UInt64(index), size: UInt64(size), proof: proof, root: roots[size]))
                #expect(proof.count <= 64 - UInt64(size).leadingZeroBitCount)
            }
            for from in 0...size {
                let proof = Self.hashes(MerkleTree.consistencyRanges(from: UInt64(from), to: UInt64(size)), leaves)
                #expect(
                    MerkleTree.verifyConsistency(size1: UInt64(from), size2: UInt64(size), proof: proof, root1: roots[from], root2: roots[size]),
                    "\(from) to \(size)"
                )
                if from > 0, from < size {
                    #expect(
                        !MerkleTree.verifyConsistency(size1: UInt64(from), size2: UInt64(size), proof: proof, root1: roots[from - 1], root2: roots[size])
                    )
                }
            }
        }
    }

    @Test func rangesSplitIntoAlignedFullSubtrees() {
        #expect(MerkleTree.fullSubtrees(of: 0..<7) == [.init(level: 2, index: 0), .init(level: 1, index: 2), .init(level: 0, index: 6)])
        #expect(MerkleTree.fullSubtrees(of: 256..<512) == [.init(level: 8, index: 1)])
        #expect(MerkleTree.fullSubtrees(of: 0..<0).isEmpty)
        #expect(MerkleTree.hash(of: 0..<0) { _ in [] } == MerkleTree.emptyRoot)
    }
}
