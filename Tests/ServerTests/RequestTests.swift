import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing
import WeEvent
@testable import Server

/// rest/request on the router, with replies stored straight into the ledger (as the inbound
/// bridge stores them). The round trip through a real mosquitto and a device is in
/// IntegrationTests/RequestReplyTests.
@Suite(.timeLimit(.minutes(2))) struct RequestTests {
    static func open(_ client: any TestClientProtocol, _ topics: String...) async throws {
        for topic in topics { _ = try await client.call("/weevent/rest/open?topic=\(topic)") }
    }

    static func events(_ ledgers: LedgerSet, _ topic: String) async throws -> [Event] {
        try await ledgers.ledger("1").events(after: 0, through: nil, matching: try TopicFilter.parse(topic), limit: 100).events.map(\.event)
    }

    static func reply(_ content: String, to ledgers: LedgerSet, on topic: String = "replies") async throws {
        _ = try await ledgers.ledger("1").publish(NewEvent(topic: topic, content: Array(content.utf8), extensions: [:]))
    }

    /// A device: as soon as the first command is stored on "commands", `answer` runs with it
    /// (while the call waits, or before it started to: the call finds either). Await the task
    /// after the call, so what the device checked counts.
    static func device(_ ledgers: LedgerSet, answer: @escaping @Sendable (Event) async throws -> Void) throws -> Task<Void, any Error> {
        let tail = try ledgers.ledger("1").tail(after: 0, matching: try TopicFilter.parse("commands"))
        return Task {
            defer { tail.close() }
            while let batch = try await tail.next() {
                if let command = batch.first {
                    try await answer(command.event)
                    return
                }
            }
        }
    }

    @Test func eachBadParameterIsNamedAndNoCommandIsSent() async throws {
        try await withTestBroker { client, ledgers in
            try await Self.open(client, "commands", "replies")
            let base = "/weevent/rest/request?topic=commands&content=%7B%22reqId%22%3A%221%22%7D"
            let cases: [(String, Int, Int, String)] = [
                (base, 100103, 400, "replyTopic"),
                (base + "&replyTopic=a%2Bb", 100106, 400, "replyTopic"),
                (base + "&replyTopic=nosuch", 100101, 404, "replyTopic 'nosuch'"),
                (base + "&replyTopic=replies&timeout=0", 100801, 400, "timeout"),
                (base + "&replyTopic=replies&timeout=-5", 100801, 400, "timeout"),
                (base + "&replyTopic=replies&timeout=abc", 100801, 400, "timeout"),
                (base + "&replyTopic=replies&timeout=60001", 100801, 400, "60000"),
                (base + "&replyTopic=replies&timeout=99999999999999999999999", 100801, 400, "timeout"),
                (base + "&replyTopic=replies&correlation=a..b", 100800, 400, "correlation"),
                ("/weevent/rest/request?topic=commands&replyTopic=replies&content=reboot", 100800, 400, "JSON object"),
                ("/weevent/rest/request?topic=commands&replyTopic=replies&content=%7B%22reqId%22%3Atrue%7D&correlation=reqId", 100800, 400, "reqId"),
                ("/weevent/rest/request?topic=commands&replyTopic=replies", 100200, 400, "blank"),
                ("/weevent/rest/request?topic=nosuch&replyTopic=replies&content=%7B%7D", 100101, 404, "topic"),
            ]
            for (uri, code, status, named) in cases {
                let reply = try await client.call(uri)
                #expect(reply.code == code && reply.status == status, "\(uri) -> \(reply.status) \(reply.body)")
                #expect((reply.object["message"] as? String)?.contains(named) == true, "\(uri) -> \(reply.body)")
            }
            #expect(try await Self.events(ledgers, "commands").isEmpty)
        }
    }

    /// The "device" answers first for someone else, then this command. (A reply stored before the
    /// call starts waiting is found too: ReplySearchTests.)
    @Test func theReplyWithTheCommandsCorrelationValueIsTheAnswer() async throws {
        try await withTestBroker { client, ledgers in
            try await Self.open(client, "commands", "replies")
            let device = try Self.device(ledgers) { command in
                let value = try #require(CorrelationPath.defaults[0].value(in: command.content))
                try await Self.reply(#"{"retcode":1,"header":{"reqid":"someone-else"}}"#, to: ledgers)
                try await Self.reply(#"{"retcode":0,"header":{"reqid":"\#(value)"},"data":"on"}"#, to: ledgers)
            }
            let content = #"{"action":"switch","header":{"reqid":"129393"}}"#
            let reply = try await client.call(
                "/weevent/rest/request", method: .post,
                form: "topic=commands&replyTopic=replies&timeout=5000&weevent-origin=test&content=" + content.addingPercentEncoding(
                    withAllowedCharacters: .alphanumerics)!
            )
            #expect(reply.status == 200, "\(reply.body)")
            #expect(reply.object["status"] as? String == "SUCCESS")
            #expect(reply.object["correlation"] as? String == "header.reqid")
            #expect(reply.object["correlationValue"] as? String == "129393")
            let answer = try #require(reply.object["reply"] as? [String: Any])
            #expect(answer["topic"] as? String == "replies")
            let answerContent = try #require((answer["content"] as? String).flatMap { Data(base64Encoded: $0) })
            #expect(String(decoding: answerContent, as: UTF8.self) == #"{"retcode":0,"header":{"reqid":"129393"},"data":"on"}"#)
            // The command is on the ledger as sent, with its extensions.
            let commands = try await Self.events(ledgers, "commands")
            #expect(commands.count == 1)
            #expect(commands.first?.id.description == reply.object["requestEventId"] as? String)
            #expect(commands.first.map { String(decoding: $0.content, as: UTF8.self) } == content)
            #expect(commands.first?.extensions["weevent-origin"] == "test")
            try await device.value
        }
    }

    /// A command's weevent-expiry ends the wait before the timeout (410, 100802, naming the
    /// command, which stays on the ledger); a command expired already is not published at all.
    @Test func aCommandThatExpiresEndsTheWaitAndAnExpiredOneIsNotSent() async throws {
        try await withTestBroker { client, ledgers in
            try await Self.open(client, "commands", "replies")
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let started = ContinuousClock.now
            let reply = try await client.call(
                "/weevent/rest/request?topic=commands&replyTopic=replies&timeout=60000&content=%7B%22reqId%22%3A%22e1%22%7D&weevent-expiry=\(now + 5000)")
            let elapsed = ContinuousClock.now - started
            #expect(reply.status == 410 && reply.code == 100802, "\(reply.body)")
            #expect(elapsed >= .milliseconds(500) && elapsed < .seconds(55), "answered at its expiry, not at the timeout (60 s): \(elapsed)")
            let id = try #require(reply.object["requestEventId"] as? String)
            #expect(try await client.call("/weevent/rest/getEvent?eventId=\(id)").status == 200)

            let expired = try await client.call(
                "/weevent/rest/request?topic=commands&replyTopic=replies&timeout=10000&content=%7B%22reqId%22%3A%22e2%22%7D&weevent-expiry=\(now - 1)")
            #expect(expired.status == 410 && expired.code == 100802 && expired.object["requestEventId"] == nil, "\(expired.body)")
            #expect(try await Self.events(ledgers, "commands").count == 1, "the expired command was not published")
            for bad in ["soon", "-5", "1e12", "99999999999999999"] {
                try await client.expectError("/weevent/rest/publish?topic=commands&content=x&weevent-expiry=\(bad)", code: 100207)
            }
            #expect(try await client.call("/weevent/rest/publish?topic=commands&content=x&weevent-expiry=\(now - 1)").status == 200)
        }
    }

    @Test func withoutAReplyTheCallEndsAtTheTimeoutNotBeforeAndTheCommandStays() async throws {
        try await withTestBroker { client, ledgers in
            try await Self.open(client, "commands", "replies")
            // A reply stored before the command is not an answer to it.
            try await Self.reply(#"{"reqId":"r1"}"#, to: ledgers)
            let started = ContinuousClock.now
            let reply = try await client.call("/weevent/rest/request?topic=commands&replyTopic=replies&timeout=400&content=%7B%22reqId%22%3A%22r1%22%7D")
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(400), "answered after \(elapsed)")
            #expect(reply.status == 504 && reply.code == 200600, "\(reply.body)")
            let id = try #require(reply.object["requestEventId"] as? String)
            #expect((reply.object["message"] as? String)?.contains(id) == true)
            #expect((reply.object["message"] as? String)?.contains("reqId=r1") == true)
            let stored = try await client.call("/weevent/rest/getEvent?eventId=\(id)")
            #expect(stored.status == 200 && stored.object["topic"] as? String == "commands")
        }
    }

    @Test func aCommandWithoutACorrelationValueGetsAGeneratedOne() async throws {
        try await withTestBroker { client, ledgers in
            try await Self.open(client, "commands", "replies")
            let device = try Self.device(ledgers) { command in
                let value = try #require(CorrelationPath.generated.value(in: command.content))
                try await Self.reply(#"{"rc":0,"reqId":"\#(value)"}"#, to: ledgers)
            }
            let reply = try await client.call("/weevent/rest/request?topic=commands&replyTopic=replies&content=%7B%22d%22%3A%7B%22fw%22%3A2%7D%7D")
            try await device.value
            #expect(reply.status == 200, "\(reply.body)")
            let value = try #require(reply.object["correlationValue"] as? String)
            #expect(reply.object["correlation"] as? String == "reqId")
            #expect(value.count == 36, "a UUID: \(value)")
            let stored = try #require(try await Self.events(ledgers, "commands").first)
            #expect(String(decoding: stored.content, as: UTF8.self) == #"{"reqId":"\#(value)","d":{"fw":2}}"#)
        }
    }

    @Test func pastTheLimitOfWaitingRequestsACallIsRefused() async throws {
        try await withTestBroker(configure: { $0.request.maxCount = 1 }) { client, ledgers in
            try await Self.open(client, "commands", "replies")
            let first = Task {
                try await client.call("/weevent/rest/request?topic=commands&replyTopic=replies&timeout=30000&content=%7B%22id%22%3A1%7D")
            }
            // The place is taken before the command is stored: once it is, the first one waits.
            let deadline = ContinuousClock.now + .seconds(10)
            while try await Self.events(ledgers, "commands").isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let second = try await client.call("/weevent/rest/request?topic=commands&replyTopic=replies&timeout=100&content=%7B%22id%22%3A2%7D")
            #expect(second.status == 503 && second.code == 200601, "\(second.body)")
            try await Self.reply(#"{"id":1,"result":"done"}"#, to: ledgers)
            let answered = try await first.value
            #expect(answered.status == 200, "\(answered.body)")
            // The place is free again.
            try await Self.reply(#"{"id":3}"#, to: ledgers)
            let third = try await client.call("/weevent/rest/request?topic=commands&replyTopic=replies&timeout=100&content=%7B%22id%22%3A3%7D")
            #expect(third.status == 504, "the place was given back: \(third.body)")
        }
    }

    /// When the reply topic is bound inbound (the device answers through MQTT), an event anyone
    /// published over REST with the right correlation value is not the device's reply: only one
    /// the bridge stored (it carries weevent-mqtt-topic, which no client can set) answers. With
    /// rest.request.bridged-replies-only=false, any event does, as without a binding.
    @Test(arguments: [true, false]) func aReplyOnABoundReplyTopicMustComeFromTheBridge(_ bridgedOnly: Bool) async throws {
        try await withTestBroker(configure: { $0.request.bridgedRepliesOnly = bridgedOnly }, bridge: true) { client, ledgers in
            try await Self.open(client, "commands", "replies")
            #expect(try await client.call("/weevent/master/mqtt_add_inbound_topic?topic=replies&mqttTopic=devices/reply").body == "true")
            let device = try Self.device(ledgers) { command in
                let value = try #require(CorrelationPath.defaults[1].value(in: command.content))
                // Someone on the REST side, who read the command on its topic, answers first...
                try await Self.reply(#"{"reqId":"\#(value)","state":"forged"}"#, to: ledgers)
                // ...then the device, through the bridge.
                _ = try await ledgers.ledger("1").publish(
                    NewEvent(
                        topic: "replies", content: Array(#"{"reqId":"\#(value)","state":"from the device"}"#.utf8),
                        extensions: [Validation.mqttTopicExtension: "devices/reply"]
                    ))
            }
            // A client cannot pose as the bridge.
            try await client.expectError("/weevent/rest/publish?topic=replies&content=x&weevent-mqtt-topic=devices/reply", code: 100206)
            let reply = try await client.call("/weevent/rest/request?topic=commands&replyTopic=replies&timeout=5000&content=%7B%22reqId%22%3A%2242%22%7D")
            try await device.value
            #expect(reply.status == 200, "\(reply.body)")
            let content = ((reply.object["reply"] as? [String: Any])?["content"] as? String).flatMap { Data(base64Encoded: $0) }
            let state = content.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }?["state"] as? String
            #expect(state == (bridgedOnly ? "from the device" : "forged"))
        }
    }
}
