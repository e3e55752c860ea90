import Foundation
import Hummingbird
import WeEvent

/// `/weevent/admin/*Identity`: who may call the broker and what each may do (docs/api.md
/// "Access control"). Every endpoint needs `admin`. A token is shown once, when an identity is
/// added or its token renewed; the store keeps only its digest.
struct IdentityRoutes {
    typealias Context = WeEventRequestContext

    let services: BrokerServices

    init(_ services: BrokerServices) {
        self.services = services
    }

    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        let api = Endpoints(routes, services)
        let directory = services.identities
        let access = services.access
        let audit = AuditTrail(services)
        /// Changes the named identity (stamping `changed`; 100706 when there is none), records the
        /// change on the audit trail and answers the identity.
        let change: @Sendable (String, String, Caller, [String: String], @escaping @Sendable (inout Identity) throws -> Void) async throws -> Identity = {
            name, action, caller, details, edit in
            let changed = try await directory.update(name: name) { identity in
                try edit(&identity)
                identity.changed = Expiry.now()
            }
            guard let changed else { throw Self.unknown(name) }
            await audit.record(action, by: caller, ["name": name].merging(details) { first, _ in first })
            return changed
        }
        api.add("admin/addIdentity", requiring: .admin) { p in
            let name = try Identity.validName(p["name"])
            let rights = try Self.rights(p["rights"])
            try await Self.keepsAnAdmin(access, after: (name, rights))
            let (token, digest) = Identity.newToken()
            let now = Expiry.now()
            guard try await directory.add(Identity(name: name, tokenDigest: digest, rights: rights, created: now)) else {
                throw WeEventError(.identityAlreadyExist, message: "identity \(name) already exists")
            }
            await audit.record("identity.add", by: p.caller, ["name": name, "rights": rights.description])
            return try JSONBody.response(NewTokenBody(name: name, token: token, rights: rights))
        }
        api.add("admin/listIdentity", requiring: .admin) { _ in
            try JSONBody.response(try await directory.all().map(IdentityBody.init))
        }
        api.add("admin/grantIdentity", requiring: .admin) { p in
            let name = try Self.existingName(p["name"])
            let granted = try Self.rights(p["rights"], required: true)
            let changed = try await change(name, "identity.grant", p.caller, ["rights": granted.description]) { identity in
                for right in granted.list where !identity.rights.list.contains(right) { identity.rights.list.append(right) }
            }
            return try JSONBody.response(IdentityBody(changed))
        }
        // With `rights`: takes those rights away; without: removes the identity, whose token
        // is refused from then on (on every instance within a second).
        api.add("admin/revokeIdentity", requiring: .admin) { p in
            let name = try Self.existingName(p["name"])
            guard let text = p["rights"], !text.allSatisfy(\.isWhitespace) else {
                try await Self.keepsAnAdmin(access, after: (name, nil))
                guard try await directory.remove(name: name) else { throw Self.unknown(name) }
                await audit.record("identity.remove", by: p.caller, ["name": name])
                return JSONBody.bool(true)
            }
            let revoked = try Self.rights(text)
            guard let held = try await directory.identity(named: name) else { throw Self.unknown(name) }
            for right in revoked.list where !held.rights.list.contains(right) {
                throw WeEventError(.rightInvalid, message: "identity \(name) holds no right \(right); admin/listIdentity shows its rights")
            }
            try await Self.keepsAnAdmin(access, after: (name, Rights(held.rights.list.filter { !revoked.list.contains($0) })))
            let changed = try await change(name, "identity.revoke", p.caller, ["rights": revoked.description]) { identity in
                identity.rights.list.removeAll { revoked.list.contains($0) }
            }
            return try JSONBody.response(IdentityBody(changed))
        }
        // The identity's Ed25519 public key (empty: none) and whether its events must be signed.
        api.add("admin/setIdentityKey", requiring: .admin) { p in
            let name = try Self.existingName(p["name"])
            var key: [UInt8]?
            if let text = p["publicKey"], !text.allSatisfy(\.isWhitespace) {
                guard let parsed = EventSignature.publicKey(base64: text) else {
                    throw WeEventError(
                        .eventSignatureInvalid, message: "event signature invalid: publicKey must be the standard base64 of a 32-byte Ed25519 public key")
                }
                key = parsed
            }
            let required: Bool
            switch p["signaturesRequired"]?.lowercased() {
            case nil, "", "false": required = false
            case "true": required = true
            case let other?:
                throw WeEventError(.invalidInputParam, message: "invalid input param: signaturesRequired must be true or false, got '\(other.prefix(20))'")
            }
            if required, key == nil {
                throw WeEventError(.eventSignatureInvalid, message: "event signature invalid: signaturesRequired=true needs a publicKey")
            }
            let newKey = key
            let details = ["publicKey": newKey.map { Data($0).base64EncodedString() } ?? "", "signaturesRequired": String(required)]
            let changed = try await change(name, "identity.key", p.caller, details) { identity in
                identity.publicKey = newKey
                identity.signaturesRequired = required
            }
            return try JSONBody.response(IdentityBody(changed))
        }
        // The identity's own limit of publishes and requests: `perSecond` (0: none; absent or
        // empty: `access.rate.*`'s) and `burst` (default: perSecond).
        api.add("admin/setIdentityLimit", requiring: .admin) { p in
            let name = try Self.existingName(p["name"])
            let limit = try Self.rateLimit(perSecond: p["perSecond"], burst: p["burst"])
            let changed = try await change(name, "identity.limit", p.caller, ["rateLimit": limit?.description ?? "default"]) { identity in
                identity.rateLimit = limit
            }
            return try JSONBody.response(IdentityBody(changed))
        }
        // A new token for the identity; the old one is refused from then on.
        api.add("admin/renewIdentityToken", requiring: .admin) { p in
            let name = try Self.existingName(p["name"])
            let (token, digest) = Identity.newToken()
            let changed = try await change(name, "identity.renew", p.caller, [:]) { identity in identity.tokenDigest = digest }
            return try JSONBody.response(NewTokenBody(name: name, token: token, rights: changed.rights))
        }
        return routes
    }

    /// `perSecond` and `burst`, integers in 0 (1 for a burst) to a million; nil when perSecond is absent.
    static func rateLimit(perSecond: String?, burst: String?) throws(WeEventError) -> RateLimit? {
        guard let perSecond, !perSecond.isEmpty else { return nil }
        guard let rate = Int(perSecond), (0...RateLimit.maximum).contains(rate) else {
            throw WeEventError(
                .invalidInputParam, message: "invalid input param: perSecond must be an integer in 0...\(RateLimit.maximum), got '\(perSecond.prefix(20))'")
        }
        guard let burst, !burst.isEmpty else { return RateLimit(perSecond: rate, burst: max(rate, 1)) }
        guard let size = Int(burst), (1...RateLimit.maximum).contains(size) else {
            throw WeEventError(
                .invalidInputParam, message: "invalid input param: burst must be an integer in 1...\(RateLimit.maximum), got '\(burst.prefix(20))'")
        }
        return RateLimit(perSecond: rate, burst: size)
    }

    /// `rights`: whitespace-separated rights (100708 when one is not); none when absent unless required.
    static func rights(_ raw: String?, required: Bool = false) throws(WeEventError) -> Rights {
        guard let raw, !raw.allSatisfy(\.isWhitespace) else {
            if required { throw WeEventError(.rightInvalid, message: "invalid right: rights is required (for example read:sensors/#)") }
            return .none
        }
        let rights = try Rights.parse(list: raw)
        if rights.list.count > 100 { throw WeEventError(.rightInvalid, message: "invalid right: at most 100 rights per identity") }
        return rights
    }

    /// A name as given (an identity made before any rule change is still found by it).
    static func existingName(_ raw: String?) throws(WeEventError) -> String {
        guard let raw, !raw.isEmpty, raw.utf8.count <= 64 else {
            throw WeEventError(.identityNameInvalid, message: "invalid identity name: name is required, at most 64 bytes")
        }
        return raw
    }

    static func unknown(_ name: String) -> WeEventError {
        WeEventError(.identityNotExist, message: "identity \(name) does not exist")
    }

    /// With no configured token, some identity (or `access.anonymous`) must keep `admin` after a
    /// change, or nobody could manage identities any more: such a change is refused (100708).
    /// `change` is the identity's name and its rights after the change (nil: removed).
    static func keepsAnAdmin(_ access: AccessControl, after change: (name: String, rights: Rights?)) async throws {
        guard !access.hasBuiltInTokens, !access.anonymousHoldsAdmin else { return }
        var identities = Dictionary(uniqueKeysWithValues: try await access.directory.all().map { ($0.name, $0.rights) })
        identities[change.name] = change.rights
        guard identities.values.contains(where: { $0.allow(.admin) }) else {
            throw WeEventError(
                .rightInvalid,
                message:
                    "refused: afterwards no identity would hold admin and no master.access-token or admin.access-token is configured, "
                    + "so nobody could manage identities; grant admin to an identity first (for example rights=admin)")
        }
    }
}

/// An identity as admin/listIdentity shows it: never its token or digest.
struct IdentityBody: Encodable {
    let name: String
    let rights: Rights
    let created: Int64
    let changed: Int64
    /// Standard base64 of its Ed25519 public key; absent when it has none.
    let publicKey: String?
    let signaturesRequired: Bool
    /// Its own limit; absent: `access.rate.*`'s.
    let rateLimit: RateLimit?

    init(_ identity: Identity) {
        name = identity.name
        rights = identity.rights
        created = identity.created
        changed = identity.changed
        publicKey = identity.publicKey.map { Data($0).base64EncodedString() }
        signaturesRequired = identity.signaturesRequired
        rateLimit = identity.rateLimit
    }
}

/// The answer that shows a token, once.
struct NewTokenBody: Encodable {
    let name: String
    let token: String
    let rights: Rights
}
