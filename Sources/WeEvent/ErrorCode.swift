/// WeEvent's numbered error codes (client errors 1xxxxx, server errors 2xxxxx).
///
/// The numbers and messages are those of WeEvent's REST API, so existing clients
/// keep working. Codes this project adds are marked.
public enum ErrorCode: Int, Sendable, CaseIterable {
    case topicAlreadyExist = 100100
    case topicNotExist = 100101
    case topicExceedMaxLength = 100102
    case topicIsBlank = 100103
    case pageIndexInvalid = 100104
    case topicContainInvalidChar = 100106
    case pageSizeInvalid = 100107
    /// Ours: a new topic's event id prefix (first 8 hex of SHA-256 of its name) is another topic's in the group.
    case topicPrefixTaken = 100108
    case patternInvalid = 100109
    /// Ours: a topic filter lists more topics and patterns than `rest.filter.max-items`.
    case filterTooLong = 100110
    case eventContentIsBlank = 100200
    case eventContentExceedsMaxLength = 100201
    case eventExtensionsExceedsMaxLength = 100204
    case eventExtensionsKeyInvalid = 100206
    /// Ours: `weevent-expiry` is not a time in milliseconds since 1970.
    case expiryInvalid = 100207
    case eventIdIsBlank = 100300
    case eventIdExceedsMaxLength = 100301
    case eventIdIsIllegal = 100302
    case eventIdNotExist = 100303
    case eventIdIsMismatch = 100304
    case groupIdNotFound = 100305
    case groupIdInvalid = 100306
    case blockHeightInvalid = 100307
    /// Ours: a proof would hold more block headers than `rest.proof.max-links`.
    case proofTooLong = 100310
    /// Ours: no signed checkpoint of that tree size (or none yet) in the group.
    case checkpointNotFound = 100311
    /// Ours: a tree size outside what the request allows (above the tree, below the event, `from` after `to`).
    case treeSizeInvalid = 100312
    /// Ours: a cosignature the broker does not keep: not a known witness's, not valid, or not of a checkpoint it signed.
    case cosignatureRefused = 100313
    /// Ours: the group's ledger is of format 1, whose event hashes cover the content: it cannot be pruned or erased.
    case contentNotPrunable = 100314
    /// Ours: a retention setting that is not a duration, a size, `keep`/`none`, or a valid topic pattern.
    case retentionInvalid = 100315
    /// Ours: an event of the broker's own topics (`$weevent/`) cannot be erased.
    case eventNotErasable = 100316
    case offsetIsBlank = 100500
    case urlInvalid = 100501
    case subscriptionIdIsBlank = 100503
    case subscriptionIdNotExist = 100504
    case subscriptionIdInvalid = 100505
    case subscriptionIdAlreadyExist = 100507
    /// Ours: `subscription.max-count` subscriptions exist already.
    case subscriptionLimitReached = 100508
    /// Ours: the callback URL's host is (or resolves to) an address callbacks may not reach.
    case callbackAddressRefused = 100509
    case mqttNotConfigured = 100600
    /// Ours: the caller's address is not in `ip.check.white-table`.
    case ipNotAllowed = 100700
    /// Ours: the endpoint needs `master.access-token` or `admin.access-token` and it was missing or wrong.
    case accessTokenInvalid = 100701
    /// Ours: a browser sent the request on behalf of another site (`Sec-Fetch-Site`, `Origin`).
    case crossSiteRefused = 100702
    /// Ours: a browser named a host that is not in `server.allowed-hosts` (DNS rebinding).
    case hostNotAllowed = 100703
    /// Ours: the caller's identity does not hold the action on the topic (HTTP 403).
    case actionNotAllowed = 100704
    /// Ours: an identity name that is not 1-64 letters, digits, `.`, `_` or `-`, or is reserved.
    case identityNameInvalid = 100705
    /// Ours: no identity of that name.
    case identityNotExist = 100706
    /// Ours: an identity of that name exists already (HTTP 409).
    case identityAlreadyExist = 100707
    /// Ours: a right that is not `ACTIONS[@GROUPS][:TOPICS]`.
    case rightInvalid = 100708
    /// Ours: an event's `weevent-signature` is malformed or does not verify, is missing where the
    /// identity must sign, or comes from a caller with no registered key.
    case eventSignatureInvalid = 100709
    /// Ours: the caller made more publishes and requests than its rate limit allows (HTTP 429).
    case rateLimited = 100710
    /// Ours: a request's head and body did not arrive within `server.read-timeout-ms` (HTTP 408).
    case requestReadTimeout = 100900
    /// Ours: the request line is longer than the HTTP parser takes (HTTP 414).
    case requestLineTooLong = 100901
    /// Ours: the request's headers are larger than the HTTP parser takes (HTTP 431).
    case requestHeadersTooLarge = 100902
    /// Ours: the HTTP parser could not read the request (HTTP 400).
    case requestMalformed = 100903
    /// Ours: rest/request's correlation path is malformed, or the command's content cannot carry a value there.
    case correlationInvalid = 100800
    /// Ours: rest/request's timeout is not an integer in 1...`rest.request.max-timeout-ms`.
    case requestTimeoutInvalid = 100801
    /// Ours: rest/request's command expired (its `weevent-expiry` or its binding's TTL) before a reply came.
    case commandExpired = 100802
    /// Ours: the broker is shutting down and takes no more writes.
    case shuttingDown = 200002
    case unknownError = 200000
    case invalidInputParam = 200001
    /// Ours: `rest.stream.max-count` streams are open.
    case tooManyStreams = 200003
    /// Ours: the client has `server.max-connections-per-client` connections open already.
    case tooManyConnections = 200004
    case zookeeperError = 200400
    /// Ours: the ledger's store (PostgreSQL) could not be reached or failed; nothing was acknowledged.
    case ledgerStoreError = 200500
    /// Ours: rest/request sent its command, but no reply came within the timeout.
    case replyTimeout = 200600
    /// Ours: `rest.request.max-count` requests are waiting for replies.
    case tooManyRequests = 200601

    public var message: String {
        switch self {
        case .topicAlreadyExist: "topic already exist"
        case .topicNotExist: "topic not exist"
        case .topicExceedMaxLength: "topic name exceeds max length[64 bytes]"
        case .topicIsBlank: "topic name is blank"
        case .pageIndexInvalid: "page index should be an integer start from 0"
        case .topicContainInvalidChar: "topic name contain invalid char, ascii must be in[32, 128] except wildcard(+,#)"
        case .pageSizeInvalid: "page size should be an integer in(1, 100)"
        case .topicPrefixTaken: "topic's event id prefix is another topic's"
        case .patternInvalid: "invalid topic pattern"
        case .filterTooLong: "topic filter has too many items (rest.filter.max-items)"
        case .eventContentIsBlank: "event content is blank"
        case .eventContentExceedsMaxLength: "event content exceeds max length[10k bytes]"
        case .eventExtensionsExceedsMaxLength: "event extensions exceeds max length[1k bytes]"
        case .eventExtensionsKeyInvalid: "event extensions key not startwith weevent-"
        case .expiryInvalid: "weevent-expiry should be milliseconds since 1970"
        case .eventIdIsBlank: "eventId is blank"
        case .eventIdExceedsMaxLength: "eventId exceeds max length[64 bytes]"
        case .eventIdIsIllegal: "eventId is illegal"
        case .eventIdNotExist: "eventId is not exist"
        case .eventIdIsMismatch: "eventId is mismatch with block chain"
        case .groupIdNotFound: "event group id is not found"
        case .groupIdInvalid: "event group id should be a string start from 1"
        case .blockHeightInvalid: "invalid block height"
        case .proofTooLong: "proof too long (rest.proof.max-links)"
        case .checkpointNotFound: "no signed checkpoint of that tree size"
        case .treeSizeInvalid: "invalid tree size"
        case .cosignatureRefused: "cosignature refused"
        case .contentNotPrunable: "a format 1 ledger's content cannot be pruned"
        case .retentionInvalid: "invalid retention setting"
        case .eventNotErasable: "events of the broker's own topics cannot be erased"
        case .offsetIsBlank: "offset blank"
        case .urlInvalid: "invalid url format"
        case .subscriptionIdIsBlank: "subscription id blank"
        case .subscriptionIdNotExist: "subscribe id is not exist"
        case .subscriptionIdInvalid: "subscribe id format invalid"
        case .subscriptionIdAlreadyExist: "subscriptionId is already exist"
        case .subscriptionLimitReached: "too many subscriptions (subscription.max-count)"
        case .callbackAddressRefused: "callback address is not allowed (subscription.callback.allowed-ranges)"
        case .mqttNotConfigured: "no mqtt.broker.url configuration"
        case .ipNotAllowed: "client ip is not in ip.check.white-table"
        case .accessTokenInvalid: "access token is missing or invalid"
        case .crossSiteRefused: "cross-site request refused"
        case .hostNotAllowed: "host is not in server.allowed-hosts"
        case .actionNotAllowed: "action not granted"
        case .identityNameInvalid: "invalid identity name"
        case .identityNotExist: "identity is not exist"
        case .identityAlreadyExist: "identity is already exist"
        case .rightInvalid: "invalid right"
        case .eventSignatureInvalid: "event signature invalid"
        case .rateLimited: "rate limit reached, retry later"
        case .requestReadTimeout: "request not received within server.read-timeout-ms"
        case .requestLineTooLong: "request line too long"
        case .requestHeadersTooLarge: "request headers too large"
        case .requestMalformed: "malformed HTTP request"
        case .correlationInvalid: "invalid correlation path or value"
        case .requestTimeoutInvalid: "timeout should be an integer in [1, rest.request.max-timeout-ms]"
        case .commandExpired: "the command expired before a reply came; it was not sent to the device after that"
        case .shuttingDown: "broker is shutting down"
        case .unknownError: "unknown error, see more details in log"
        case .tooManyStreams: "too many streams (rest.stream.max-count), retry later"
        case .tooManyConnections: "too many connections from this client (server.max-connections-per-client), retry later"
        case .invalidInputParam: "invalid input param"
        case .zookeeperError: "access zookeeper failed"
        case .ledgerStoreError: "access ledger store failed, retry later"
        case .replyTimeout: "no reply within the timeout; the command was sent and stays on the ledger"
        case .tooManyRequests: "too many requests waiting for replies (rest.request.max-count), retry later"
        }
    }
}

/// An error a WeEvent client sees: a code, its message and, for the log, what was being done.
public struct WeEventError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: ErrorCode
    /// The message sent to the client. WeEvent's own message unless a more precise one helps.
    public let message: String
    /// Context for logs only.
    public let detail: String?

    public init(_ code: ErrorCode, message: String? = nil, detail: String? = nil) {
        self.code = code
        self.message = message ?? code.message
        self.detail = detail
    }

    public var description: String {
        "\(code.rawValue) \(message)" + (detail.map { " (\($0))" } ?? "")
    }
}
