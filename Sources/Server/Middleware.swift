import Cluster
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
        } catch let error as WeEventError {
            if error.code.httpStatus >= 500 {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            } else {
                context.logger.debug("request rejected", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            return JSONBody.error(error)
        } catch let error as CoordinationError {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return JSONBody.error(WeEventError(.zookeeperError, detail: error.reason))
        } catch let error as LedgerStoreError {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return JSONBody.error(WeEventError(.ledgerStoreError, detail: error.reason))
        } catch let error as any HTTPResponseError {
            let code: ErrorCode = error.status.code >= 500 ? .unknownError : .invalidInputParam
            let message = error.status == .notFound ? "no such endpoint: \(request.uri.path)" : error.status.reasonPhrase
            return JSONBody.error(WeEventError(code, message: message), status: error.status)
        } catch {
            context.logger.error("unexpected error", metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            return JSONBody.error(WeEventError(.unknownError))
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
