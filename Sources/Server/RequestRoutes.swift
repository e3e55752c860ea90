import BrokerConfiguration
import Bridge
import Foundation
import Hummingbird
import Ledger
import NIOCore
import WeEvent

/// `rest/request`: a device command and its reply in one call. The command is published as an
/// event (so an outbound binding sends it to the device); the answer is the first event on
/// `replyTopic` after it whose correlation value (`CorrelationPath`) is the command's. Both
/// stay on the ledger. docs/api.md describes the call; docs/mqtt-bridge.md the round trip.
struct RequestRoutes {
    typealias Context = WeEventRequestContext

    let ledgers: LedgerSet
    let configuration: BrokerConfiguration.Configuration
    let gate: AdmissionGate
    let bindings: BindingService?
    let limiter: RateLimiter
    let services: BrokerServices

    init(_ services: BrokerServices) {
        self.services = services
        limiter = services.limiter
        ledgers = services.ledgers
        configuration = services.configuration
        gate = AdmissionGate(limit: services.configuration.request.maxCount, perClient: services.configuration.request.maxPerClient) { refused in
            switch refused {
            case .total(let limit):
                WeEventError(.tooManyRequests, message: "too many requests waiting for replies: rest.request.max-count (\(limit)); retry later")
            case .client(let client, let limit):
                WeEventError(
                    .tooManyRequests,
                    message: "too many requests from \(client) waiting for replies: rest.request.max-per-client (\(limit)); retry later"
                )
            }
        }
        bindings = services.bindings
    }

    /// GET and POST, like `Endpoints.add`, but with the connection, whose closing ends the wait.
    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        let intake = RequestIntake(services)
        let responder: @Sendable (Request, Context) async throws -> Response = { request, context in
            try await self.request(try await intake.parameters(request, context), client: intake.client(request, context), channel: context.channel)
        }
        routes.get("rest/request", use: responder)
        routes.post("rest/request", use: responder)
        return routes
    }

    private func request(_ p: RequestParameters, client: IPAddress?, channel: any Channel) async throws -> Response {
        let started = ContinuousClock.now
        let topic = try Validation.topic(p["topic"])
        let replyTopic = try Self.replyTopic(p["replyTopic"])
        let ledger = try ledgers.ledger(p["groupId"])
        try p.caller.require(.request, group: ledger.groupID, topic: topic)
        try p.caller.require(.read, group: ledger.groupID, topic: replyTopic)
        try limiter.admit(p.caller)
        let (content, extensions) = try p.clientEvent(configuration)
        let timeout = try Self.timeout(
            p["timeout"], default: configuration.request.defaultTimeout.wholeMilliseconds, max: configuration.request.maxTimeout.wholeMilliseconds
        )
        let path = try p["correlation"].map { raw throws(WeEventError) in try CorrelationPath(parsing: raw) }
        let command = try CorrelatedCommand.prepare(content, path: path)
        if command.generated { try Validation.content(command.content, maxLength: configuration.events.contentMaxLength) }
        // Over the command as stored: a signed command carries its own correlation value.
        try p.checkSignature(group: ledger.groupID, topic: topic, content: command.content, extensions: extensions)
        guard try await ledger.exists(topic: replyTopic) else {
            throw WeEventError(.topicNotExist, message: "replyTopic '\(replyTopic)' does not exist; open it first")
        }
        let bridgedOnly = try await repliesMustComeFromTheBridge(replyTopic, in: ledger.groupID)
        // A command that expired already is not sent at all.
        if let own = extensions[Expiry.extensionName].flatMap(Expiry.parse), own <= Expiry.now() {
            throw WeEventError(
                .commandExpired, message: "the command expired before a reply came: its weevent-expiry \(own) has passed; it was not published")
        }
        let ttl = try await commandTTL(topic, in: ledger.groupID)
        let place = try gate.enter(client: client)
        defer { place.release() }

        let id = try await ledger.publish(NewEvent(topic: topic, content: command.content, extensions: extensions))
        // From here on the command is on the ledger (and on its way to the device): every answer
        // names it, so a caller does not send it again believing it was lost.
        let search = ReplySearch(command: command, replyTopic: replyTopic, bridgedOnly: bridgedOnly)
        let outcome: ReplySearch.Outcome
        var expiresFirst = false
        do {
            // From the command's own position: a reply stored before this point is found in the store.
            let position = try await ledger.position(of: id)
            // The wait ends when the command expires, if that comes first: the bridge will not
            // send it to the device after that, so no reply can come.
            var until = started + .milliseconds(timeout)
            if let expiry = Expiry.of(try await ledger.event(id: id), ttl: ttl) {
                let left = expiry.subtractingReportingOverflow(Expiry.now())
                let expires = ContinuousClock.now + .milliseconds(left.overflow ? Int64.max / 2 : max(0, left.partialValue))
                if expires < until {
                    until = expires
                    expiresFirst = true
                }
            }
            // A connection closed under the call (server shutdown, idle timeout) ends the wait. A
            // caller that merely hangs up is not seen while the handler runs (the server reads
            // nothing more from the connection until it answers): it keeps its place until its
            // timeout, which `rest.request.max-timeout-ms` and `rest.request.max-count` bound.
            outcome = try await search.wait(
                after: position, in: ledger, until: until,
                watchCaller: { leave in channel.closeFuture.whenComplete { _ in leave() } },
                callerGone: { !channel.isActive }
            )
        } catch {
            let answer = ClientError(for: error, path: "rest/request")
            return try Self.failure(answer.error, status: answer.status, command: id)
        }
        switch outcome {
        case .reply(let event):
            var json = Array(#"{"status":"SUCCESS","requestEventId":"#.utf8)
            JSONString.write(id.description, into: &json)
            json += Array(#","correlation":"#.utf8)
            JSONString.write(command.path.description, into: &json)
            json += Array(#","correlationValue":"#.utf8)
            JSONString.write(command.value, into: &json)
            json += Array(#","reply":"#.utf8)
            event.writeJSON(into: &json)
            json.append(UInt8(ascii: "}"))
            return JSONBody.raw(json)
        case .timedOut where expiresFirst:
            let error = WeEventError(
                .commandExpired,
                message:
                    "the command expired before a reply came on '\(replyTopic)' with \(command.path)=\(command.value); the command \(id) stays on the ledger and is not sent to the device after its expiry"
            )
            return try Self.failure(error, status: .gone, command: id)
        case .timedOut:
            let error = WeEventError(
                .replyTimeout,
                message:
                    "no reply on '\(replyTopic)' with \(command.path)=\(command.value) within \(timeout) ms; the command \(id) was sent and stays on the ledger"
            )
            return try Self.failure(error, status: .gatewayTimeout, command: id)
        case .callerLeft:
            // Nobody reads this; the place is given back as the handler returns.
            return Response(status: .noContent)
        case .closed:
            let error = WeEventError(
                .shuttingDown, message: "broker is shutting down; the command \(id) was sent and stays on the ledger, its reply was not awaited"
            )
            return try Self.failure(error, status: .serviceUnavailable, command: id)
        }
    }

    /// Whether only events the inbound bridge stored answer a call on `replyTopic`: when the topic
    /// has an inbound binding (the device answers through MQTT) and
    /// `rest.request.bridged-replies-only` is on. Anyone may publish on a topic over REST, and the
    /// command with its correlation value is readable by anyone who follows its topic; an event
    /// the bridge stored carries `weevent-mqtt-topic`, which no client can set.
    private func repliesMustComeFromTheBridge(_ replyTopic: String, in group: String) async throws -> Bool {
        guard configuration.request.bridgedRepliesOnly, let bindings else { return false }
        return try await bindings.store.bindings().contains {
            $0.direction == .inbound && $0.groupId == group && $0.topic == replyTopic
        }
    }

    /// The TTL of the command topic's outbound binding, when it has one.
    private func commandTTL(_ topic: String, in group: String) async throws -> Int64? {
        guard let bindings else { return nil }
        return try await bindings.store.bindings().first { $0.direction == .outbound && $0.groupId == group && $0.topic == topic }?.ttl
    }

    /// A WeEvent error with the id of the command that was sent all the same.
    static func failure(_ error: WeEventError, status: HTTPResponse.Status, command: EventID) throws -> Response {
        try JSONBody.response(FailureBody(code: error.code.rawValue, message: error.message, requestEventId: command.description), status: status)
    }

    struct FailureBody: Encodable {
        let code: Int
        let message: String
        let requestEventId: String
    }

    /// `replyTopic`: a topic name, and the errors say which parameter was wrong.
    static func replyTopic(_ raw: String?) throws(WeEventError) -> String {
        do {
            return try Validation.topic(raw)
        } catch {
            throw WeEventError(error.code, message: "replyTopic: \(error.message)", detail: error.detail)
        }
    }

    /// `timeout` in milliseconds: 1...`rest.request.max-timeout-ms`, the configured default when absent.
    static func timeout(_ raw: String?, default value: Int, max: Int) throws(WeEventError) -> Int {
        guard let raw, !raw.isEmpty else { return value }
        guard let milliseconds = Int(raw), (1...max).contains(milliseconds) else {
            throw WeEventError(
                .requestTimeoutInvalid,
                message: "timeout should be an integer in [1, \(max)] (milliseconds, rest.request.max-timeout-ms), got '\(raw.prefix(40))'")
        }
        return milliseconds
    }
}
