import Foundation
import Testing
@testable import Ledger

/// The checkpoint signing key file: made once with mode 0600, read again as the same key, one
/// verifier per group, and a clear error for a file that is not a key.
@Suite struct CheckpointKeyTests {
    @Test func theKeyIsMadeOncePrivatelyAndReadAgain() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/keys/signing.key"
        let (made, created) = try CheckpointKey.loadOrCreate(path: path, origin: "events.example.com")
        #expect(created)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("PRIVATE+KEY+events.example.com+"))
        let (again, createdAgain) = try CheckpointKey.loadOrCreate(path: path, origin: "events.example.com")
        #expect(!createdAgain)
        #expect(again.verifier(group: "1") == made.verifier(group: "1"))
        #expect(made.verifier(group: "1").name == "events.example.com/1")
        #expect(made.verifier(group: "1") != made.verifier(group: "2"), "one verifier key per group (the name is part of it)")
        // What a group's signer signs, its verifier checks.
        let checkpoint = Checkpoint(origin: "events.example.com/1", size: 3, root: Array(repeating: 2, count: 32))
        #expect(made.verifier(group: "1").verifies(try made.signer(group: "1").sign(checkpoint.text), of: checkpoint.text))
    }

    @Test func aFileThatIsNotAKeyIsRefusedNamingIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notakey-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "hello\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            _ = try CheckpointKey.loadOrCreate(path: path, origin: "o")
        } throws: { error in
            "\(error)".contains("ledger.signing-key") && "\(error)".contains(path)
        }
    }
}
