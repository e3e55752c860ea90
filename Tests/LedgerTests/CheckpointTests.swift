import Foundation
import Testing
import WeEvent
@testable import Ledger

/// Signed checkpoints of the group tree on every store: each extends the one before (also after
/// a reopen, and between two instances of a shared store), a stored checkpoint the tree does
/// not extend stops the signing and fails `verify`, and witnesses' cosignatures are kept only
/// when they verify under a known witness key.
@Suite(.timeLimit(.minutes(6))) struct CheckpointTests {
    static let key = CheckpointKey(origin: "audit.example", seed: Array(repeating: 7, count: 32))

    /// The checkpoint a stored note holds, once its signature is checked.
    static func checked(_ stored: StoredCheckpoint?, group: String) throws -> Checkpoint {
        let stored = try #require(stored)
        let note = try #require(SignedNote.parse(stored.note))
        #expect(note.signatures.contains { key.verifier(group: group).verifies($0, of: note.text) }, "\(stored.note)")
        let checkpoint = try #require(Checkpoint(text: note.text))
        #expect(checkpoint.size == stored.size && checkpoint.origin == "audit.example/\(group)")
        return checkpoint
    }

    static func publish(_ count: Int, on ledger: any EventLedger, tag: String = "e") async throws {
        let results = try await ledger.publish((0..<count).map { NewEvent(topic: "t", content: Array("\(tag)\($0)".utf8)) })
        #expect(results.allSatisfy { (try? $0.get()) != nil })
    }

    /// Every stored checkpoint extends the one before it (a consistency proof from the store).
    static func expectChained(_ ledger: any EventLedger, store: Store) async throws -> Int {
        let stored = try await ledger.storedCheckpoints(from: 0, limit: 1000)
        let checkpoints = try stored.map { try checked($0, group: ledger.groupID) }
        for (old, new) in zip(checkpoints, checkpoints.dropFirst()) {
            let proof = try await ledger.consistency(from: old.size, to: new.size)
            #expect(proof.fromRoot == old.root && proof.toRoot == new.root, "\(store)")
            #expect(MerkleTree.verifyConsistency(size1: old.size, size2: new.size, proof: proof.proof, root1: old.root, root2: new.root), "\(store)")
        }
        return checkpoints.count
    }

    @Test(arguments: Store.allCases) func eachCheckpointExtendsTheOneBeforeAcrossAReopen(_ store: Store) async throws {
        let signer = Self.key.signer(group: "1")
        try await withKeptLocation(store) { place in
            try await withLedger(store, maxEvents: 7, keep: place) { ledger, _ in
                let empty = try Self.checked(try await ledger.signCheckpoint(with: signer), group: "1")
                #expect(empty.size == 0 && empty.root == MerkleTree.emptyRoot)
                #expect(try await ledger.signCheckpoint(with: signer) == nil, "nothing new: nothing signed")
                _ = try await ledger.open(topic: "t")
                try await Self.publish(300, on: ledger)
                let first = try Self.checked(try await ledger.signCheckpoint(with: signer), group: "1")
                #expect(first.size == 300)
                #expect(first.root == (try await ledger.treeHead()).root)
                #expect(try await ledger.checkpoint(size: nil)?.size == 300)
                #expect(try await ledger.checkpoint(size: 299) == nil)
            }
            try await withLedger(store, maxEvents: 7, keep: place) { ledger, _ in
                try await Self.publish(45, on: ledger, tag: "f")
                let second = try Self.checked(try await ledger.signCheckpoint(with: signer), group: "1")
                #expect(second.size == 345)
                #expect(try await Self.expectChained(ledger, store: store) == 3)
                let report = try await ledger.verify(checkpointKey: Self.key.verifier(group: "1"))
                #expect(report.isIntact && report.checkpointsChecked == 2, "\(store): \(report)")
                // Signed by another key, the stored checkpoints are not believed.
                let other = CheckpointKey(origin: "audit.example", seed: Array(repeating: 8, count: 32))
                let refused = try await ledger.verify(checkpointKey: other.verifier(group: "1"))
                #expect(!refused.isIntact && refused.problem?.contains("valid signature") == true, "\(refused)")
            }
        }
    }

    /// A stored checkpoint whose root the tree does not give (as after events below it were
    /// rewritten): the broker signs nothing more, and `verify` names the blocks after the last
    /// checkpoint that matched.
    @Test(arguments: Store.allCases) func aTreeThatDoesNotExtendTheLastCheckpointIsNeverSigned(_ store: Store) async throws {
        let signer = Self.key.signer(group: "1")
        try await withLedger(store, maxEvents: 10) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            try await Self.publish(20, on: ledger)
            _ = try await ledger.signCheckpoint(with: signer)
            try await Self.publish(20, on: ledger, tag: "g")
            // What the tree said at 40 events before the rewrite: another root, validly signed.
            let forged = Checkpoint(origin: signer.name, size: 40, root: Array(repeating: 0xAB, count: 32))
            let note = SignedNote(text: forged.text, signatures: [try signer.sign(forged.text)]).encoded
            let group = try #require(ledger as? GroupLedger)
            _ = try await group.driver.addCheckpoint { _ in StoredCheckpoint(size: 40, note: note) }
            try await Self.publish(5, on: ledger, tag: "h")
            await #expect(throws: CheckpointRefusal.self) { _ = try await ledger.signCheckpoint(with: signer) }
            #expect(try await ledger.checkpoint(size: nil)?.size == 40, "nothing signed after the refusal")
            let report = try await ledger.verify(checkpointKey: Self.key.verifier(group: "1"))
            #expect(!report.isIntact, "\(store)")
            #expect(report.firstBadBlock == 3, "blocks after the checkpoint of 20 events: \(report)")
            #expect(report.problem?.contains("tree size 40") == true, "\(report)")
        }
    }

    @Test(arguments: Store.allCases) func cosignaturesOfKnownWitnessesAreKeptAndServedWithTheCheckpoint(_ store: Store) async throws {
        let signer = Self.key.signer(group: "1")
        let alice = try NoteSigner(name: "alice", type: .cosignature, seed: Array(repeating: 1, count: 32))
        let bob = try NoteSigner(name: "bob", type: .cosignature, seed: Array(repeating: 2, count: 32))
        let mallory = try NoteSigner(name: "alice", type: .cosignature, seed: Array(repeating: 3, count: 32))
        try await withLedger(store) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            try await Self.publish(3, on: ledger)
            let stored = try #require(try await ledger.signCheckpoint(with: signer))
            let note = try #require(SignedNote.parse(stored.note))
            func cosigned(_ by: [NoteSigner], text: String = note.text) throws -> String {
                SignedNote(text: text, signatures: try by.map { try $0.sign(text, time: 1_700_000_000) }).encoded
            }
            let known = [alice.verifier, bob.verifier]
            #expect(try await ledger.addCosignatures(try cosigned([alice]), witnesses: known) == ["alice"])
            #expect(try await ledger.addCosignatures(try cosigned([bob, alice]), witnesses: known) == ["bob", "alice"])
            for refused in [
                try cosigned([mallory]),  // alice's name, another key
                try cosigned([alice], text: Checkpoint(origin: signer.name, size: 3, root: Array(repeating: 1, count: 32)).text),
                try cosigned([alice], text: Checkpoint(origin: signer.name, size: 4, root: Array(repeating: 1, count: 32)).text),
                "not a note",
            ] {
                await #expect {
                    _ = try await ledger.addCosignatures(refused, witnesses: known)
                } throws: { ($0 as? WeEventError)?.code == .cosignatureRefused }
            }
            let served = try #require(try await ledger.checkpoint(size: nil))
            let parsed = try #require(SignedNote.parse(served.note))
            #expect(parsed.text == note.text)
            #expect(parsed.signatures.map(\.name) == [signer.name, "alice", "bob"], "\(served.note)")
            #expect(parsed.signatures.dropFirst().allSatisfy { s in known.contains { $0.verifies(s, of: parsed.text) } })
        }
    }

    /// Two instances of a shared store publishing and signing in turn keep one sequence of
    /// checkpoints, each extending the one before.
    @Test func instancesOfASharedStoreSignOneSequenceOfCheckpoints() async throws {
        let signer = Self.key.signer(group: "1")
        try await withKeptLocation(.postgresql) { schema in
            try await withLedger(.postgresql, keep: schema) { a, _ in
                try await withLedger(.postgresql, keep: schema) { b, _ throws in
                    _ = try await a.open(topic: "t")
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (index, ledger) in [a, b].enumerated() {
                            group.addTask {
                                for round in 0..<15 {
                                    try await Self.publish(7, on: ledger, tag: "\(index)-\(round)-")
                                    _ = try await ledger.signCheckpoint(with: signer)
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                    _ = try await b.signCheckpoint(with: signer)
                    #expect(try await Self.expectChained(a, store: .postgresql) >= 2)
                    #expect(try await a.checkpoint(size: nil)?.size == 210)
                    let report = try await a.verify(checkpointKey: Self.key.verifier(group: "1"))
                    #expect(report.isIntact && report.checkpointsChecked >= 1, "\(report)")
                }
            }
        }
    }
}
