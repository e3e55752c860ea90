import Bridge
import Cluster
import Hummingbird
import Ledger
import WeEvent

/// The one place where failures become what a client sees: a WeEvent code, its message and an
/// HTTP status. The domain and the stores throw their own error types; only this file knows
/// which WeEvent code and which status each of them gets.
struct ClientError {
    let error: WeEventError
    let status: HTTPResponse.Status
    /// A failure of the broker or its stores (logged as an error), not a mistake of the caller.
    var isServerFault: Bool { status.code >= 500 }

    init(_ error: WeEventError, status: HTTPResponse.Status? = nil) {
        self.error = error
        self.status = status ?? HTTPResponse.Status(code: error.code.httpStatus)
    }

    /// What a client is told for `failure` while calling `path`.
    init(for failure: any Error, path: String) {
        switch failure {
        case let error as WeEventError:
            self.init(error)
        case LedgerError.shuttingDown(let group):
            self.init(WeEventError(.shuttingDown, detail: "group \(group)"))
        case let error as LedgerError:
            self.init(WeEventError(.unknownError, detail: error.description))
        case let error as LedgerStoreError:
            self.init(WeEventError(.ledgerStoreError, detail: error.reason))
        case let error as CoordinationError:
            self.init(WeEventError(.zookeeperError, detail: error.reason))
        case let error as BindingFileError:
            self.init(WeEventError(.unknownError, detail: error.description))
        case let error as any HTTPResponseError:
            let code: ErrorCode = error.status.code >= 500 ? .unknownError : .invalidInputParam
            let message = error.status == .notFound ? "no such endpoint: \(path)" : error.status.reasonPhrase
            self.init(WeEventError(code, message: message), status: error.status)
        default:
            self.init(WeEventError(.unknownError, detail: String(reflecting: failure)))
        }
    }
}

extension ErrorCode {
    /// The HTTP status that fits the code: 4xx for client errors, 5xx for server errors.
    var httpStatus: Int {
        switch self {
        case .topicNotExist, .eventIdNotExist, .groupIdNotFound, .subscriptionIdNotExist, .checkpointNotFound, .identityNotExist: 404
        case .topicAlreadyExist, .subscriptionIdAlreadyExist, .topicPrefixTaken, .identityAlreadyExist: 409
        case .ipNotAllowed, .crossSiteRefused, .hostNotAllowed, .actionNotAllowed, .eventNotErasable: 403
        case .contentNotPrunable: 409
        case .commandExpired: 410
        case .accessTokenInvalid: 401
        case .rateLimited: 429
        case .mqttNotConfigured, .invalidInputParam: 400
        case .shuttingDown, .zookeeperError, .ledgerStoreError, .tooManyStreams, .tooManyRequests, .tooManyConnections: 503
        case .replyTimeout: 504
        case .requestReadTimeout: 408
        case .requestLineTooLong: 414
        case .requestHeadersTooLarge: 431
        case .unknownError: 500
        default: rawValue < 200_000 ? 400 : 500
        }
    }
}
