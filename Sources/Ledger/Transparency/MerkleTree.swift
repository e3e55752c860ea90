import Crypto

/// The Merkle tree of RFC 9162 §2.1 over leaf hashes (a group's events in position order; each
/// leaf hash is the event hash, already `0x00`-prefixed), with no store behind it: which subtrees
/// a proof is made of, how their hashes combine, and the verification algorithms of §2.1.3.2 and
/// §2.1.4.2.
///
/// A range of leaves `[start, end)` splits at the largest power of two below its size, so every
/// range a proof names is a run of aligned full subtrees (`Subtree`): whoever computes a proof
/// asks its store for those (`fullSubtrees(of:)`) and folds them (`hash(of:subtree:)`).
public enum MerkleTree {
    /// An aligned full subtree: the `2^level` leaves from `index * 2^level`.
    public struct Subtree: Sendable, Hashable, CustomStringConvertible {
        public var level: Int
        public var index: UInt64

        public init(level: Int, index: UInt64) {
            self.level = level
            self.index = index
        }

        public var leaves: Range<UInt64> { (index << UInt64(level))..<((index + 1) << UInt64(level)) }
        public var description: String { "(\(level), \(index))" }
    }

    /// The root of the empty tree: SHA-256 of nothing.
    public static let emptyRoot: [UInt8] = BlockHash.bytes(SHA256.hash(data: [UInt8]()))

    /// The largest power of two strictly below `n` (n ≥ 2).
    static func split(_ n: UInt64) -> UInt64 {
        precondition(n >= 2)
        return 1 << UInt64(63 - (n - 1).leadingZeroBitCount)
    }

    /// The aligned full subtrees a range is made of, left to right (a range whose end is the tree
    /// size, or any range a proof below names).
    public static func fullSubtrees(of range: Range<UInt64>) -> [Subtree] {
        var result: [Subtree] = []
        var start = range.lowerBound
        while start < range.upperBound {
            let size = range.upperBound - start
            // The largest power of two that fits and keeps `start` aligned.
            var level = 63 - size.leadingZeroBitCount
            if start != 0 { level = min(level, start.trailingZeroBitCount) }
            result.append(Subtree(level: level, index: start >> UInt64(level)))
            start += 1 << UInt64(level)
        }
        return result
    }

    /// The hash of a range from the hashes of its full subtrees (RFC 9162's MTH), right to left.
    public static func hash(of range: Range<UInt64>, subtree: (Subtree) throws -> [UInt8]) rethrows -> [UInt8] {
        let parts = fullSubtrees(of: range)
        guard var result = try parts.last.map(subtree) else { return emptyRoot }
        for part in parts.dropLast().reversed() { result = BlockHash.node(try subtree(part), result) }
        return result
    }

    /// The hash of a full subtree from the hashes of its leaves (or of any complete level below).
    public static func root(ofFull hashes: [[UInt8]]) -> [UInt8] {
        precondition(!hashes.isEmpty && hashes.count & (hashes.count - 1) == 0, "a full subtree has 2^k nodes")
        var level = hashes
        while level.count > 1 {
            level = stride(from: 0, to: level.count, by: 2).map { BlockHash.node(level[$0], level[$0 + 1]) }
        }
        return level[0]
    }

    /// RFC 9162 MTH over every leaf hash given.
    public static func root(of leaves: [[UInt8]]) -> [UInt8] {
        leaves.isEmpty ? emptyRoot : BlockHash.merkleRoot(leaves)
    }

    /// The ranges whose hashes make the inclusion proof of leaf `index` in a tree of `size`
    /// (RFC 9162 §2.1.3.1 PATH), in proof order (from the leaf up). Empty for a tree of one leaf.
    public static func inclusionRanges(index: UInt64, size: UInt64) -> [Range<UInt64>] {
        precondition(index < size)
        var ranges: [Range<UInt64>] = []
        var (start, end) = (UInt64(0), size)
        while end - start > 1 {
            let k = split(end - start)
            if index < start + k {
                ranges.append((start + k)..<end)
                end = start + k
            } else {
                ranges.append(start..<(start + k))
                start += k
            }
        }
        return ranges.reversed()
    }

    /// The ranges whose hashes make the consistency proof from a tree of `from` leaves to one of
    /// `to` (RFC 9162 §2.1.4.1 PROOF), in proof order. Empty when `from` is 0 or equals `to`.
    public static func consistencyRanges(from: UInt64, to: UInt64) -> [Range<UInt64>] {
        precondition(from <= to)
        guard from > 0, from < to else { return [] }
        var ranges: [Range<UInt64>] = []
        var (start, end, whole) = (UInt64(0), to, true)
        while true {
            if from == end {
                if !whole { ranges.append(start..<end) }
                break
            }
            let k = split(end - start)
            if from - start <= k {
                ranges.append((start + k)..<end)
                end = start + k
            } else {
                ranges.append(start..<(start + k))
                start += k
                whole = false
            }
        }
        return ranges.reversed()
    }

    /// RFC 9162 §2.1.3.2: does `proof` show leaf `index` (hash `leaf`) in the tree of `size` with `root`?
    public static func verifyInclusion(leaf: [UInt8], index: UInt64, size: UInt64, proof: [[UInt8]], root: [UInt8]) -> Bool {
        guard index < size else { return false }
        var (fn, sn, r) = (index, size - 1, leaf)
        for p in proof {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = BlockHash.node(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = BlockHash.node(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// RFC 9162 §2.1.4.2: does `proof` show the tree of `size1` leaves (`root1`) is a prefix of the
    /// one of `size2` (`root2`)? Equal sizes need an empty proof and equal roots; from the empty
    /// tree any tree follows with an empty proof.
    public static func verifyConsistency(size1: UInt64, size2: UInt64, proof: [[UInt8]], root1: [UInt8], root2: [UInt8]) -> Bool {
        if size1 > size2 { return false }
        if size1 == size2 { return proof.isEmpty && root1 == root2 }
        if size1 == 0 { return proof.isEmpty }
        guard !proof.isEmpty else { return false }
        var path = proof
        if size1 & (size1 - 1) == 0 { path.insert(root1, at: 0) }
        var (fn, sn) = (size1 - 1, size2 - 1)
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var (fr, sr) = (path[0], path[0])
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = BlockHash.node(c, fr)
                sr = BlockHash.node(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = BlockHash.node(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == root1 && sr == root2 && sn == 0
    }
}
