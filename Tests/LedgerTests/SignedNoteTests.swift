import Foundation
import Testing
import TestSupport
@testable import Ledger

/// Signed notes, checkpoints and cosignatures in the C2SP formats: the specification's own
/// example, round trips, and a verifier outside Swift (scripts/check-proof.py with Python's
/// `cryptography`).
@Suite struct SignedNoteTests {
    /// signed-note's example: this verifier key verifies this note.
    @Test func theSpecificationsExampleVerifies() throws {
        let key = try #require(NoteVerifier("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"))
        #expect(key.type == .ed25519)
        #expect(key.description == "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
        let note = try #require(
            SignedNote.parse(
                "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
            ))
        #expect(note.text == "This is an example message.\n")
        #expect(key.verifies(note.signatures[0], of: note.text))
        #expect(!key.verifies(note.signatures[0], of: "This is an example message!\n"))
        #expect(NoteVerifier("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k") == nil, "a key id that does not match")
    }

    @Test func aSignedCheckpointRoundTripsAndATamperedOneDoesNot() throws {
        let signer = try NoteSigner.generate(name: "weevent.example/1", type: .ed25519)
        let checkpoint = Checkpoint(origin: "weevent.example/1", size: 20_852_163, root: Array(repeating: 7, count: 32))
        let note = SignedNote(text: checkpoint.text, signatures: [try signer.sign(checkpoint.text)])
        let parsed = try #require(SignedNote.parse(note.encoded))
        #expect(parsed == note)
        #expect(Checkpoint(text: parsed.text) == checkpoint)
        #expect(signer.verifier.verifies(parsed.signatures[0], of: parsed.text))
        let other = try NoteSigner.generate(name: "weevent.example/1", type: .ed25519)
        #expect(!other.verifier.verifies(parsed.signatures[0], of: parsed.text), "same name, another key: not its signature")
        let bigger = Checkpoint(origin: checkpoint.origin, size: checkpoint.size + 1, root: checkpoint.root)
        #expect(!signer.verifier.verifies(parsed.signatures[0], of: bigger.text))
        // The signer key file round-trips in Go's note format.
        let reread = try #require(NoteSigner(encoded: signer.encoded + "\n"))
        #expect(reread.verifier == signer.verifier)
        #expect(signer.encoded.hasPrefix("PRIVATE+KEY+weevent.example/1+"))
        #expect(NoteSigner(encoded: signer.encoded.replacingOccurrences(of: "PRIVATE+KEY", with: "PUBLIC+KEY")) == nil)
    }

    @Test func aCosignatureCoversItsTimeAndTheCheckpoint() throws {
        let witness = try NoteSigner.generate(name: "witness.example/w1", type: .cosignature)
        let text = Checkpoint(origin: "weevent.example/1", size: 5, root: Array(repeating: 1, count: 32)).text
        let cosignature = try witness.sign(text, time: 1_679_315_147)
        #expect(cosignature.signature.count == 72)
        #expect(witness.verifier.verifies(cosignature, of: text))
        #expect(witness.verifier.cosignatureTime(cosignature) == 1_679_315_147)
        var moved = cosignature
        moved.signature[7] ^= 1
        #expect(!witness.verifier.verifies(moved, of: text), "another time than the one signed")
        #expect(NoteVerifier(witness.verifier.description) == witness.verifier)
    }

    @Test func malformedNotesAndCheckpointsAreRefused() {
        #expect(SignedNote.parse("no signatures\n") == nil)
        #expect(SignedNote.parse("text\n\n- name AAAAAAA=\n") == nil, "a hyphen is not an em dash")
        #expect(SignedNote.parse("text\n\n\u{2014} name !!!\n") == nil)
        #expect(SignedNote.parse("te\u{7}xt\n\n\u{2014} name AAAAAAAA\n") == nil, "a control character")
        let root = Data(repeating: 0, count: 32).base64EncodedString()
        #expect(Checkpoint(text: "o\n0\n\(root)\n")?.size == 0)
        #expect(Checkpoint(text: "o\n012\n\(root)\n") == nil, "a leading zero")
        #expect(Checkpoint(text: "o\n-1\n\(root)\n") == nil)
        #expect(Checkpoint(text: "o\n12\nAAAA\n") == nil, "a root of 3 bytes")
        #expect(Checkpoint(text: "o\n12\n\(root)") == nil, "no final newline")
        #expect(Checkpoint(text: "o\n12\n\(root)\n\nx\n") == nil, "an empty extension line")
    }

    /// scripts/check-proof.py (Python's `cryptography`, no Swift) verifies a checkpoint signed
    /// here and a witness's cosignature of it, and refuses both once the checkpoint changed.
    @Test func aVerifierOutsideSwiftAcceptsTheSignaturesAndRefusesATamperedCheckpoint() async throws {
        let log = try NoteSigner.generate(name: "weevent.example/1", type: .ed25519)
        let witness = try NoteSigner.generate(name: "witness.example/w1", type: .cosignature)
        let text = Checkpoint(origin: "weevent.example/1", size: 42, root: Array(repeating: 9, count: 32)).text
        let note = SignedNote(text: text, signatures: [try log.sign(text), try witness.sign(text, time: 1_700_000_000)])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("note-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        func check(_ note: String) async throws -> (Int32, String) {
            try note.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try await run(
                "/usr/bin/env", ["python3", repositoryRoot + "/scripts/check-proof.py", "note", path, "\(log.verifier)", "\(witness.verifier)"]
            )
            return (result.status, result.stdout + result.stderr)
        }
        let (status, output) = try await check(note.encoded)
        #expect(status == 0, "\(output)")
        #expect(output.contains("weevent.example/1") && output.contains("witness.example/w1"), "\(output)")
        let tampered = note.encoded.replacingOccurrences(of: "\n42\n", with: "\n43\n")
        let (refused, why) = try await check(tampered)
        #expect(refused == 1, "\(why)")
        #expect(why.contains("does not verify"), "\(why)")
    }
}
