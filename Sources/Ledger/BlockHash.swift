import Crypto
import WeEvent

/// A ledger's format: which hashing rules its chain follows. Recorded when the ledger is made
/// and kept for its life (also by `weevent ledger copy`); new ledgers are `.v2`.
public enum LedgerFormat: Int, Sendable, Equatable, CaseIterable {
    /// The event hash covers the content bytes; block headers do not name the group tree.
    case v1 = 1
    /// The event hash covers SHA-256 of the content (so content can be removed later and the
    /// leaf still checks); each block header also commits to the group tree's size and root
    /// after the block.
    case v2 = 2

    /// What new ledgers are made with.
    public static let current = LedgerFormat.v2
}

/// The hashing rules of the ledger (docs/ledger.md), kept in one place so the
/// store, `verify`, proofs and independent checkers agree byte for byte.
///
/// - event hash, v1 = SHA-256(0x00 ‖ u32 len ‖ topic ‖ u64 seq ‖ i64 timestamp ‖ u32 len ‖ content ‖ u32 n ‖ (u32 len ‖ key ‖ u32 len ‖ value)* sorted by key)
/// - event hash, v2 = the same with `SHA-256(content)` (32 bytes, no length) in place of `u32 len ‖ content`
/// - Merkle node = SHA-256(0x01 ‖ left ‖ right); an odd node at the end of a level moves up unchanged
/// - block hash, v1 = SHA-256(0x02 ‖ u64 height ‖ previous hash ‖ Merkle root ‖ i64 timestamp ‖ u32 event count)
/// - block hash, v2 = the same followed by u64 tree size ‖ tree root (the group tree after the block)
///
/// Integers are big-endian; strings UTF-8. The 0x00/0x01/0x02 prefixes keep an event,
/// a Merkle node and a block header from ever hashing to the same input.
public enum BlockHash {
    public static let zero = [UInt8](repeating: 0, count: 32)

    public static func event(
        format: LedgerFormat, topic: String, sequence: UInt64, timestamp: Int64, content: [UInt8], extensions: [String: String]
    ) -> [UInt8] {
        switch format {
        case .v1: event(topic: topic, sequence: sequence, timestamp: timestamp, content: content, extensions: extensions)
        case .v2: event(topic: topic, sequence: sequence, timestamp: timestamp, contentDigest: contentDigest(content), extensions: extensions)
        }
    }

    /// SHA-256 of an event's content: what a v2 event hash covers in its place.
    public static func contentDigest(_ content: [UInt8]) -> [UInt8] {
        bytes(SHA256.hash(data: content))
    }

    /// The v2 event hash from the content's digest (the content itself may be gone).
    public static func event(topic: String, sequence: UInt64, timestamp: Int64, contentDigest: [UInt8], extensions: [String: String]) -> [UInt8] {
        var hasher = SHA256()
        update(&hasher, topic: topic, sequence: sequence, timestamp: timestamp)
        contentDigest.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        update(&hasher, extensions: extensions)
        return bytes(hasher.finalize())
    }

    /// `0x00 ‖ u32 len ‖ topic ‖ u64 seq ‖ i64 timestamp`: how every event hash starts.
    private static func update(_ hasher: inout SHA256, topic: String, sequence: UInt64, timestamp: Int64) {
        var topic = topic
        var header: (UInt8, UInt32) = (0x00, UInt32(topic.utf8.count).bigEndian)
        withUnsafeBytes(of: &header.0) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: &header.1) { hasher.update(bufferPointer: $0) }
        topic.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        var fields: (UInt64, UInt64) = (sequence.bigEndian, UInt64(bitPattern: timestamp).bigEndian)
        withUnsafeBytes(of: &fields.0) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: &fields.1) { hasher.update(bufferPointer: $0) }
    }

    private static func update(_ hasher: inout SHA256, extensions: [String: String]) {
        var count = UInt32(extensions.count).bigEndian
        withUnsafeBytes(of: &count) { hasher.update(bufferPointer: $0) }
        if !extensions.isEmpty {
            var buffer: [UInt8] = []
            for key in extensions.keys.sorted() {
                let value = extensions[key]!
                append(UInt32(key.utf8.count), to: &buffer)
                buffer.append(contentsOf: key.utf8)
                append(UInt32(value.utf8.count), to: &buffer)
                buffer.append(contentsOf: value.utf8)
            }
            hasher.update(data: buffer)
        }
    }

    /// The v1 event hash.
    public static func event(topic: String, sequence: UInt64, timestamp: Int64, content: [UInt8], extensions: [String: String]) -> [UInt8] {
        var hasher = SHA256()
        update(&hasher, topic: topic, sequence: sequence, timestamp: timestamp)
        var length = UInt32(content.count).bigEndian
        withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
        content.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        update(&hasher, extensions: extensions)
        return bytes(hasher.finalize())
    }

    @inline(__always)
    static func bytes(_ digest: SHA256.Digest) -> [UInt8] {
        digest.withUnsafeBytes { Array($0) }
    }

    public static func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        var prefix: UInt8 = 0x01
        withUnsafeBytes(of: &prefix) { hasher.update(bufferPointer: $0) }
        left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return bytes(hasher.finalize())
    }

    /// Merkle root of the leaves; 32 zero bytes for none.
    public static func merkleRoot(_ leaves: [[UInt8]]) -> [UInt8] {
        guard !leaves.isEmpty else { return zero }
        var level = leaves
        while level.count > 1 {
            var next: [[UInt8]] = []
            next.reserveCapacity((level.count + 1) / 2)
            var i = 0
            while i + 1 < level.count {
                next.append(node(level[i], level[i + 1]))
                i += 2
            }
            if i < level.count { next.append(level[i]) }
            level = next
        }
        return level[0]
    }

    /// One step of a Merkle path: the sibling hash and which side it sits on.
    public struct PathStep: Sendable, Equatable {
        public var sibling: [UInt8]
        public var siblingIsLeft: Bool
    }

    /// The siblings from leaf `index` up to the root.
    public static func merklePath(_ leaves: [[UInt8]], index: Int) -> [PathStep] {
        var path: [PathStep] = []
        var level = leaves
        var position = index
        while level.count > 1 {
            let sibling = position ^ 1
            if sibling < level.count {
                path.append(PathStep(sibling: level[sibling], siblingIsLeft: sibling < position))
            }
            var next: [[UInt8]] = []
            var i = 0
            while i + 1 < level.count {
                next.append(node(level[i], level[i + 1]))
                i += 2
            }
            if i < level.count { next.append(level[i]) }
            level = next
            position /= 2
        }
        return path
    }

    /// Folds a leaf up its path; equals the root when the path is right.
    public static func root(leaf: [UInt8], path: [PathStep]) -> [UInt8] {
        path.reduce(leaf) { hash, step in
            step.siblingIsLeft ? node(step.sibling, hash) : node(hash, step.sibling)
        }
    }

    /// The block hash: v1 without `tree`, v2 with the group tree's size and root after the block.
    public static func block(
        height: UInt64, previousHash: [UInt8], merkleRoot: [UInt8], timestamp: Int64, eventCount: UInt32, tree: TreeHead? = nil
    ) -> [UInt8] {
        var buffer: [UInt8] = [0x02]
        buffer.reserveCapacity(1 + 8 + 32 + 32 + 8 + 4 + 8 + 32)
        append(height, to: &buffer)
        buffer.append(contentsOf: previousHash)
        buffer.append(contentsOf: merkleRoot)
        append(UInt64(bitPattern: timestamp), to: &buffer)
        append(eventCount, to: &buffer)
        if let tree {
            append(tree.size, to: &buffer)
            buffer.append(contentsOf: tree.root)
        }
        return bytes(SHA256.hash(data: buffer))
    }

    @inline(__always)
    static func append<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }
}

/// The group tree's size and root at some point: what a v2 block header commits to.
public struct TreeHead: Sendable, Equatable {
    public var size: UInt64
    public var root: [UInt8]

    public init(size: UInt64, root: [UInt8]) {
        self.size = size
        self.root = root
    }
}

/// A sealed block's header.
public struct BlockHeader: Sendable, Equatable {
    public var height: UInt64
    public var previousHash: [UInt8]
    public var merkleRoot: [UInt8]
    public var hash: [UInt8]
    public var timestamp: Int64
    public var eventCount: UInt32
    /// v2: the group tree after this block (its size is the position of the block's last event).
    public var tree: TreeHead?

    public init(
        height: UInt64, previousHash: [UInt8], merkleRoot: [UInt8], hash: [UInt8], timestamp: Int64, eventCount: UInt32, tree: TreeHead? = nil
    ) {
        self.height = height
        self.previousHash = previousHash
        self.merkleRoot = merkleRoot
        self.hash = hash
        self.timestamp = timestamp
        self.eventCount = eventCount
        self.tree = tree
    }

    /// The ledger format whose rules made this header.
    public var format: LedgerFormat { tree == nil ? .v1 : .v2 }
}
