import Foundation
import Hummingbird
import Ledger
import WeEvent

/// `rest/request`: a device command and its reply in one call. The command is published as an
/// event (so an outbound binding sends it to the device); the answer is the first event on
/// `replyTopic` after it whose correlation value (`CorrelationPath`) is the command's. Both
/// stay on the ledger. docs/api.md describes the call; docs/mqtt-bridge.md the round trip.
struct RequestRoutes {
    typealias Context = WeEventRequestContext

    let ledgers: LedgerSet
    let configuration: WeEvent.Configuration
    let gate: AdmissionGate
    /// Runs after the command is stored and before the reply is looked for (tests: a device
    /// that answers before the call waits).
    let afterPublish: (@Sendable (EventID) async throws -> Void)?

    init(_ services: BrokerServices) {
        ledgers = services.ledgers
        configuration = services.configuration
        afterPublish = services.afterRequestPublished
        gate = AdmissionGate(limit: services.configuration.requestMaxCount) { limit in
            WeEventError(.tooManyRequests, message: "too many requests waiting for replies: rest.request.max-count (\(limit)); retry later")
        }
    }

    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        Endpoints(routes, configuration).add("rest/request") { p in try await request(p) }
        return routes
    }

    private func request(_ p: RequestParameters) async throws -> Response {
        let started = ContinuousClock.now
        let topic = try Validation.topic(p["topic"])
        let replyTopic = try Self.replyTopic(p["replyTopic"])
        let ledger = try ledgers.ledger(p["groupId"])
        let content = Array((p["content"] ?? "").utf8)
        try Validation.content(content, maxLength: configuration.contentMaxLength)
        let extensions = p.extensions
        try Validation.clientExtensions(extensions, maxLength: configuration.extensionsMaxLength)
        let timeout = try Self.timeout(
            p["timeout"], default: configuration.requestDefaultTimeoutMilliseconds, max: configuration.requestMaxTimeoutMilliseconds
        )
        let path = try p["correlation"].map { raw throws(WeEventError) in try CorrelationPath(parsing: raw) }
        let command = try CorrelatedCommand.prepare(content, path: path)
        if command.generated { try Validation.content(command.content, maxLength: configuration.contentMaxLength) }
        guard try await ledger.exists(topic: replyTopic) else {
            throw WeEventError(.topicNotExist, message: "replyTopic '\(replyTopic)' does not exist; open it first")
        }
        let place = try gate.enter()
        defer { place.release() }

        let id = try await ledger.publish(NewEvent(topic: topic, content: command.content, extensions: extensions))
        try await afterPublish?(id)
        // From the command's own position: a reply stored before this point is found in the store.
        let position = try await ledger.position(of: id)
        let outcome = try await Self.reply(
            to: command, on: replyTopic, after: position, in: ledger, until: started + .milliseconds(timeout)
        )
        switch outcome {
        case .reply(let event):
            var json = Array(#"{"status":"SUCCESS","requestEventId":"#.utf8)
            json += Self.quoted(id.description)
            json += Array(#","correlation":"#.utf8) + Self.quoted(command.path.description)
            json += Array(#","correlationValue":"#.utf8) + Self.quoted(command.value)
            json += Array(#","reply":"#.utf8)
            event.writeJSON(into: &json)
            json.append(UInt8(ascii: "}"))
            return JSONBody.raw(json)
        case .timedOut:
            let error = WeEventError(
                .replyTimeout,
                message: "no reply on '\(replyTopic)' with \(command.path)=\(command.value) within \(timeout) ms; the command \(id) was sent and stays on the ledger"
            )
            return try JSONBody.response(
                TimeoutBody(code: error.code.rawValue, message: error.message, requestEventId: id.description),
                status: .gatewayTimeout
            )
        case .closed:
            throw WeEventError(.shuttingDown, detail: "rest/request waiting for \(id)")
        }
    }

    static func quoted(_ text: String) -> [UInt8] {
        Array((try? JSONBody.encoder.encode(text)) ?? Data("\"\"".utf8))
    }

    struct TimeoutBody: Encodable {
        let code: Int
        let message: String
        let requestEventId: String
    }

    enum Outcome: Sendable {
        case reply(Event)
        case timedOut
        /// The ledger closed (shutdown) before a reply came.
        case closed
    }

    /// Reads `replyTopic` from `position` (what is stored, then each commit) until an event
    /// with the command's correlation value, or until `deadline` (never earlier).
    static func reply(
        to command: CorrelatedCommand, on replyTopic: String, after position: UInt64, in ledger: any EventLedger,
        until deadline: ContinuousClock.Instant
    ) async throws -> Outcome {
        let filter = try TopicFilter.parse(replyTopic)
        // What is stored already is looked at first, however late: a reply on the ledger is an
        // answer even when storing the command or the reply took the whole timeout.
        var cursor = position
        while true {
            let stored = try await ledger.events(after: cursor, through: nil, matching: filter, limit: 256)
            if let reply = stored.events.first(where: { command.isAnswered(by: $0.event.content) }) { return .reply(reply.event) }
            guard stored.scannedThrough > cursor else { break }
            cursor = stored.scannedThrough
        }
        let tail = ledger.tail(after: cursor, matching: filter)
        defer { tail.close() }
        return try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask {
                while let batch = try await tail.next() {
                    for item in batch where command.isAnswered(by: item.event.content) {
                        return .reply(item.event)
                    }
                }
                // Closed by the deadline below, or by the ledger shutting down.
                return ContinuousClock.now >= deadline ? .timedOut : .closed
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                // Ends the reader's wait too: it answers `.closed`, after this.
                tail.close()
                return .timedOut
            }
            let first = try await group.next() ?? .closed
            group.cancelAll()
            return first
        }
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
            throw WeEventError(.requestTimeoutInvalid, message: "timeout should be an integer in [1, \(max)] (milliseconds, rest.request.max-timeout-ms), got '\(raw.prefix(40))'")
        }
        return milliseconds
    }
}
