/// The right border of a group's tree (a "compact range"): for a tree of `size` leaves, the
/// hashes of the aligned full subtrees its binary decomposition is made of, largest first (one
/// per set bit of `size`, at most 64). It is all a writer needs to append leaves, to know the
/// root after any of them, and to learn which stored nodes each append completes, without
/// reading earlier leaves.
///
/// A store keeps the hashes of full subtrees at every `TreeBorder.storedLevels` level (8, 16,
/// 24, ...: tiles of 256, as C2SP tlog-tiles has them), so any subtree hash a proof needs is at
/// most 255 stored hashes away.
public struct TreeBorder: Sendable, Equatable {
    /// Levels whose full subtrees are stored: multiples of this (besides the leaves, level 0).
    public static let tileHeight = 8

    public private(set) var size: UInt64
    /// Largest subtree first.
    public private(set) var hashes: [[UInt8]]

    /// The empty tree.
    public init() {
        size = 0
        hashes = []
    }

    /// A border as stored; nil when the hashes do not match the size's decomposition.
    public init?(size: UInt64, hashes: [[UInt8]]) {
        guard size.nonzeroBitCount == hashes.count, hashes.allSatisfy({ $0.count == 32 }) else { return nil }
        self.size = size
        self.hashes = hashes
    }

    /// A stored full subtree an append completed.
    public struct Node: Sendable, Equatable {
        public var subtree: MerkleTree.Subtree
        public var hash: [UInt8]
    }

    /// Appends a leaf; returns the stored-level subtrees it completed (usually none).
    @discardableResult
    public mutating func append(_ leaf: [UInt8]) -> [Node] {
        var completed: [Node] = []
        var node = leaf
        var level = 0
        var bits = size
        while bits & 1 == 1 {
            node = BlockHash.node(hashes.removeLast(), node)
            level += 1
            bits >>= 1
            if level % Self.tileHeight == 0 {
                completed.append(Node(subtree: MerkleTree.Subtree(level: level, index: ((size + 1) >> UInt64(level)) - 1), hash: node))
            }
        }
        hashes.append(node)
        size += 1
        return completed
    }

    /// The tree's root (RFC 9162 MTH): the border folded from the right.
    public var root: [UInt8] {
        guard var result = hashes.last else { return MerkleTree.emptyRoot }
        for hash in hashes.dropLast().reversed() { result = BlockHash.node(hash, result) }
        return result
    }

    /// The subtrees the border holds, in the order of `hashes`.
    public static func subtrees(ofSize size: UInt64) -> [MerkleTree.Subtree] {
        MerkleTree.fullSubtrees(of: 0..<size)
    }
}
