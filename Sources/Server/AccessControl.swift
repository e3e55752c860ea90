import BrokerConfiguration
import Crypto
import Foundation
import Hummingbird
import Ledger
import WeEvent

/// Who may call what (docs/api.md "Access control").
///
/// A caller is whoever its token names: an identity of the store (`IdentityDirectory`), or one
/// of the configured `master.access-token` and `admin.access-token`, built-in identities named
/// `master` and `admin` with every right. A caller without a token has `access.anonymous`'s
/// rights. With no token configured, no identity stored and `access.anonymous` unset, the broker
/// is open: every caller may do everything, as in WeEvent, and start-up warns when it listens
/// beyond loopback.
public struct AccessControl: Sendable {
    /// SHA-256 of each configured token: compared digest to digest, so the comparison takes the
    /// same time whatever the guess and never reveals a token's length.
    private let builtIn: [(digest: [UInt8], name: String)]
    private let anonymous: Rights?
    /// `access.rate.*`: the limit of identities without one of their own, and of addresses.
    private let defaultRate: RateLimit
    let directory: IdentityDirectory

    public init(_ configuration: BrokerConfiguration.Configuration, directory: IdentityDirectory) {
        builtIn = [
            (configuration.server.masterAccessToken, "master"), (configuration.server.adminAccessToken, "admin"),
        ].compactMap { token, name in token.isEmpty ? nil : (Identity.digest(token), name) }
        anonymous = configuration.server.anonymousRights
        defaultRate = configuration.server.rateLimit
        self.directory = directory
    }

    /// Nothing configured and no identity stored: every caller may do everything.
    func isOpen() async throws -> Bool {
        guard builtIn.isEmpty, anonymous == nil else { return false }
        return try await directory.isEmpty()
    }

    /// True when a token is configured: then no identity can lock the operator out.
    var hasBuiltInTokens: Bool { !builtIn.isEmpty }

    /// `access.anonymous` grants admin (to anyone without a token).
    var anonymousHoldsAdmin: Bool { anonymous?.allow(.admin) ?? false }

    /// The caller of `request`: the identity its token names (`Authorization: Bearer <token>` or,
    /// as WeEvent's clients send it, a `token` parameter), or anonymous without one. A token that
    /// names nobody is 100701, whatever the endpoint, unless the broker is open.
    /// `client` names the rate-limit bucket of a caller without a token (`RateLimiter`), asked
    /// only then. The configured tokens' identities are never limited.
    func caller(_ request: Request, parameters: RequestParameters?, client: () -> IPAddress? = { nil }) async throws -> Caller {
        // Open: any token is ignored, as before access could be configured.
        let open = try await isOpen()
        let presented =
            open
            ? nil
            : Self.bearer(request.headers[.authorization]) ?? parameters?["token"] ?? request.uri.queryParameters["token"].map(String.init)
        guard let presented, !presented.isEmpty else {
            let key = defaultRate.isUnlimited ? nil : "address:\(client()?.description ?? "unknown")"
            return Caller(name: nil, rights: open ? .everything : anonymous ?? Self.anonymousDefault, rateKey: key, rateLimit: defaultRate)
        }
        let digest = Identity.digest(presented)
        // Every built-in digest is compared, match or not.
        var matched: String?
        for candidate in builtIn where Self.constantTimeEqual(candidate.digest, digest) { matched = candidate.name }
        if let matched { return Caller(name: matched, rights: .everything) }
        if let identity = try await directory.identity(digest: digest) {
            return Caller(
                name: identity.name, rights: identity.rights, identity: identity, rateKey: "identity:\(identity.name)",
                rateLimit: identity.rateLimit ?? defaultRate)
        }
        throw WeEventError(.accessTokenInvalid, message: "access token is missing or invalid: the token names no identity")
    }

    /// What a caller without a token may do when `access.anonymous` is not set: publish, read
    /// and request on every topic, as before identities existed.
    static let anonymousDefault = Rights([Right(actions: [.publish, .read, .request])])

    /// What start-up warns about once the identities were read: an open broker listening beyond
    /// loopback, and a closed one whose callers without a token keep the default rights.
    public static func startupWarnings(
        _ configuration: BrokerConfiguration.Configuration, identities: Int
    ) -> [(message: String, risk: String)] {
        let server = configuration.server
        let tokens = !server.masterAccessToken.isEmpty || !server.adminAccessToken.isEmpty
        if !tokens, server.anonymousRights == nil, identities == 0 {
            let loopback = server.host == "localhost" || IPAddress(server.host).map { IPRange.loopback.contains($0) } == true
            guard !loopback else { return [] }
            return [
                (
                    "no access configured",
                    "server.host=\(server.host) listens beyond loopback with no master.access-token, admin.access-token, "
                        + "access.anonymous or identity: anyone who can reach port \(server.port) can publish and read every topic, "
                        + "bind MQTT topics, close topics, create or remove callback subscriptions and identities"
                )
            ]
        }
        if server.anonymousRights == nil {
            return [
                (
                    "callers without a token may publish, read and request on every topic",
                    "access.anonymous is not set, so callers without a token keep the default rights "
                        + "(\(anonymousDefault)); set access.anonymous=none to refuse them"
                )
            ]
        }
        return []
    }

    /// The token of `Authorization: Bearer <token>` (the scheme in any case, blanks around the
    /// token ignored). By bytes: done on every request, where Character and Foundation string
    /// handling cost several percent of a publish.
    static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let bytes = header.utf8
        guard bytes.count > 7 else { return nil }
        for (byte, expected) in zip(bytes.prefix(6), "bearer".utf8) where byte | 0x20 != expected { return nil }
        var rest = bytes.dropFirst(6)
        guard rest.first == UInt8(ascii: " ") else { return nil }
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        while let first = rest.first, blank(first) { rest = rest.dropFirst() }
        while let last = rest.last, blank(last) { rest = rest.dropLast() }
        return rest.isEmpty ? nil : String(Substring(rest))
    }

    /// Equal digests, looking at every byte whatever the first difference.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}

/// Who sent a request, and what they may do.
public struct Caller: Sendable {
    /// The identity's name, recorded as an event's publisher; nil for an anonymous caller.
    public let name: String?
    let rights: Rights
    /// The identity of the store it is (nil for a configured token's and without a token): its
    /// Ed25519 key and whether its events must be signed (`EventSignature`).
    var identity: Identity? = nil
    /// Its bucket in `RateLimiter` (by identity, or by address without a token) and its limit.
    var rateKey: String? = nil
    var rateLimit = RateLimit.unlimited

    /// The extensions that name it as an event's publisher: none for a caller without a token.
    var publisherExtensions: [String: String] {
        name.map { [Validation.publisherExtension: $0] } ?? [:]
    }

    /// Anyone, on a broker with no access configured.
    static let openBroker = Caller(name: nil, rights: .everything)

    /// Throws 100704 (100701 for a caller without a token) unless `action` is granted on `topic`.
    /// The broker's own topics (`$weevent/...`, the audit trail) are only read.
    func require(_ action: Action, group: String, topic: String) throws(WeEventError) {
        if action != .read, AuditTrail.isReserved(topic) {
            throw refusal(action, group: group, topic: topic, why: "topics under $weevent/ are the broker's own, and only read")
        }
        guard rights.allow(action, group: group, topic: topic) else { throw refusal(action, group: group, topic: topic) }
    }

    /// Throws unless `action` is granted on every topic `filter` can match.
    func require(_ action: Action, group: String, covering filter: TopicFilter) throws(WeEventError) {
        guard rights.allow(action, group: group, covering: filter) else {
            throw refusal("\(action.rawValue) is not granted on every topic of '\(filter.description.prefix(200))' in group \(group)")
        }
    }

    /// Throws unless `action` is granted somewhere: `admin`, which no group or topic limits.
    func require(_ action: Action) throws(WeEventError) {
        guard rights.allow(action) else { throw refusal("\(action.rawValue) is not granted") }
    }

    func may(_ action: Action, group: String, topic: String) -> Bool {
        (action == .read || !AuditTrail.isReserved(topic)) && rights.allow(action, group: group, topic: topic)
    }

    /// Some action on the topic: what exist and state need.
    func requireAny(group: String, topic: String) throws(WeEventError) {
        guard rights.allowAny(group: group, topic: topic) else {
            throw refusal("no action is granted on topic '\(topic)' in group \(group)")
        }
    }

    /// The refusal of `action` on `topic`, `why` saying what needed it when that is not plain.
    func refusal(_ action: Action, group: String, topic: String, why: String? = nil) -> WeEventError {
        refusal("\(action.rawValue) is not granted on topic '\(topic)' in group \(group)", why: why)
    }

    /// 100704 naming the identity, or 100701 for a caller without a token.
    private func refusal(_ message: String, why: String? = nil) -> WeEventError {
        let reason = why.map { ": \($0)" } ?? ""
        if let name {
            return WeEventError(.actionNotAllowed, message: "\(message) (identity \(name))\(reason)")
        }
        return WeEventError(.accessTokenInvalid, message: "access token is missing or invalid: \(message) without a token\(reason)")
    }
}
