/// Where a group tree's stored hashes come from: the leaves (level 0, index = position - 1) and
/// the full subtrees a `TreeBorder` completed at every stored level (multiples of 8).
protocol TreeHashSource: Sendable {
    /// The stored hashes at `level` with an index in `indexes`, in index order; fewer at the
    /// right edge of the tree, where the last tile is not full yet.
    func storedHashes(level: Int, indexes: Range<UInt64>) async throws -> [[UInt8]]
    /// Several runs at once, in the order asked (a store may read them in one go).
    func storedHashes(_ runs: [(level: Int, indexes: Range<UInt64>)]) async throws -> [[[UInt8]]]
}

extension TreeHashSource {
    func storedHashes(_ runs: [(level: Int, indexes: Range<UInt64>)]) async throws -> [[[UInt8]]] {
        var result: [[[UInt8]]] = []
        for run in runs { result.append(try await storedHashes(level: run.level, indexes: run.indexes)) }
        return result
    }
}

/// Computes proofs of a group's tree from its stored hashes, a tile (256 stored hashes of one
/// level) per read: any subtree below a stored level is folded from at most 256 stored hashes
/// of the level under it, so an inclusion or consistency proof costs at most two tiles per
/// stored level (the path's, and the right edge's): O(log n) reads.
struct TreeReader {
    let source: any TreeHashSource
    private var tiles: [TileKey: [[UInt8]]] = [:]
    /// How many tiles were read (each one read of the store).
    private(set) var reads = 0

    private struct TileKey: Hashable {
        var level: Int
        var index: UInt64
    }

    static let tileWidth: UInt64 = 1 << UInt64(TreeBorder.tileHeight)

    init(source: any TreeHashSource) {
        self.source = source
    }

    /// The stored hashes a full subtree folds from: those of the stored level at or under it
    /// (0, 8, 16, ...) that it covers, at most 256, all in one tile.
    static func storedRun(of subtree: MerkleTree.Subtree) -> (level: Int, indexes: Range<UInt64>) {
        let level = (subtree.level / TreeBorder.tileHeight) * TreeBorder.tileHeight
        let span = UInt64(subtree.level - level)
        let first = subtree.index << span
        return (level, first..<(first + (1 << span)))
    }

    /// The hash of a full subtree.
    mutating func hash(of subtree: MerkleTree.Subtree) async throws -> [UInt8] {
        let (level, run) = Self.storedRun(of: subtree)
        let tileIndex = run.lowerBound / Self.tileWidth
        let tile = try await tile(level: level, index: tileIndex)
        let offset = Int(run.lowerBound - tileIndex * Self.tileWidth)
        let end = offset + run.count
        guard end <= tile.count else {
            throw LedgerError.inconsistent("the tree has no stored hashes for subtree \(subtree) (level \(level) holds \(tile.count) in tile \(tileIndex))")
        }
        return MerkleTree.root(ofFull: Array(tile[offset..<end]))
    }

    /// The hash of a range of leaves (RFC 9162 MTH).
    mutating func hash(of range: Range<UInt64>) async throws -> [UInt8] {
        var parts: [MerkleTree.Subtree: [UInt8]] = [:]
        for subtree in MerkleTree.fullSubtrees(of: range) { parts[subtree] = try await hash(of: subtree) }
        return MerkleTree.hash(of: range) { parts[$0] ?? [] }
    }

    /// RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves; the tiles it needs
    /// (and the leaf's own) are read in one go.
    mutating func inclusionProof(index: UInt64, size: UInt64) async throws -> [[UInt8]] {
        let ranges = MerkleTree.inclusionRanges(index: index, size: size)
        try await prefetch(ranges.flatMap { MerkleTree.fullSubtrees(of: $0) } + [MerkleTree.Subtree(level: 0, index: index)])
        var proof: [[UInt8]] = []
        for range in ranges { proof.append(try await hash(of: range)) }
        return proof
    }

    /// RFC 9162 consistency proof from the tree of `from` leaves to the one of `to`; the tiles it
    /// needs are read in one go.
    mutating func consistencyProof(from: UInt64, to: UInt64) async throws -> [[UInt8]] {
        let ranges = MerkleTree.consistencyRanges(from: from, to: to)
        try await prefetch(ranges.flatMap { MerkleTree.fullSubtrees(of: $0) })
        var proof: [[UInt8]] = []
        for range in ranges { proof.append(try await hash(of: range)) }
        return proof
    }

    /// Reads, in one call to the source, every tile the hashes of `subtrees` need that is not read yet.
    mutating func prefetch(_ subtrees: [MerkleTree.Subtree]) async throws {
        var wanted: [TileKey] = []
        for subtree in subtrees {
            let (level, run) = Self.storedRun(of: subtree)
            let key = TileKey(level: level, index: run.lowerBound / Self.tileWidth)
            if tiles[key] == nil, !wanted.contains(key) { wanted.append(key) }
        }
        guard !wanted.isEmpty else { return }
        let runs = wanted.map { (level: $0.level, indexes: ($0.index * Self.tileWidth)..<(($0.index + 1) * Self.tileWidth)) }
        let read = try await source.storedHashes(runs)
        for (key, hashes) in zip(wanted, read) { tiles[key] = hashes }
        reads += 1
    }

    private mutating func tile(level: Int, index: UInt64) async throws -> [[UInt8]] {
        let key = TileKey(level: level, index: index)
        if let tile = tiles[key] { return tile }
        let start = index * Self.tileWidth
        let tile = try await source.storedHashes(level: level, indexes: start..<(start + Self.tileWidth))
        reads += 1
        tiles[key] = tile
        return tile
    }
}
