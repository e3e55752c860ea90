import Foundation
import WeEvent

/// The key a broker signs its groups' checkpoints with (`ledger.signing-key`): one Ed25519 key
/// for every group, in a file (mode 0600) in the signer format of Go's note package, named
/// `ledger.origin`. Group `G`'s checkpoints are signed under the name `<origin>/G`, their log's
/// origin, so each group has its own verifier key. Every instance of a cluster uses the same file.
public struct CheckpointKey: Sendable {
    public let origin: String
    private let seed: [UInt8]

    /// What went wrong with the key file, naming it.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    init(origin: String, seed: [UInt8]) {
        self.origin = origin
        self.seed = seed
    }

    /// The signer of group `group`'s checkpoints.
    public func signer(group: String) -> NoteSigner {
        // The seed was checked when the key was read or made.
        try! NoteSigner(name: "\(origin)/\(group)", type: .ed25519, seed: seed)
    }

    public func verifier(group: String) -> NoteVerifier {
        signer(group: group).verifier
    }

    /// Reads the key at `path`, or makes one there (0600, directories 0700) when there is none.
    /// `created` says which.
    public static func loadOrCreate(path: String, origin: String) throws -> (key: CheckpointKey, created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (try load(path: path, origin: origin), false) }
        let directory = (path as NSString).deletingLastPathComponent
        do {
            if !directory.isEmpty { try PrivateFiles.directory(directory) }
        } catch {
            throw Failure(description: "ledger.signing-key: \(error)")
        }
        let signer = try NoteSigner.generate(name: origin, type: .ed25519)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            // Another instance made it first: use theirs.
            if errno == EEXIST { return (try load(path: path, origin: origin), false) }
            throw Failure(description: "ledger.signing-key: cannot create \(path): errno \(errno)")
        }
        let bytes = Array((signer.encoded + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            unlink(path)
            throw Failure(description: "ledger.signing-key: cannot write \(path)")
        }
        return (try load(path: path, origin: origin), true)
    }

    /// Reads the key at `path`.
    public static func load(path: String, origin: String) throws -> CheckpointKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "ledger.signing-key: cannot read \(path)")
        }
        guard let text = String(data: data, encoding: .utf8), let signer = NoteSigner(encoded: text), signer.verifier.type == .ed25519 else {
            throw Failure(description: "ledger.signing-key: \(path) is not an Ed25519 note signer key (PRIVATE+KEY+<name>+<id>+<key>)")
        }
        return CheckpointKey(origin: origin, seed: signer.seedBytes)
    }
}
