import Crypto
import Foundation

/// A publisher's Ed25519 signature over what it chose of an event (docs/ledger.md "Publishers and signed
/// events"): the group, the topic, its own name, the content's SHA-256 and its extensions. The
/// broker checks it at publish time and stores it as the extension `weevent-signature`, under the
/// event hash; anyone holding the publisher's public key checks it again later, so not even the
/// broker's operator can make an event that passes as that publisher's.
///
///     message = "weevent event signature v1" ‖ 0x00
///               ‖ u32 len(groupId) ‖ groupId ‖ u32 len(topic) ‖ topic ‖ u32 len(publisher) ‖ publisher
///               ‖ SHA-256(content)
///               ‖ u32 count ‖ (u32 len(key) ‖ key ‖ u32 len(value) ‖ value)*   keys sorted bytewise,
///                 every extension but weevent-signature and weevent-publisher
public enum EventSignature {
    /// The extension holding the signature: standard base64 of its 64 bytes.
    public static let extensionName = "weevent-signature"
    static let domain = Array("weevent event signature v1".utf8) + [0]

    /// The bytes a publisher signs.
    public static func message(group: String, topic: String, publisher: String, contentDigest: [UInt8], extensions: [String: String])
        -> [UInt8]
    {
        var bytes = domain
        for text in [group, topic, publisher] { appendString(text, to: &bytes) }
        bytes.append(contentsOf: contentDigest)
        let signed = extensions.keys.filter { $0 != extensionName && $0 != Validation.publisherExtension }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        appendLength(signed.count, to: &bytes)
        for key in signed {
            appendString(key, to: &bytes)
            appendString(extensions[key]!, to: &bytes)
        }
        return bytes
    }

    public static func message(group: String, topic: String, publisher: String, content: [UInt8], extensions: [String: String]) -> [UInt8] {
        message(
            group: group, topic: topic, publisher: publisher, contentDigest: Array(SHA256.hash(data: content)), extensions: extensions)
    }

    /// Signs with a 32-byte Ed25519 private key (seed); the extension's value.
    public static func sign(_ message: [UInt8], privateKey: [UInt8]) throws -> String {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: privateKey)
        return Data(try key.signature(for: message)).base64EncodedString()
    }

    /// Checks `signature` (the extension's value) over `message` with a 32-byte Ed25519 public key.
    public static func verify(_ signature: String, message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard let bytes = Data(base64Encoded: signature), bytes.count == 64,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        else { return false }
        return key.isValidSignature(bytes, for: message)
    }

    /// A public key as the API takes it: standard base64 of 32 bytes.
    public static func publicKey(base64 text: String) -> [UInt8]? {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespaces)), bytes.count == 32,
            (try? Curve25519.Signing.PublicKey(rawRepresentation: bytes)) != nil
        else { return nil }
        return Array(bytes)
    }

    private static func appendLength(_ count: Int, to bytes: inout [UInt8]) {
        let value = UInt32(truncatingIfNeeded: count)
        bytes.append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)])
    }

    private static func appendString(_ text: String, to bytes: inout [UInt8]) {
        appendLength(text.utf8.count, to: &bytes)
        bytes.append(contentsOf: text.utf8)
    }
}
