import Crypto
import Foundation

/// A client of the HTTP API with rights of its own (docs/api.md "Access control"). The broker
/// keeps only the SHA-256 digest of its token, which it shows once, when the identity is made.
public struct Identity: Sendable, Hashable, Codable {
    public var name: String
    /// SHA-256 of the token.
    public var tokenDigest: [UInt8]
    public var rights: Rights
    /// When it was made and last changed, ms since 1970.
    public var created: Int64
    public var changed: Int64
    /// Its Ed25519 public key (32 bytes): events it publishes with `weevent-signature` are checked
    /// against it (`EventSignature`).
    public var publicKey: [UInt8]?
    /// Every event it publishes must be signed.
    public var signaturesRequired: Bool
    /// Its own limit of publishes and requests; nil: `access.rate.*`'s.
    public var rateLimit: RateLimit?

    public init(
        name: String, tokenDigest: [UInt8], rights: Rights, created: Int64, changed: Int64? = nil, publicKey: [UInt8]? = nil,
        signaturesRequired: Bool = false, rateLimit: RateLimit? = nil
    ) {
        self.name = name
        self.tokenDigest = tokenDigest
        self.rights = rights
        self.created = created
        self.changed = changed ?? created
        self.publicKey = publicKey
        self.signaturesRequired = signaturesRequired
        self.rateLimit = rateLimit
    }

    /// Names the broker uses itself: the configured tokens' identities and callers without a token.
    public static let reservedNames: Set<String> = ["master", "admin", "anonymous"]

    /// 1 to 64 ASCII letters, digits, `.`, `_`, `-`, not reserved (100705 otherwise).
    public static func validName(_ raw: String?) throws(WeEventError) -> String {
        guard let raw, !raw.isEmpty else { throw WeEventError(.identityNameInvalid, message: "invalid identity name: it is blank") }
        let allowed = raw.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        guard allowed, raw.utf8.count <= 64 else {
            throw WeEventError(
                .identityNameInvalid, message: "invalid identity name '\(raw.prefix(70))': use 1 to 64 letters, digits, '.', '_' or '-'")
        }
        guard !reservedNames.contains(raw.lowercased()) else {
            throw WeEventError(.identityNameInvalid, message: "invalid identity name '\(raw)': master, admin and anonymous are the broker's own")
        }
        return raw
    }

    /// A new token: `wev_` and 256 random bits in base64url, and its digest.
    public static func newToken() -> (token: String, digest: [UInt8]) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let text = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let token = "wev_" + text
        return (token, digest(token))
    }

    public static func digest(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(token.utf8)))
    }
}

/// How many publishes and requests a caller may make: `perSecond` on average, up to `burst` at
/// once (a token bucket). `perSecond` 0: no limit.
public struct RateLimit: Sendable, Hashable, Codable, CustomStringConvertible {
    public var perSecond: Int
    public var burst: Int

    public init(perSecond: Int, burst: Int? = nil) {
        self.perSecond = perSecond
        self.burst = burst ?? perSecond
    }

    public static let unlimited = RateLimit(perSecond: 0, burst: 0)
    public var isUnlimited: Bool { perSecond == 0 }

    public var description: String { isUnlimited ? "unlimited" : "\(perSecond)/s, burst \(burst)" }

    /// The largest rate and burst taken: a million a second.
    public static let maximum = 1_000_000
}
