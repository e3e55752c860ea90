import Hummingbird
import Ledger
import Logging
import NIOCore
import WeEvent

/// Answers every failure with WeEvent's `{"code","message"}` and a fitting status.
/// Client mistakes keep their code; anything unexpected is 200000 with the detail in the log only.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = WeEventRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let answer = ClientError(for: error, path: request.uri.path)
            if answer.isServerFault {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(answer.error)"])
            } else {
                context.logger.debug("request rejected", metadata: ["path": "\(request.uri.path)", "error": "\(answer.error)"])
            }
            return JSONBody.error(answer)
        }
    }
}

/// `ip.check.white-table`: when the table is not empty, only its addresses and loopback may call.
struct IPWhiteTableMiddleware: RouterMiddleware {
    typealias Context = WeEventRequestContext
    let table: IPWhiteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard table.allows(context.remoteAddress) else {
            let address = context.remoteAddress?.ipAddress ?? "unknown"
            context.logger.notice("refused client not in ip.check.white-table", metadata: ["client": "\(address)"])
            throw WeEventError(.ipNotAllowed, message: "client ip \(address) is not in ip.check.white-table")
        }
        return try await next(request, context)
    }
}

public struct IPWhiteTable: Sendable {
    let addresses: Set<String>

    public init(_ addresses: [String]) {
        self.addresses = Set(addresses.map(IPWhiteTable.normalize))
    }

    /// Empty table: everyone. Otherwise loopback and listed addresses only; an unknown address is refused.
    public func allows(_ address: SocketAddress?) -> Bool {
        if addresses.isEmpty { return true }
        guard let ip = address?.ipAddress else { return false }
        let normalized = IPWhiteTable.normalize(ip)
        return IPWhiteTable.isLoopback(normalized) || addresses.contains(normalized)
    }

    static func normalize(_ ip: String) -> String {
        let lower = ip.lowercased()
        if lower.hasPrefix("::ffff:"), lower.dropFirst(7).contains(".") { return String(lower.dropFirst(7)) }
        return lower
    }

    static func isLoopback(_ ip: String) -> Bool {
        ip == "::1" || ip.hasPrefix("127.")
    }
}
