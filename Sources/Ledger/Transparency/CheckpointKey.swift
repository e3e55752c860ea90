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

    /// The key of the 32-byte Ed25519 private key `seed` (RFC 8032).
    public init(origin: String, seed: [UInt8]) {
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
        do {
            let (signer, created) = try NoteSigner.loadOrCreate(path: path, name: origin, type: .ed25519)
            return (CheckpointKey(origin: origin, seed: signer.seedBytes), created)
        } catch {
            throw Failure(description: "ledger.signing-key: \(error)")
        }
    }
}
