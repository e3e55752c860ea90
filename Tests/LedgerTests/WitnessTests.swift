import Crypto
import Foundation
import Testing
@testable import Ledger

/// The witness's rules on their own: a checkpoint is accepted only when the log's key signed it
/// for its own origin and it extends the last one accepted; the cosignature verifies under the
/// witness's key (tlog-cosignature/v1).
@Suite struct WitnessTests {
    /// An RFC 9162 leaf hash (the ledger's leaves are event hashes; any 0x00-prefixed hash will do).
    static func leaf(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: [0x00] + bytes)) }

    static let log = try! NoteSigner(name: "audit.example/1", type: .ed25519, seed: Array(repeating: 3, count: 32))
    static let witness = Witness(
        signer: try! NoteSigner(name: "w", type: .cosignature, seed: Array(repeating: 6, count: 32)), log: log.verifier)

    /// The tree of `count` leaves `leaf-0`, `leaf-1`, ...: its checkpoint signed by `signer`.
    static func signed(_ count: Int, by signer: NoteSigner = log, origin: String = "audit.example/1") throws -> (String, Checkpoint, [[UInt8]]) {
        let leaves = (0..<count).map { Self.leaf(Array("leaf-\($0)".utf8)) }
        let checkpoint = Checkpoint(origin: origin, size: UInt64(count), root: MerkleTree.root(of: leaves))
        return (SignedNote(text: checkpoint.text, signatures: [try signer.sign(checkpoint.text)]).encoded, checkpoint, leaves)
    }

    @Test func onlyTheLogsSignatureOverItsOwnOriginIsAccepted() throws {
        let (note, checkpoint, _) = try Self.signed(5)
        #expect(try Self.witness.signedCheckpoint(note).checkpoint == checkpoint)
        let other = try NoteSigner(name: "audit.example/1", type: .ed25519, seed: Array(repeating: 4, count: 32))
        for refused in [
            try Self.signed(5, by: other).0,  // the log's name, another key
            try Self.signed(5, origin: "audit.example/2").0,  // another log's checkpoint, signed by this key
            checkpoint.text,  // unsigned
            note.replacingOccurrences(of: "\n5\n", with: "\n6\n"),  // changed after signing
        ] {
            #expect(throws: Witness.Refusal.self) { _ = try Self.witness.signedCheckpoint(refused) }
        }
    }

    @Test func aSmallerTreeAForkOrAnInconsistentProofIsRefused() throws {
        let (_, five, leaves) = try Self.signed(5)
        let (_, nine, _) = try Self.signed(9)
        #expect(try Self.witness.proofNeeded(from: nil, to: five) == nil, "the first checkpoint seen needs no proof")
        #expect(try Self.witness.proofNeeded(from: five, to: five) == nil)
        #expect(try Self.witness.proofNeeded(from: five, to: nine).map { [$0.from, $0.to] } == [5, 9])
        #expect(throws: Witness.Refusal.self) { _ = try Self.witness.proofNeeded(from: nine, to: five) }
        var forked = five
        forked.root = MerkleTree.root(of: Array(leaves.dropLast()) + [Self.leaf(Array("other".utf8))])
        #expect(throws: Witness.Refusal.self) { _ = try Self.witness.proofNeeded(from: five, to: forked) }

        let all = (0..<9).map { Self.leaf(Array("leaf-\($0)".utf8)) }
        let proof = MerkleTree.consistencyRanges(from: 5, to: 9).map { MerkleTree.root(of: Array(all[Int($0.lowerBound)..<Int($0.upperBound)])) }
        try Self.witness.checkConsistency(from: five, to: nine, proof: proof)
        #expect(throws: Witness.Refusal.self) { try Self.witness.checkConsistency(from: forked, to: nine, proof: proof) }
        #expect(throws: Witness.Refusal.self) { try Self.witness.checkConsistency(from: five, to: nine, proof: Array(proof.dropLast())) }
    }

    @Test func theCosignatureVerifiesUnderTheWitnessKey() throws {
        let (note, _, _) = try Self.signed(5)
        let parsed = try #require(SignedNote.parse(note))
        let cosigned = try #require(SignedNote.parse(try Self.witness.cosign(parsed, time: 1_750_000_000)))
        #expect(cosigned.text == parsed.text)
        let signature = try #require(cosigned.signatures.first)
        #expect(Self.witness.signer.verifier.verifies(signature, of: cosigned.text))
        #expect(Self.witness.signer.verifier.cosignatureTime(signature) == 1_750_000_000)
        #expect(!Self.witness.signer.verifier.verifies(signature, of: cosigned.text.replacingOccurrences(of: "\n5\n", with: "\n6\n")))
    }
}
