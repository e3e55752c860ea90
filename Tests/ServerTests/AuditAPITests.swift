import BrokerConfiguration
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import TestSupport
import Testing
import WeEvent

/// The group tree over HTTP: rest/proof's tree form, rest/checkpoint, rest/consistency and
/// rest/cosign, each checked by scripts/check-proof.py (Python, independent of the Swift code).
@Suite struct AuditAPITests {
    static let key = CheckpointKey(origin: "audit.example", seed: Array(repeating: 9, count: 32))
    static let witness = try! NoteSigner(name: "witness-a", type: .cosignature, seed: Array(repeating: 4, count: 32))

    /// Runs scripts/check-proof.py with `arguments` after writing `files` (name, text) beside each other.
    static func checker(_ arguments: [String], files: [String: String]) async throws -> (Int32, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        let resolved = arguments.map { files[$0] != nil ? dir + "/" + $0 : $0 }
        let result = try await run("/usr/bin/env", ["python3", repositoryRoot + "/scripts/check-proof.py"] + resolved)
        return (result.status, result.stdout + result.stderr)
    }

    static func publish(_ client: any TestClientProtocol, _ count: Int) async throws -> [String] {
        var ids: [String] = []
        for i in 0..<count {
            let reply = try await client.call("/weevent/rest/publish?topic=tree&content=reading-\(i)&weevent-unit=celsius")
            ids.append(try #require(reply.object["eventId"] as? String))
        }
        return ids
    }

    @Test func treeProofsAndConsistencyProofsCheckAgainstSignedCheckpoints() async throws {
        let vkey = Self.key.verifier(group: "1").description
        try await withTestBroker { client, ledgers in
            _ = try await client.call("/weevent/rest/open?topic=tree")
            try await client.expectError("/weevent/rest/checkpoint", code: 100311, status: 404)
            let ids = try await Self.publish(client, 30)
            let ledger = try ledgers.ledger("1")
            _ = try await ledger.signCheckpoint(with: Self.key.signer(group: "1"))
            let checkpoint = try await client.call("/weevent/rest/checkpoint")
            #expect(checkpoint.status == 200 && checkpoint.body.hasPrefix("audit.example/1\n30\n"), "\(checkpoint.body)")
            #expect(try await Self.checker(["note", "cp", vkey], files: ["cp": checkpoint.body]).0 == 0)
            _ = try await Self.publish(client, 10)

            // The latest checkpoint (30 events) holds the first event: the proof is to it.
            let reply = try await client.call("/weevent/rest/proof?eventId=\(ids[4])")
            #expect(reply.status == 200, "\(reply.body)")
            #expect(reply.object["treeSize"] as? Int == 30 && reply.object["leafIndex"] as? Int == 4)
            #expect(reply.object["checkpoint"] as? String == checkpoint.body)
            #expect(((reply.object["inclusionProof"] as? [String])?.count ?? 0) == 5, "log2(30) rounded up")
            let (status, output) = try await Self.checker(["p", "--vkey", vkey], files: ["p": reply.body])
            #expect(status == 0 && output.contains("signed by audit.example/1"), "\(output)")
            let other = CheckpointKey(origin: "audit.example", seed: Array(repeating: 1, count: 32)).verifier(group: "1").description
            #expect(try await Self.checker(["p", "--vkey", other], files: ["p": reply.body]).0 == 1, "another key's signature is not there")
            for tampered in [
                try changeOneByte(reply.body, after: #""content":""#, offset: 2),
                try changeOneByte(reply.body, after: #""inclusionProof":[""#, offset: 9),
                try changeOneByte(reply.body, after: #""leafIndex":"#, offset: 0),
                try changeOneByte(reply.body, after: #""rootHash":""#, offset: 20),
                try changeOneByte(reply.body, after: #""treeSize":"#, offset: 1),
                try changeOneByte(reply.body, after: #"\n30\n"#, offset: 3),
            ] {
                let (status, output) = try await Self.checker(["p", "--vkey", vkey], files: ["p": tampered])
                #expect(status == 1, "a changed proof passed: \(output)")
            }

            // A named tree size: the tree now, with no checkpoint of its size.
            let now = try await client.call("/weevent/rest/proof?eventId=\(ids[4])&treeSize=40")
            #expect(now.object["treeSize"] as? Int == 40 && now.object["checkpoint"] == nil, "\(now.body)")
            #expect(try await Self.checker(["p"], files: ["p": now.body]).0 == 0)
            let (unsigned, said) = try await Self.checker(["p", "--vkey", vkey], files: ["p": now.body])
            #expect(unsigned == 1 && said.contains("no checkpoint of tree size 40"), "\(said)")
            for bad in ["41", "4", "x", "-1", "99999999999999999999"] {
                try await client.expectError("/weevent/rest/proof?eventId=\(ids[4])&treeSize=\(bad)", code: 100312)
            }
            try await client.expectError("/weevent/rest/proof?eventId=\(ids[4])&form=merkle", code: 200001)
            let chain = try await client.call("/weevent/rest/proof?eventId=\(ids[4])&form=chain")
            #expect(chain.object["links"] != nil && chain.object["inclusionProof"] == nil)

            // Consistency from the checkpoint of 30 to the tree of 40, and to the latest checkpoint.
            _ = try await ledger.signCheckpoint(with: Self.key.signer(group: "1"))
            let newer = try await client.call("/weevent/rest/checkpoint").body
            let consistency = try await client.call("/weevent/rest/consistency?from=30")
            #expect(consistency.object["to"] as? Int == 40, "to defaults to the latest checkpoint: \(consistency.body)")
            let (ok, text) = try await Self.checker(
                ["consistency", "c", "--old", "old", "--new", "new", "--vkey", vkey],
                files: ["c": consistency.body, "old": checkpoint.body, "new": newer])
            #expect(ok == 0, "\(text)")
            let changed = try changeOneByte(consistency.body, after: #""proof":[""#, offset: 3)
            #expect(try await Self.checker(["consistency", "c"], files: ["c": changed]).0 == 1)
            #expect(try await client.call("/weevent/rest/checkpoint?treeSize=30").body == checkpoint.body)
            try await client.expectError("/weevent/rest/checkpoint?treeSize=31", code: 100311, status: 404)
            for bad in ["from=41", "from=3&to=2", "from=1&to=41", "", "from=x"] {
                try await client.expectError("/weevent/rest/consistency?\(bad)", code: 100312)
            }
        }
    }

    @Test func cosignaturesOfListedWitnessesAreKeptAndServed() async throws {
        try await withTestBroker(configure: { $0.ledger.witnesses = [Self.witness.verifier.description] }) { client, ledgers in
            _ = try await client.call("/weevent/rest/open?topic=tree")
            _ = try await Self.publish(client, 3)
            _ = try await ledgers.ledger("1").signCheckpoint(with: Self.key.signer(group: "1"))
            let checkpoint = try await client.call("/weevent/rest/checkpoint").body
            let note = try #require(SignedNote.parse(checkpoint))
            let cosigned = SignedNote(text: note.text, signatures: [try Self.witness.sign(note.text, time: 1_800_000_000)]).encoded
            let form = "note=" + cosigned.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let kept = try await client.call("/weevent/rest/cosign", method: .post, form: form)
            #expect(kept.status == 200 && kept.object["witnesses"] as? [String] == ["witness-a"], "\(kept.body)")
            let served = try await client.call("/weevent/rest/checkpoint").body
            #expect(served.hasPrefix(checkpoint) && served.contains("\u{2014} witness-a "), "\(served)")
            let (status, output) = try await Self.checker(["note", "cp", Self.witness.verifier.description], files: ["cp": served])
            #expect(status == 0 && output.contains("witness-a"), "\(output)")

            let stranger = try NoteSigner(name: "witness-b", type: .cosignature, seed: Array(repeating: 5, count: 32))
            let strange = SignedNote(text: note.text, signatures: [try stranger.sign(note.text, time: 1)]).encoded
            let refused = try await client.call(
                "/weevent/rest/cosign", method: .post, form: "note=" + strange.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            #expect(refused.code == 100313 && refused.status == 400 && (refused.object["message"] as? String)?.contains("witness-b") == true)
            try await client.expectError("/weevent/rest/cosign", code: 100313)
        }
        try await withTestBroker { client, _ in
            try await client.expectError("/weevent/rest/cosign?note=x", code: 100313)
        }
    }
}
