import WeEvent

/// Recomputes a stored chain block by block, whatever store it comes from: every event hash
/// from its fields, every Merkle root, every block hash and link. The first block that does not
/// match ends the check with a report naming it.
struct ChainCheck {
    /// A block header as stored, with the position of its first event.
    struct StoredBlock {
        var height: UInt64
        var previousHash: [UInt8]
        var merkleRoot: [UInt8]
        var hash: [UInt8]
        var timestamp: Int64
        var eventCount: UInt64
        var firstPosition: UInt64
        /// v2: the group tree's root after the block, as its header commits to; nil in v1.
        var treeRoot: [UInt8]? = nil
    }

    /// An event row as stored.
    struct StoredEvent {
        var position: UInt64
        var block: UInt64
        var topic: String
        var sequence: UInt64
        var timestamp: Int64
        var content: [UInt8]
        var extensions: [String: String]
        var hash: [UInt8]
        /// Set once its content was removed: `content` is empty, `extensions` the reserved ones.
        var pruned: Pruning? = nil

        /// Content and extension bytes as the stores count them (SQLite's and PostgreSQL's
        /// `length` of the content and of the stored extensions text).
        var storedBytes: UInt64 {
            UInt64(content.count + ExtensionCoding.encode(extensions).utf8.count)
        }

        /// The event as readers get it.
        var event: Event {
            Event(
                id: EventID(topic: topic, sequence: sequence, blockHeight: block), topic: topic, content: content, extensions: extensions,
                timestamp: timestamp, pruned: pruned
            )
        }
    }

    private(set) var report: VerificationReport
    private var previousHash = BlockHash.zero
    private var expectedHeight: UInt64 = 1
    /// Where the next block's events must start; after the last block, where none may be.
    private(set) var nextPosition: UInt64 = 1
    /// The group tree recomputed from the checked events.
    private(set) var tree = TreeBorder()
    /// Stored checkpoints not yet reached, smallest first: each must fall at a block's end and
    /// name the root the checked events give.
    var pendingCheckpoints: [Checkpoint] = []
    /// Checkpoints the caller holds (a witness's): checked like stored ones, kept apart so the
    /// stored ones can be read page by page.
    var heldCheckpoints: [Checkpoint] = []
    /// The first block after the last checkpoint that matched: where a change it misses begins.
    private var firstBlockAfterCheckpoint: UInt64 = 1

    /// The hashing rules of the ledger's format.
    let format: LedgerFormat

    init(groupID: String, format: LedgerFormat) {
        report = VerificationReport(groupID: groupID, blocksChecked: 0, eventsChecked: 0)
        self.format = format
    }

    /// Checks the next block with the events stored in its position range; nil when it matches,
    /// else the report naming it.
    mutating func check(_ block: StoredBlock, events: [StoredEvent]) -> VerificationReport? {
        let height = block.height
        if height != expectedHeight { return bad(expectedHeight, "block \(expectedHeight) is missing (next stored is \(height))") }
        if block.previousHash != previousHash { return bad(height, "previous hash does not match block \(height - 1)") }
        if block.firstPosition != nextPosition {
            return bad(height, "events start at position \(block.firstPosition), expected \(nextPosition)")
        }
        var leaves: [[UInt8]] = []
        leaves.reserveCapacity(events.count)
        for event in events {
            if event.block != height { return bad(height, "event at position \(event.position) names block \(event.block)") }
            if event.pruned != nil {
                // Its content is gone: its stored hash is the leaf, which the Merkle root, the
                // group tree and the block hash below still check.
                guard format == .v2 else {
                    let id = EventID(topic: event.topic, sequence: event.sequence, blockHeight: height)
                    return bad(height, "event \(id) has no content, which a format 1 ledger cannot prune")
                }
                leaves.append(event.hash)
                _ = tree.append(event.hash)
                report.eventsPruned += 1
                continue
            }
            let hash = BlockHash.event(
                format: format, topic: event.topic, sequence: event.sequence, timestamp: event.timestamp,
                content: event.content, extensions: event.extensions
            )
            if hash != event.hash {
                let id = EventID(topic: event.topic, sequence: event.sequence, blockHeight: height)
                return bad(height, "event \(id) does not match its stored hash")
            }
            leaves.append(hash)
            _ = tree.append(hash)
        }
        if UInt64(leaves.count) != block.eventCount { return bad(height, "holds \(leaves.count) events, header says \(block.eventCount)") }
        if BlockHash.merkleRoot(leaves) != block.merkleRoot { return bad(height, "Merkle root does not match its events") }
        guard let count = UInt32(exactly: block.eventCount) else { return bad(height, "event count \(block.eventCount) is out of range") }
        var treeHead: TreeHead?
        switch format {
        case .v1:
            if block.treeRoot != nil { return bad(height, "a format 1 block names a tree root") }
        case .v2:
            guard let stored = block.treeRoot else { return bad(height, "the header has no tree root (format 2)") }
            if stored != tree.root { return bad(height, "the tree root in its header is not the root of the events through it") }
            treeHead = TreeHead(size: tree.size, root: stored)
        }
        let hash = BlockHash.block(
            height: height, previousHash: previousHash, merkleRoot: block.merkleRoot, timestamp: block.timestamp, eventCount: count,
            tree: treeHead
        )
        if hash != block.hash { return bad(height, "block hash does not match its header") }
        previousHash = hash
        expectedHeight += 1
        nextPosition += block.eventCount
        report.blocksChecked += 1
        report.eventsChecked += block.eventCount
        return checkCheckpoints(through: height)
    }

    /// Compares the checkpoints the tree has reached with it, stored ones and held ones.
    private mutating func checkCheckpoints(through height: UInt64) -> VerificationReport? {
        while true {
            let stored = pendingCheckpoints.first.flatMap { $0.size <= tree.size ? $0 : nil }
            let held = heldCheckpoints.first.flatMap { $0.size <= tree.size ? $0 : nil }
            guard let next = [stored, held].compactMap({ $0 }).min(by: { $0.size < $1.size }) else { return nil }
            let kind: String
            if let stored, stored.size == next.size {
                pendingCheckpoints.removeFirst()
                kind = "signed checkpoint"
            } else {
                heldCheckpoints.removeFirst()
                kind = "checkpoint held"
            }
            let first = firstBlockAfterCheckpoint
            guard next.size == tree.size else {
                return bad(first, "the \(kind) of tree size \(next.size) does not end at a block (block \(height) ends at \(tree.size))")
            }
            guard next.root == tree.root else {
                return bad(
                    first,
                    "blocks \(first)...\(height) do not give the root of the \(kind) of tree size \(next.size) "
                        + "(\(hexString(next.root)), they give \(hexString(tree.root))): events in them were changed after it was signed")
            }
            report.checkpointsChecked += 1
            firstBlockAfterCheckpoint = height + 1
        }
    }

    /// After the last block: a held checkpoint larger than the chain is not in it.
    func unreachedHeldCheckpoint() -> VerificationReport? {
        heldCheckpoints.first.map { bad(expectedHeight, "the checkpoint held of tree size \($0.size) is larger than the chain's \(tree.size) events") }
    }

    /// A stored checkpoint that cannot be believed (not parsed, or not signed by the key).
    func badCheckpoint(_ problem: String) -> VerificationReport {
        bad(firstBlockAfterCheckpoint, problem)
    }

    /// After the last block: events stored beyond it are a failure too.
    func finish(strayEvents: UInt64) -> VerificationReport {
        strayEvents > 0 ? bad(expectedHeight, "\(strayEvents) events stored after the last block") : report
    }

    private func bad(_ height: UInt64, _ problem: String) -> VerificationReport {
        var failed = report
        failed.firstBadBlock = height
        failed.problem = problem
        return failed
    }
}
