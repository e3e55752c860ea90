import Foundation

/// A witness of one log (a group's tree): it accepts a checkpoint only when the log's key signed
/// it and it extends the last checkpoint the witness accepted (RFC 9162 consistency proof), and
/// then cosigns it (C2SP tlog-cosignature/v1). The rules, without the HTTP around them
/// (`weevent witness`), so they can be checked on their own.
public struct Witness: Sendable {
    /// The witness's own key (type 0x04).
    public let signer: NoteSigner
    /// The log's verifier key: its name is the log's origin.
    public let log: NoteVerifier

    public init(signer: NoteSigner, log: NoteVerifier) {
        self.signer = signer
        self.log = log
    }

    /// Why a checkpoint is refused: what a witness prints before it stops.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public let description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// The checkpoint of `note` once its log signature is checked: a valid signature of the
    /// log's key, and the log's origin on its first line.
    public func signedCheckpoint(_ note: String) throws(Refusal) -> (note: SignedNote, checkpoint: Checkpoint) {
        guard let parsed = SignedNote.parse(note), let checkpoint = Checkpoint(text: parsed.text) else {
            throw Refusal(description: "not a signed checkpoint note")
        }
        guard checkpoint.origin == log.name else {
            throw Refusal(description: "the checkpoint is of log \(checkpoint.origin), not \(log.name)")
        }
        guard parsed.signatures.contains(where: { log.verifies($0, of: parsed.text) }) else {
            throw Refusal(description: "the checkpoint carries no valid signature of the log's key \(log)")
        }
        return (parsed, checkpoint)
    }

    /// What to do with `next` after `last` (nil: the first one seen): nil when it is the same
    /// tree, the sizes a consistency proof is needed between otherwise; a refusal for a smaller
    /// tree or another root at the same size (a rollback or a fork).
    public func proofNeeded(from last: Checkpoint?, to next: Checkpoint) throws(Refusal) -> (from: UInt64, to: UInt64)? {
        guard let last else { return nil }
        if next.size < last.size {
            throw Refusal(description: "the log went back from tree size \(last.size) to \(next.size)")
        }
        if next.size == last.size {
            guard next.root == last.root else {
                throw Refusal(description: "two different roots for tree size \(next.size): the log forked")
            }
            return nil
        }
        return (last.size, next.size)
    }

    /// Checks the consistency proof from `last` to `next` against the roots the witness holds.
    public func checkConsistency(from last: Checkpoint, to next: Checkpoint, proof: [[UInt8]]) throws(Refusal) {
        guard MerkleTree.verifyConsistency(size1: last.size, size2: next.size, proof: proof, root1: last.root, root2: next.root) else {
            throw Refusal(
                description: "the tree of size \(next.size) does not extend the tree of size \(last.size) the witness cosigned "
                    + "(the consistency proof fails): events below it were changed")
        }
    }

    /// The checkpoint text with this witness's cosignature line at `time` (seconds since 1970),
    /// as a signed note: what is handed back to the log.
    public func cosign(_ note: SignedNote, time: UInt64) throws -> String {
        SignedNote(text: note.text, signatures: [try signer.sign(note.text, time: time)]).encoded
    }
}

/// What a witness keeps between runs (its `--state` file, JSON): the log's key it follows and
/// the last checkpoint it accepted.
public struct WitnessState: Codable, Sendable, Equatable {
    /// The log's verifier key (signed-note vkey).
    public var logKey: String
    /// The last accepted checkpoint, as the log signed it; nil before the first.
    public var checkpoint: String?

    public init(logKey: String, checkpoint: String? = nil) {
        self.logKey = logKey
        self.checkpoint = checkpoint
    }
}
