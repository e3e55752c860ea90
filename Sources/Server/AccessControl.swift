import BrokerConfiguration
import Crypto
import Foundation
import Hummingbird
import WeEvent

/// Who may call what (docs/api.md "Access"). Reading and publishing are open to whoever passes
/// the white table; two scopes need a token once one is configured:
/// - `.master`: the bridge's bindings (/weevent/master/*);
/// - `.admin`: /weevent/admin/*, /weevent/metrics, and the REST calls that close a topic or
///   create, change or remove a callback subscription.
///
/// The master token is accepted everywhere; the admin token for `.admin` only. When just one of
/// them is configured it guards both scopes. With neither, everything is open and start-up warns
/// when the broker listens beyond loopback.
public struct AccessControl: Sendable {
    public enum Scope: Sendable { case master, admin }

    /// SHA-256 of each token: compared digest to digest, so the comparison takes the same time
    /// whatever the guess and never reveals a token's length.
    private let master: [UInt8]?
    private let admin: [UInt8]?

    public init(_ configuration: BrokerConfiguration.Configuration) {
        master = Self.digest(configuration.server.masterAccessToken)
        admin = Self.digest(configuration.server.adminAccessToken)
    }

    /// No token configured: every endpoint is open.
    public var isOpen: Bool { master == nil && admin == nil }

    /// The digests that `scope` accepts; empty when it is open.
    private func accepted(by scope: Scope) -> [[UInt8]] {
        switch scope {
        case .master: [master ?? admin].compactMap { $0 }
        case .admin: [master, admin].compactMap { $0 }
        }
    }

    /// Throws 100701 unless the request carries a token that `scope` accepts: `Authorization:
    /// Bearer <token>` or, as WeEvent's clients send it, a `token` parameter.
    func authorize(_ request: Request, parameters: RequestParameters?, scope: Scope) throws(WeEventError) {
        let accepted = accepted(by: scope)
        if accepted.isEmpty { return }
        let presented =
            Self.bearer(request.headers[.authorization]) ?? parameters?["token"]
            ?? request.uri.queryParameters["token"].map(String.init)
        guard let presented, let digest = Self.digest(presented) else {
            throw WeEventError(.accessTokenInvalid, detail: "no token was sent")
        }
        // Every accepted digest is compared, match or not.
        var matched = false
        for candidate in accepted where Self.constantTimeEqual(candidate, digest) { matched = true }
        guard matched else { throw WeEventError(.accessTokenInvalid, detail: "the token is not valid here") }
    }

    /// The start-up warning when the broker listens beyond loopback with no token; nil otherwise.
    public static func openBeyondLoopback(_ configuration: BrokerConfiguration.Configuration) -> String? {
        let host = configuration.server.host
        let loopback = host == "localhost" || IPAddress(host).map { IPRange.loopback.contains($0) } == true
        guard AccessControl(configuration).isOpen, !loopback else { return nil }
        return "server.host=\(host) listens beyond loopback and neither master.access-token nor admin.access-token is set: "
            + "anyone who can reach port \(configuration.server.port) can bind MQTT topics, close topics, "
            + "and create or remove callback subscriptions"
    }

    static func bearer(_ header: String?) -> String? {
        guard let header, header.count > 7 else { return nil }
        let scheme = header.prefix(7)
        guard scheme.lowercased() == "bearer " else { return nil }
        return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    private static func digest(_ token: String) -> [UInt8]? {
        token.isEmpty ? nil : Array(SHA256.hash(data: Array(token.utf8)))
    }

    /// Equal digests, looking at every byte whatever the first difference.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
