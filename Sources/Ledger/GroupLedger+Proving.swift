import WeEvent

/// Proofs and `verify`, the same for every store: built from the driver's stored blocks and
/// events with `BlockHash` and `ChainCheck`. Blocks never change once stored, so reading them
/// in several steps while writers append gives the same answer as one snapshot would.
extension GroupLedger {
    public func proof(of id: EventID, through head: UInt64) async throws -> EventProof {
        let located = try await driver.locate(id)
        guard let block = try await driver.blocks(from: id.blockHeight, limit: 1).first, block.height == id.blockHeight else {
            throw WeEventError(.eventIdIsMismatch, detail: "no block \(id.blockHeight) in group \(groupID)")
        }
        let leaves = try await driver.eventHashes(from: block.firstPosition, to: block.firstPosition &+ block.eventCount)
        let offset = located.position &- block.firstPosition
        guard located.position >= block.firstPosition, offset < UInt64(leaves.count) else {
            throw LedgerError.inconsistent("event \(id) at position \(located.position) is outside block \(id.blockHeight)")
        }
        let index = Int(offset)
        var links: [BlockHeader] = []
        var next = id.blockHeight + 1
        while next <= head {
            let page = try await driver.blocks(from: next, limit: Int(min(1000, head - next + 1)))
            links.append(contentsOf: page.map(\.header))
            guard page.count == 1000, let last = page.last else { break }
            next = last.height + 1
        }
        return EventProof(
            groupID: groupID, event: located.event, eventHash: leaves[index], index: index,
            path: BlockHash.merklePath(leaves, index: index), block: block.header, links: links
        )
    }

    /// Checks every block up to the head as it was when called, in order, 500 at a time, and
    /// the recomputed tree at each stored checkpoint (signed by `checkpointKey` when given);
    /// then events stored past the last checked block are a failure, unless blocks holding them
    /// were committed meanwhile: those are checked too (a few rounds at most, so a verify ends
    /// while writers go on; events of the last round's commits are then not counted as stray).
    public func verify(checkpointKey: NoteVerifier?, holding: [Checkpoint]) async throws -> VerificationReport {
        var check = ChainCheck(groupID: groupID, format: format)
        check.heldCheckpoints = holding.filter { $0.size > 0 }.sorted { $0.size < $1.size }
        var checkpointsRead: UInt64 = 0
        let height = try await driver.head().height
        var next: UInt64 = 1
        var rounds = 0
        while next <= height || rounds < 3 {
            let page: [StoredBlock]
            if next <= height {
                page = try await driver.blocks(from: next, limit: Int(min(500, height - next + 1)))
            } else {
                rounds += 1
                let stray = try await driver.eventCount(from: check.nextPosition)
                if stray == 0 { break }
                // Read after the count: blocks of every commit the count saw are visible by now.
                page = try await driver.blocks(from: next, limit: 500)
                if page.isEmpty { return check.finish(strayEvents: stray) }
            }
            guard let last = page.last else { break }
            let end = last.firstPosition.addingReportingOverflow(last.eventCount).partialValue
            if let failed = try await loadCheckpoints(into: &check, through: end, after: &checkpointsRead, key: checkpointKey) { return failed }
            if let failed = try await check.check(page, from: driver) { return failed }
            next = last.height + 1
        }
        // The border proofs and checkpoints are made from must be the tree of the events.
        let stored = try await driver.tree()
        if stored.size == check.tree.size, stored.root != check.tree.root {
            return check.badCheckpoint("the stored tree of \(stored.size) events (root \(hexString(stored.root))) is not the tree of the stored events")
        }
        if let unreached = check.unreachedHeldCheckpoint() { return unreached }
        return check.finish(strayEvents: 0)
    }

    typealias StoredBlock = ChainCheck.StoredBlock

    /// Adds the stored checkpoints of sizes up to `end` (and one past it) to the check's queue,
    /// each read once; a checkpoint that does not parse or is not signed by `key` is a failure.
    private func loadCheckpoints(
        into check: inout ChainCheck, through end: UInt64, after read: inout UInt64, key: NoteVerifier?
    ) async throws -> VerificationReport? {
        while read <= end {
            let page = try await driver.checkpoints(from: read, limit: 1000)
            for stored in page {
                guard let note = SignedNote.parse(stored.note), let checkpoint = Checkpoint(text: note.text), checkpoint.size == stored.size else {
                    return check.badCheckpoint("the stored checkpoint of tree size \(stored.size) is not a signed checkpoint note")
                }
                if let key, !note.signatures.contains(where: { key.verifies($0, of: note.text) }) {
                    return check.badCheckpoint("the stored checkpoint of tree size \(stored.size) does not carry a valid signature of \(key)")
                }
                if checkpoint.size == 0 {
                    if checkpoint.root != MerkleTree.emptyRoot { return check.badCheckpoint("the stored checkpoint of the empty tree has another root") }
                    continue
                }
                check.pendingCheckpoints.append(checkpoint)
            }
            guard let last = page.last, page.count == 1000 else {
                read = UInt64.max
                break
            }
            read = last.size + 1
        }
        return nil
    }
}

extension ChainCheck {
    /// Checks the next blocks with their stored events; the report naming the first that does not
    /// match. Blocks whose positions follow each other (as every writer stores them) have their
    /// events read in one range.
    fileprivate mutating func check(_ blocks: [StoredBlock], from driver: any LedgerDriver) async throws -> VerificationReport? {
        guard let first = blocks.first?.firstPosition else { return nil }
        var end = first
        for block in blocks {
            let (next, overflow) = end.addingReportingOverflow(block.eventCount)
            guard block.firstPosition == end, !overflow, next - first <= 100_000 else { return try await checkEach(blocks, from: driver) }
            end = next
        }
        let events = try await driver.storedEvents(from: first, to: end)
        var index = 0
        for block in blocks {
            var own: [StoredEvent] = []
            let blockEnd = block.firstPosition + block.eventCount
            while index < events.count, events[index].position < blockEnd {
                own.append(events[index])
                index += 1
            }
            if let failed = check(block, events: own) { return failed }
        }
        return nil
    }

    /// One read per block: for blocks whose positions do not follow each other (a damaged store).
    private mutating func checkEach(_ blocks: [StoredBlock], from driver: any LedgerDriver) async throws -> VerificationReport? {
        for block in blocks {
            // Clamped: a tampered row may hold any number; the check then names its block.
            let end = block.firstPosition.addingReportingOverflow(block.eventCount).partialValue
            let events = try await driver.storedEvents(from: block.firstPosition, to: max(end, block.firstPosition))
            if let failed = check(block, events: events) { return failed }
        }
        return nil
    }
}

/// The group tree (RFC 9162) over every event in position order: its head and O(log n) proofs.
extension GroupLedger {
    /// The tree's size and root as of the last commit this instance knows.
    public func treeHead() async throws -> (size: UInt64, root: [UInt8]) {
        let tree = try await driver.tree()
        return (tree.size, tree.root)
    }

    /// The inclusion proof of the event at `position` in the tree of `treeSize` events (at most
    /// the current size); 100312 for a size or position out of range. (`treeProof(of:treeSize:)`
    /// is the same for an event id, with the leaf, root and checkpoint; `consistency(from:to:)`
    /// gives consistency proofs.)
    public func inclusionProof(position: UInt64, treeSize: UInt64) async throws -> [[UInt8]] {
        let size = try await driver.tree().size
        guard position >= 1, position <= treeSize, treeSize <= size else {
            throw WeEventError(.treeSizeInvalid, detail: "position \(position) in a tree of \(treeSize) events; the tree holds \(size) in group \(groupID)")
        }
        var reader = TreeReader(source: driver)
        return try await reader.inclusionProof(index: position - 1, size: treeSize)
    }
}
