import WeEvent

/// Why the broker does not sign a checkpoint: what it would sign is not consistent with what it
/// signed before (the store was changed under it), or the stored checkpoint is not its own.
public struct CheckpointRefusal: Error, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// An inclusion proof of one event in the group tree (RFC 9162 §2.1.3), with the checkpoint of
/// that tree size when one was signed.
public struct TreeProof: Sendable {
    /// The ledger's format: which rule made the event hash.
    public var format: LedgerFormat
    public var event: Event
    /// The event's leaf hash (its event hash) and its index in the tree (position - 1).
    public var leafHash: [UInt8]
    public var leafIndex: UInt64
    public var treeSize: UInt64
    public var rootHash: [UInt8]
    public var inclusionProof: [[UInt8]]
    /// The signed note of the checkpoint of `treeSize`, with its cosignatures; nil when none was signed.
    public var checkpoint: String?
}

/// A consistency proof between two tree sizes (RFC 9162 §2.1.4), with both roots.
public struct TreeConsistency: Sendable {
    public var from: UInt64
    public var to: UInt64
    public var fromRoot: [UInt8]
    public var toRoot: [UInt8]
    public var proof: [[UInt8]]
}

/// Signed checkpoints of the group tree and the cosignatures witnesses hand back.
extension GroupLedger {
    /// Signs a checkpoint of the tree as it is now, unless a stored one is as large, and stores
    /// it. Before signing it checks, under the store's checkpoint lock, that the latest stored
    /// checkpoint carries this key's valid signature and that the tree is consistent with it (a
    /// consistency proof from the stored tree): otherwise it throws `CheckpointRefusal` and
    /// signs nothing. Returns the checkpoint stored, nil when there was nothing new.
    public func signCheckpoint(with signer: NoteSigner) async throws -> StoredCheckpoint? {
        let head = try await driver.tree()
        let driver = self.driver
        let verifier = signer.verifier
        return try await driver.addCheckpoint { latest in
            if let latest {
                guard latest.size < head.size else { return nil }
                guard let note = SignedNote.parse(latest.note), note.signatures.contains(where: { verifier.verifies($0, of: note.text) }),
                    let previous = Checkpoint(text: note.text), previous.origin == verifier.name, previous.size == latest.size
                else {
                    throw CheckpointRefusal(
                        "the stored checkpoint of tree size \(latest.size) does not carry a valid signature of \(verifier): "
                            + "every instance of a cluster must use the same ledger.signing-key (copy the file of the instance that made it)")
                }
                var reader = TreeReader(source: driver)
                let proof = try await reader.consistencyProof(from: previous.size, to: head.size)
                guard MerkleTree.verifyConsistency(size1: previous.size, size2: head.size, proof: proof, root1: previous.root, root2: head.root) else {
                    throw CheckpointRefusal(
                        "the tree of \(head.size) events is not consistent with the signed checkpoint of tree size \(previous.size): "
                            + "events below it were changed")
                }
            }
            let checkpoint = Checkpoint(origin: verifier.name, size: head.size, root: head.root)
            let signed = SignedNote(text: checkpoint.text, signatures: [try signer.sign(checkpoint.text)])
            return StoredCheckpoint(size: head.size, note: signed.encoded)
        }
    }

    /// The signed checkpoint of tree size `size` (the latest when nil) with every cosignature
    /// kept for it appended; nil when there is none.
    public func checkpoint(size: UInt64?) async throws -> (size: UInt64, note: String)? {
        let stored: StoredCheckpoint?
        if let size {
            stored = try await driver.checkpoints(from: size, limit: 1).first.flatMap { $0.size == size ? $0 : nil }
        } else {
            stored = try await driver.latestCheckpoint()
        }
        guard let stored else { return nil }
        return (stored.size, stored.note + (try await driver.cosignatures(size: stored.size)).joined())
    }

    /// Stored checkpoints from tree size `size` on, smallest first (for `verify` and audits).
    public func storedCheckpoints(from size: UInt64, limit: Int) async throws -> [StoredCheckpoint] {
        try await driver.checkpoints(from: size, limit: limit)
    }

    /// Keeps the cosignatures of `note` (a checkpoint this ledger signed, with signature lines)
    /// made by one of `witnesses` (tlog-cosignature keys) and valid over the checkpoint's text.
    /// Returns the witness names kept; 100313 when none is, or when the checkpoint is not one
    /// this ledger stored.
    public func addCosignatures(_ note: String, witnesses: [NoteVerifier]) async throws -> [String] {
        guard let parsed = SignedNote.parse(note), let checkpoint = Checkpoint(text: parsed.text) else {
            throw WeEventError(.cosignatureRefused, message: "cosignature refused: the body is not a signed checkpoint note")
        }
        guard let stored = try await driver.checkpoints(from: checkpoint.size, limit: 1).first, stored.size == checkpoint.size,
            SignedNote.parse(stored.note)?.text == parsed.text
        else {
            throw WeEventError(
                .cosignatureRefused, message: "cosignature refused: group \(groupID) has no signed checkpoint of tree size \(checkpoint.size) with that text")
        }
        var kept: [String] = []
        for signature in parsed.signatures {
            guard let witness = witnesses.first(where: { $0.verifies(signature, of: parsed.text) }) else { continue }
            try await driver.addCosignature(size: stored.size, witness: witness.name, line: signature.line)
            kept.append(witness.name)
        }
        guard !kept.isEmpty else {
            let names = parsed.signatures.map(\.name).joined(separator: ", ")
            throw WeEventError(
                .cosignatureRefused,
                message: "cosignature refused: no signature by a witness in ledger.witnesses verifies (signatures by: \(names.isEmpty ? "none" : names))")
        }
        return kept
    }

    /// The inclusion proof of event `id` in the tree of `treeSize` events; when nil, the latest
    /// checkpoint's tree if it holds the event, else the tree as it is now. 100312 for a size
    /// below the event's position or above the tree.
    public func treeProof(of id: EventID, treeSize: UInt64?) async throws -> TreeProof {
        let located = try await driver.locate(id)
        let tree = try await driver.tree()
        let latest = try await driver.latestCheckpoint()
        var size = tree.size
        if let treeSize {
            guard treeSize >= located.position, treeSize <= tree.size else {
                throw WeEventError(
                    .treeSizeInvalid,
                    message:
                        "invalid tree size: event \(id) is at position \(located.position) and the tree holds \(tree.size) events; treeSize must be in \(located.position)...\(tree.size)"
                )
            }
            size = treeSize
        } else if let latest, latest.size >= located.position {
            size = latest.size
        }
        var reader = TreeReader(source: driver)
        let proof = try await reader.inclusionProof(index: located.position - 1, size: size)
        // The leaf's tile was read with the proof's.
        let leaf = try await reader.hash(of: MerkleTree.Subtree(level: 0, index: located.position - 1))
        // The checkpoint of that size, when there is one (usually the latest, read already).
        let stored = latest?.size == size ? latest : try await driver.checkpoints(from: size, limit: 1).first.flatMap { $0.size == size ? $0 : nil }
        var note: String?
        if let stored { note = stored.note + (try await driver.cosignatures(size: size)).joined() }
        // The root: the tree's own border when the size is the tree's, else from the stored subtrees.
        let root = size == tree.size ? tree.root : try await reader.hash(of: 0..<size)
        return TreeProof(
            format: format, event: located.event, leafHash: leaf, leafIndex: located.position - 1, treeSize: size, rootHash: root, inclusionProof: proof,
            checkpoint: note
        )
    }

    /// The consistency proof from the tree of `from` events to the one of `to` (the latest
    /// checkpoint's size when nil), with both roots; 100312 unless `from <= to <= tree size`.
    public func consistency(from: UInt64, to: UInt64?) async throws -> TreeConsistency {
        let current = try await driver.tree().size
        var target = current
        if let to {
            target = to
        } else if let latest = try await driver.latestCheckpoint() {
            target = latest.size
        }
        guard from <= target, target <= current else {
            throw WeEventError(
                .treeSizeInvalid, message: "invalid tree size: from \(from) to \(target); both must be at most the tree's \(current) events, from at most to")
        }
        var reader = TreeReader(source: driver)
        let proof = try await reader.consistencyProof(from: from, to: target)
        let fromRoot = try await reader.hash(of: 0..<from)
        let toRoot = try await reader.hash(of: 0..<target)
        return TreeConsistency(from: from, to: target, fromRoot: fromRoot, toRoot: toRoot, proof: proof)
    }
}
