import Crypto
import Foundation
import WeEvent

/// A signed note (C2SP signed-note): a text ending in a newline, a blank line, and signature
/// lines `— <key name> base64(key ID ‖ signature)`. Checkpoints (tlog-checkpoint) and their
/// witnesses' cosignatures (tlog-cosignature) are signed notes.
public struct SignedNote: Sendable, Equatable {
    /// One signature line.
    public struct Signature: Sendable, Equatable {
        public var name: String
        public var keyID: UInt32
        /// The bytes after the key ID.
        public var signature: [UInt8]

        public init(name: String, keyID: UInt32, signature: [UInt8]) {
            self.name = name
            self.keyID = keyID
            self.signature = signature
        }

        public var line: String {
            var bytes: [UInt8] = []
            BlockHash.append(keyID, to: &bytes)
            return "\u{2014} \(name) \(Data(bytes + signature).base64EncodedString())\n"
        }
    }

    /// The signed text, final newline included.
    public var text: String
    public var signatures: [Signature]

    public init(text: String, signatures: [Signature]) {
        self.text = text
        self.signatures = signatures
    }

    /// The note as sent: text, blank line, signature lines.
    public var encoded: String {
        text + "\n" + signatures.map(\.line).joined()
    }

    /// Parses a note; nil when it is not one (no blank line before the signatures, a malformed
    /// signature line, a control character, more than `maxSignatures` signatures).
    public static func parse(_ note: String, maxSignatures: Int = 100) -> SignedNote? {
        guard note.utf8.count <= 1 << 20, !note.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" }) else { return nil }
        // The text ends at the last blank line: "\n\n" whose second newline starts the signatures.
        guard note.hasSuffix("\n"), let split = note.range(of: "\n\n", options: .backwards) else { return nil }
        let text = String(note[..<split.lowerBound]) + "\n"
        let lines = note[split.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard !lines.isEmpty, lines.count <= maxSignatures else { return nil }
        var signatures: [Signature] = []
        for line in lines {
            guard line.hasPrefix("\u{2014} ") else { return nil }
            let parts = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[0].contains("+"),
                let bytes = Data(base64Encoded: String(parts[1])), bytes.count > 4
            else { return nil }
            let keyID = UInt32(bigEndianBytes: bytes.prefix(4))
            signatures.append(Signature(name: String(parts[0]), keyID: keyID, signature: Array(bytes.dropFirst(4))))
        }
        return SignedNote(text: text, signatures: signatures)
    }
}

/// The signature types this ledger uses (signed-note's registry).
public enum NoteKeyType: UInt8, Sendable {
    /// Ed25519 over the note text: the ledger's checkpoints.
    case ed25519 = 0x01
    /// Timestamped Ed25519 cosignature (tlog-cosignature): witnesses.
    case cosignature = 0x04
}

/// A public key that checks note signatures, in signed-note's verifier key form
/// `<name>+<hex key ID>+base64(type ‖ public key)`.
public struct NoteVerifier: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let type: NoteKeyType
    public let publicKey: [UInt8]
    public let keyID: UInt32

    public init(name: String, type: NoteKeyType, publicKey: [UInt8]) {
        self.name = name
        self.type = type
        self.publicKey = publicKey
        self.keyID = Self.keyID(name: name, type: type, publicKey: publicKey)
    }

    /// SHA-256(name ‖ 0x0A ‖ type ‖ public key), first four bytes, big-endian.
    static func keyID(name: String, type: NoteKeyType, publicKey: [UInt8]) -> UInt32 {
        let digest = SHA256.hash(data: Array(name.utf8) + [0x0A, type.rawValue] + publicKey)
        return UInt32(bigEndianBytes: digest.prefix(4))
    }

    /// Parses a verifier key; nil when malformed, of another type, or when its key ID does not
    /// match its name and key.
    public init?(_ text: String) {
        // The base64 part may hold "+" too.
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[1].count == 8, let id = UInt32(parts[1], radix: 16),
            let material = Data(base64Encoded: String(parts[2])), material.count == 33,
            let type = NoteKeyType(rawValue: material[material.startIndex])
        else { return nil }
        self.init(name: String(parts[0]), type: type, publicKey: Array(material.dropFirst()))
        guard keyID == id else { return nil }
    }

    public var description: String {
        "\(name)+\(String(format: "%08x", keyID))+\(Data([type.rawValue] + publicKey).base64EncodedString())"
    }

    /// Whether `signature` is this key's (same name and key ID) and verifies over `text`. For a
    /// cosignature, the signed message is `cosignature/v1`, the time line and the text.
    public func verifies(_ signature: SignedNote.Signature, of text: String) -> Bool {
        guard signature.name == name, signature.keyID == keyID,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        else { return false }
        switch type {
        case .ed25519:
            return key.isValidSignature(signature.signature, for: Array(text.utf8))
        case .cosignature:
            guard let time = cosignatureTime(signature), time <= UInt64(Int64.max) else { return false }
            return key.isValidSignature(Array(signature.signature.dropFirst(8)), for: Array(NoteSigner.cosignedMessage(text, time: time).utf8))
        }
    }

    /// The time a cosignature carries (seconds since 1970); nil for other signatures.
    public func cosignatureTime(_ signature: SignedNote.Signature) -> UInt64? {
        guard type == .cosignature, signature.signature.count == 72 else { return nil }
        return UInt64(bigEndianBytes: signature.signature.prefix(8))
    }
}

/// An Ed25519 key that signs notes (a log's checkpoints) or cosigns them (a witness).
public struct NoteSigner: Sendable {
    public let verifier: NoteVerifier
    /// The 32-byte Ed25519 private key (RFC 8032).
    private let seed: [UInt8]
    private var key: Curve25519.Signing.PrivateKey {
        // Checked in `init`.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }

    /// `seed`: the 32-byte Ed25519 private key (RFC 8032).
    public init(name: String, type: NoteKeyType, seed: [UInt8]) throws {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        self.seed = seed
        verifier = NoteVerifier(name: name, type: type, publicKey: Array(key.publicKey.rawRepresentation))
    }

    /// A new random key.
    public static func generate(name: String, type: NoteKeyType) throws -> NoteSigner {
        try NoteSigner(name: name, type: type, seed: Array(Curve25519.Signing.PrivateKey().rawRepresentation))
    }

    public var name: String { verifier.name }

    /// The private key, for a key file that derives per-group signers from it.
    var seedBytes: [UInt8] { seed }

    /// The signer key in the form Go's note package reads:
    /// `PRIVATE+KEY+<name>+<hex key ID>+base64(type ‖ seed)`.
    public var encoded: String {
        "PRIVATE+KEY+\(name)+\(String(format: "%08x", verifier.keyID))+\(Data([verifier.type.rawValue] + seed).base64EncodedString())"
    }

    /// Parses `encoded`; nil when malformed or when the key ID does not match.
    public init?(encoded text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = trimmed.split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY", !parts[2].isEmpty,
            let id = UInt32(parts[3], radix: 16), let material = Data(base64Encoded: String(parts[4])), material.count == 33,
            let type = NoteKeyType(rawValue: material[material.startIndex]),
            let signer = try? NoteSigner(name: String(parts[2]), type: type, seed: Array(material.dropFirst())),
            signer.verifier.keyID == id
        else { return nil }
        self = signer
    }

    /// Reads the signer key at `path` (of `type`, any name), or makes one named `name` there
    /// (0600, missing directories 0700) when there is none; `created` says which.
    public static func loadOrCreate(path: String, name: String, type: NoteKeyType) throws -> (signer: NoteSigner, created: Bool) {
        if !FileManager.default.fileExists(atPath: path) {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty { try PrivateFiles.directory(directory) }
            let signer = try NoteSigner.generate(name: name, type: type)
            // Another process may make it first: then theirs is read below.
            if try PrivateFiles.create(path, contents: Array((signer.encoded + "\n").utf8)) { return (signer, true) }
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PrivateFiles.Failure(description: "cannot read \(path)")
        }
        guard let text = String(data: data, encoding: .utf8), let signer = NoteSigner(encoded: text), signer.verifier.type == type else {
            let kind = type == .ed25519 ? "an Ed25519" : "a tlog-cosignature (type 0x04)"
            throw PrivateFiles.Failure(description: "\(path) is not \(kind) note signer key (PRIVATE+KEY+<name>+<id>+<key>)")
        }
        return (signer, false)
    }

    /// The signature line of `text` (a checkpoint key), or of `text` at `time` (a cosigner).
    public func sign(_ text: String, time: UInt64 = 0) throws -> SignedNote.Signature {
        switch verifier.type {
        case .ed25519:
            return SignedNote.Signature(name: name, keyID: verifier.keyID, signature: Array(try key.signature(for: Array(text.utf8))))
        case .cosignature:
            var bytes: [UInt8] = []
            BlockHash.append(time, to: &bytes)
            bytes += try key.signature(for: Array(Self.cosignedMessage(text, time: time).utf8))
            return SignedNote.Signature(name: name, keyID: verifier.keyID, signature: bytes)
        }
    }

    /// What a tlog-cosignature/v1 signs.
    static func cosignedMessage(_ text: String, time: UInt64) -> String {
        "cosignature/v1\ntime \(time)\n" + text
    }
}

extension FixedWidthInteger where Self: UnsignedInteger {
    /// The integer whose big-endian bytes are `bytes` (as many as the type holds).
    init(bigEndianBytes bytes: some Sequence<UInt8>) {
        self = bytes.reduce(0) { $0 << 8 | Self($1) }
    }
}
