import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport
import Testing

/// Every operation of the served OpenAPI document, called by five callers: without a token,
/// with a token that names nobody, as an identity lacking the action, as one holding it on
/// another topic, and as one holding it. What each may do is read from the document's
/// `x-weevent-access`, so an operation added to the API is in the matrix at once, and one whose
/// code checks something else than the document says fails here.
@Suite(.timeLimit(.minutes(5)))
struct AccessMatrixTests {
    static let topic = "matrix/t"
    static let replyTopic = "matrix/reply"
    static let master = "matrix-master"

    /// One call's answer: its status and WeEvent code (nil when not an error body).
    struct Answer: CustomStringConvertible {
        let status: Int
        let code: Int?
        let body: String
        var description: String { "\(status) \(body.prefix(300))" }
    }

    @Test func everyOperationAnswersEachCallerAsDocumented() async throws {
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let broker = try BrokerProcess(
            extraConfig: """
                mqtt.broker.url=\(mosquitto.url)
                master.access-token=\(Self.master)
                access.anonymous=none
                subscription.callback.allowed-ranges=127.0.0.1
                rest.request.max-timeout-ms=200
                mqtt.binding.live-wait-ms=0
                """)
        defer { broker.remove() }
        try await broker.start()
        let root = broker.baseURL.replacingOccurrences(of: "/weevent", with: "")
        let document = try #require(
            try JSONSerialization.jsonObject(with: try await http("\(broker.baseURL)/openapi.json").body) as? [String: Any])
        let parameters = (document["components"] as? [String: Any])?["parameters"] as? [String: [String: Any]] ?? [:]

        // Fixtures, made with the master token.
        func asMaster(_ path: String) async throws -> HTTPReply { try await http("\(broker.baseURL)/\(path)", token: Self.master) }
        _ = try await asMaster("rest/open?topic=\(Self.topic)")
        _ = try await asMaster("rest/open?topic=\(Self.replyTopic.percentEncoded)")
        _ = try await asMaster("rest/open?topic=other/t")
        let eventID = try #require(try await asMaster("rest/publish?topic=\(Self.topic)&content=x").object["eventId"] as? String)

        // Identities by their rights, made once each.
        var tokens: [String: String] = [:]
        func identity(_ rights: String) async throws -> String {
            if let known = tokens[rights] { return known }
            let made = try await asMaster("admin/addIdentity?name=m\(tokens.count)&rights=\(rights.percentEncoded)")
            let token = try #require(made.object["token"] as? String, "\(made.text)")
            tokens[rights] = token
            return token
        }

        var checked = 0
        for (path, item) in (document["paths"] as? [String: [String: Any]] ?? [:]).sorted(by: { $0.key < $1.key }) {
            for method in ["get", "post"] {
                guard let operation = item[method] as? [String: Any] else { continue }
                let name = operation["operationId"] as? String ?? "\(method) \(path)"
                let access = try #require(operation["x-weevent-access"] as? [String: Any], "\(name) has no x-weevent-access")
                let actions = access["actions"] as? [String] ?? []
                let on = access["on"] as? String ?? "?"
                let documented = Set((operation["responses"] as? [String: Any] ?? [:]).keys)

                // Fresh state for the operation: what the previous one closed or removed is back.
                _ = try await asMaster("rest/open?topic=\(Self.topic)")
                _ = try await asMaster("admin/addIdentity?name=matrix-victim&rights=read")
                let subscription = try await asMaster("rest/subscribe?topic=\(Self.topic)&url=http://127.0.0.1:9/hook").text
                _ = try await asMaster("master/mqtt_add_inbound_topic?topic=\(Self.topic)&mqttTopic=matrix/in")
                _ = try await asMaster("master/mqtt_add_outbound_topic?topic=\(Self.topic)&mqttTopic=matrix/out")

                let values = try Self.values(
                    for: operation, method: method, parameters: parameters, eventID: eventID, subscriptionID: subscription)
                func call(_ token: String?) async throws -> Answer {
                    try await Self.call(root + path, method: method, values: values, token: token)
                }
                func expectRefused(_ answer: Answer, _ code: Int, _ caller: String) {
                    #expect(answer.code == code, "\(name) \(caller): \(answer)")
                    #expect(documented.contains(String(answer.status)), "\(name) \(caller): \(answer.status) is not documented")
                }
                func expectAllowed(_ answer: Answer, _ caller: String) {
                    #expect(answer.status != 401 && answer.status != 403, "\(name) \(caller): \(answer)")
                    #expect(documented.contains(String(answer.status)), "\(name) \(caller): \(answer) is not documented")
                }

                if actions.isEmpty {
                    expectAllowed(try await call(nil), "without a token")
                    let unknown = try await call("wev_nobody")
                    if access["token"] as? String == "ignored" {
                        expectAllowed(unknown, "with an unknown token")
                    } else {
                        expectRefused(unknown, 100701, "with an unknown token")
                    }
                    checked += 1
                    continue
                }
                let any = access["any"] as? Bool ?? false
                let granted = any ? [actions[0]] : actions
                let also = access["also"] as? [String: Any]
                let alsoRight = (also?["actions"] as? [String]).map { "\($0.joined(separator: ",")):\(Self.replyTopic)" }
                let scope = ["topic": "matrix/#", "filter": "matrix/#", "event": "matrix/#", "subscription": "matrix/#"][on] ?? "#"

                expectRefused(try await call(nil), 100701, "without a token")
                expectRefused(try await call("wev_nobody"), 100701, "with an unknown token")
                let lacking = Set(["publish", "read", "request", "manage", "admin"]).subtracting(any ? actions : [granted[0]]).sorted()
                let lackingRights = lacking.isEmpty ? "" : "\(lacking.joined(separator: ",")):#" + (alsoRight.map { " \($0)" } ?? "")
                expectRefused(try await call(try await identity(lackingRights)), 100704, "lacking \(granted[0]) (\(lackingRights))")
                if on != "anywhere" {
                    let elsewhere = "\(granted.joined(separator: ",")):other/#" + (alsoRight.map { " \($0)" } ?? "")
                    expectRefused(try await call(try await identity(elsewhere)), 100704, "holding it on another topic (\(elsewhere))")
                }
                let holding = "\(granted.joined(separator: ",")):\(scope)" + (alsoRight.map { " \($0)" } ?? "")
                expectAllowed(try await call(try await identity(holding)), "holding it (\(holding))")
                checked += 1
            }
        }
        print("access matrix: \(checked) operations, \(tokens.count) identities")
        #expect(checked > 60)
    }

    /// The operation's required parameters (and `groupId`, `timeout` where it takes them), each
    /// with a value that names the fixtures.
    static func values(
        for operation: [String: Any], method: String, parameters: [String: [String: Any]], eventID: String, subscriptionID: String
    ) throws -> [(String, String)] {
        var names: [String] = []
        if method == "get" {
            for raw in operation["parameters"] as? [[String: Any]] ?? [] {
                let parameter = (raw["$ref"] as? String).flatMap { parameters[String($0.split(separator: "/").last ?? "")] } ?? raw
                guard parameter["in"] as? String == "query", let name = parameter["name"] as? String else { continue }
                if parameter["required"] as? Bool == true || ["groupId", "timeout"].contains(name) { names.append(name) }
            }
        } else {
            let body = ((operation["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/x-www-form-urlencoded"] as? [String: Any]
            let schema = body?["schema"] as? [String: Any] ?? [:]
            let properties = Set((schema["properties"] as? [String: Any] ?? [:]).keys)
            names = (schema["required"] as? [String] ?? []) + ["groupId", "timeout"].filter { properties.contains($0) }
        }
        let samples: [String: String] = [
            "topic": topic, "groupId": "1", "eventId": eventID, "content": #"{"reqId":"m1"}"#, "replyTopic": replyTopic,
            "height": "1", "url": "http://127.0.0.1:9/hook", "subscriptionId": subscriptionID, "name": "matrix-victim",
            "rights": "read:x", "from": "0", "note": "x", "timeout": "100",
        ]
        return try names.map { name in
            (name, try #require(samples[name], "no sample value for parameter \(name): add one to AccessMatrixTests"))
        }
    }

    /// Calls `url` (GET with a query, or POST with a form) and reads the status, and the body
    /// unless it is a stream.
    static func call(_ url: String, method: String, values: [(String, String)], token: String?) async throws -> Answer {
        let form = values.map { "\($0.0)=\($0.1.percentEncoded)" }.joined(separator: "&")
        var request = HTTPClientRequest(url: method == "get" && !form.isEmpty ? "\(url)?\(form)" : url)
        if method == "post" {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let status = Int(response.status.code)
        // A stream that started never ends: its head is the answer (the request ends with the response).
        if response.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true {
            return Answer(status: status, code: nil, body: "(a stream)")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView), options: [.fragmentsAllowed])) as? [String: Any]
        return Answer(status: status, code: object?["code"] as? Int, body: String(buffer: body))
    }
}

extension String {
    /// Percent-encoded for a query or form value.
    var percentEncoded: String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return addingPercentEncoding(withAllowedCharacters: allowed) ?? self
    }
}
