import Hummingbird
import Ledger
import Logging
import NIOCore
import Foundation
import HTTPTypes
import WeEvent

/// Answers every failure with WeEvent's `{"code","message"}` and a fitting status.
/// Client mistakes keep their code; anything unexpected is 200000 with the detail in the log only.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = WeEventRequestContext
    /// A client can make the broker refuse as often as it likes: those refusals are notices, at
    /// most one line every ten seconds, not errors.
    let refusals = RateLimitedLog()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let answer = ClientError(for: error, path: request.uri.path)
            if [.tooManyStreams, .tooManyRequests, .tooManyConnections].contains(answer.error.code) {
                refusals.notice(
                    context.logger, "refused a call: no place left",
                    metadata: [
                        "path": "\(request.uri.path)", "reason": "\(answer.error.message)",
                    ])
            } else if answer.isServerFault {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(answer.error)"])
            } else {
                context.logger.debug("request rejected", metadata: ["path": "\(request.uri.path)", "error": "\(answer.error)"])
            }
            var response = JSONBody.error(answer)
            // Rate limits refill every second or sooner (the message says when exactly).
            if answer.error.code == .rateLimited { response.headers[.retryAfter] = "1" }
            return response
        }
    }
}

/// `ip.check.white-table`: when the table is not empty, only its addresses and ranges, and
/// loopback, may call. The caller is the connection's peer, or, when that peer is one of
/// `server.trusted-proxies`, the client its `X-Forwarded-For` names.
struct IPWhiteTableMiddleware: RouterMiddleware {
    typealias Context = WeEventRequestContext
    let table: IPWhiteTable
    let proxies: TrustedProxies

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if !table.isEmpty {
            let client = proxies.client(peer: context.remoteAddress, forwardedFor: request.headers[values: TrustedProxies.header])
            guard table.allows(client) else {
                let address = client?.description ?? "unknown"
                context.logger.notice("refused client not in ip.check.white-table", metadata: ["client": "\(address)"])
                throw WeEventError(.ipNotAllowed, message: "client ip \(address) is not in ip.check.white-table")
            }
        }
        return try await next(request, context)
    }
}

public struct IPWhiteTable: Sendable {
    let ranges: [IPRange]

    public init(_ ranges: [IPRange]) {
        self.ranges = ranges
    }

    var isEmpty: Bool { ranges.isEmpty }

    /// Empty table: everyone. Otherwise loopback and what the table holds; an unknown address is refused.
    public func allows(_ address: IPAddress?) -> Bool {
        if ranges.isEmpty { return true }
        guard let address else { return false }
        return IPRange.loopback.contains(address) || ranges.contains(address)
    }
}

/// `server.trusted-proxies`: which peers are believed when they say, in `X-Forwarded-For`, whom
/// they forward for. Nobody is by default: then the peer is the client, whatever the header says.
public struct TrustedProxies: Sendable {
    static let header = HTTPField.Name("X-Forwarded-For")!
    let ranges: [IPRange]

    public init(_ ranges: [IPRange]) {
        self.ranges = ranges
    }

    /// The calling client: the peer unless it is a trusted proxy; then, reading `X-Forwarded-For`
    /// from the right (the entry the trusted peer itself added), the first address that is not a
    /// trusted proxy, or the leftmost when all are. An entry that is not an address makes the
    /// client unknown (nil), so a white table refuses it.
    public func client(peer: SocketAddress?, forwardedFor values: [String]) -> IPAddress? {
        guard let peerAddress = peer?.ipAddress.flatMap({ IPAddress($0) }) else { return nil }
        guard ranges.contains(peerAddress) else { return peerAddress }
        let hops = values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        guard !hops.isEmpty else { return peerAddress }
        var client = peerAddress
        for hop in hops.reversed() {
            guard let address = Self.address(hop) else { return nil }
            client = address
            if !ranges.contains(address) { return address }
        }
        return client
    }

    /// `192.0.2.1`, `2001:db8::1`, or the bracketed `[2001:db8::1]` some proxies write.
    static func address(_ hop: String) -> IPAddress? {
        if hop.hasPrefix("["), hop.hasSuffix("]") { return IPAddress(hop.dropFirst().dropLast()) }
        return IPAddress(hop)
    }
}
