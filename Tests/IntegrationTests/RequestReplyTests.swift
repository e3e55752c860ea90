import Foundation
import Testing
import TestSupport

/// A scripted device (`MQTTPeer device`, our MQTT client in a process of its own): subscribed to
/// the command topic on mosquitto, it answers each command on the reply topic in the shape the
/// command came in (003 `header.reqid`, 004 `reqId`, 002 `id`), or answers nothing when silent.
final class ScriptedDevice: Sendable {
    let child: Child

    static var binary: String {
        URL(fileURLWithPath: BrokerProcess.binary).deletingLastPathComponent().appendingPathComponent("MQTTPeer").path
    }

    /// Started and subscribed.
    init(mosquitto: Mosquitto, commands: String, replies: String, silent: Bool = false) async throws {
        let ready = FileManager.default.temporaryDirectory.appendingPathComponent("device-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: ready) }
        child = try Child(Self.binary, ["device", "\(mosquitto.port)", commands, replies, silent ? "silent" : "answer", ready])
        guard await eventually(within: .seconds(20), { FileManager.default.fileExists(atPath: ready) }) else {
            child.kill()
            let result = await child.wait()
            throw BrokerError("the scripted device did not subscribe: \(result.stdout) \(result.stderr)")
        }
    }

    func stop() { child.kill() }
}

/// Percent-encoded for a query string.
func queryValue(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
}

/// rest/request end to end: the command goes out through an outbound binding and a real
/// mosquitto to a device, whose reply comes back through an inbound binding onto the ledger.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct RequestReplyTests {
    /// A broker bridging through a fresh mosquitto, with `commands` bound outbound and `replies`
    /// bound inbound (QoS 1), and a device on them.
    func withRoundTrip(
        silent: Bool = false, _ body: (Mosquitto, BrokerProcess) async throws -> Void
    ) async throws {
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let broker = try BrokerProcess(extraConfig: "mqtt.broker.url=\(mosquitto.url)")
        defer { broker.remove() }
        try await broker.start()
        try await bind(broker)
        let device = try await ScriptedDevice(mosquitto: mosquitto, commands: "devices/commands", replies: "devices/replies", silent: silent)
        defer { device.stop() }
        try await body(mosquitto, broker)
    }

    /// Opens `commands` and `replies` and binds them (MQTT `devices/commands`, `devices/replies`).
    func bind(_ broker: BrokerProcess) async throws {
        let api = broker.baseURL
        for topic in ["commands", "replies"] { _ = try await http("\(api)/rest/open?topic=\(topic)") }
        #expect(try await http("\(api)/master/mqtt_add_outbound_topic?topic=commands&mqttTopic=devices/commands&qos=1").text == "true")
        #expect(try await http("\(api)/master/mqtt_add_inbound_topic?topic=replies&mqttTopic=devices/replies&qos=1").text == "true")
        #expect(await eventually { broker.log().contains("[Bridge] subscribed") })
    }

    static func request(_ api: String, content: String, timeout: Int = 10_000, correlation: String? = nil) async throws -> HTTPReply {
        var url = "\(api)/rest/request?topic=commands&replyTopic=replies&timeout=\(timeout)&content=\(queryValue(content))"
        if let correlation { url += "&correlation=\(correlation)" }
        return try await http(url)
    }

    /// The reply's content as text.
    static func replyContent(_ reply: HTTPReply) -> String? {
        ((reply.object["reply"] as? [String: Any])?["content"] as? String)
            .flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func fiftyRequestsInFlightInTheThreeShapesEachGetTheirOwnReply() async throws {
        try await withRoundTrip { _, broker in
            let replies = try await withThrowingTaskGroup(of: (Int, String, HTTPReply).self) { group in
                for index in 0..<50 {
                    group.addTask {
                        let (content, value): (String, String)
                        switch index % 3 {
                        case 0: (content, value) = (#"{"action":"switch","header":{"reqid":"r\#(index)"}}"#, "r\(index)")
                        case 1: (content, value) = (#"{"d":{"fw":"2.\#(index)"},"reqId":"q\#(index)"}"#, "q\(index)")
                        default: (content, value) = (#"{"id":\#(1000 + index),"cmd":"open"}"#, "\(1000 + index)")
                        }
                        return (index, value, try await Self.request(broker.baseURL, content: content))
                    }
                }
                var all: [(Int, String, HTTPReply)] = []
                for try await reply in group { all.append(reply) }
                return all
            }
            #expect(replies.count == 50)
            let expected: [Int: String] = [0: "header.reqid", 1: "reqId", 2: "id"]
            var replyIDs = Set<String>()
            for (index, value, reply) in replies {
                #expect(reply.status == 200, "\(index): \(reply.text)")
                #expect(reply.object["correlation"] as? String == expected[index % 3])
                #expect(reply.object["correlationValue"] as? String == value, "\(index): \(reply.text)")
                let content = try #require(Self.replyContent(reply), "\(index): \(reply.text)")
                // The device echoed this request's value, in the shape of its command.
                switch index % 3 {
                case 0: #expect(content.contains(#""reqid":"\#(value)""#) && content.contains(#""retcode":0"#), "\(content)")
                case 1: #expect(content.contains(#""reqId":"\#(value)""#) && content.contains(#""rc":0"#), "\(content)")
                default: #expect(content.contains(#""id":\#(value)"#) && content.contains(#""result":"done""#), "\(content)")
                }
                if let id = (reply.object["reply"] as? [String: Any])?["eventId"] as? String { replyIDs.insert(id) }
            }
            #expect(replyIDs.count == 50, "fifty distinct reply events")
            // Both halves are on the ledger: 50 commands, 50 replies.
            #expect(try storedContents(broker, topic: "commands").count == 50)
            #expect(try storedContents(broker, topic: "replies").count == 50)
        }
    }

    @Test func aDeviceThatNeverAnswersEndsTheCallAtTheTimeoutWithTheCommandSentAndStored() async throws {
        try await withRoundTrip(silent: true) { mosquitto, broker in
            let watcher = try MosquittoSubscriber(port: mosquitto.port, topic: "devices/commands")
            defer { watcher.stop() }
            try await Task.sleep(for: .milliseconds(300))
            let command = #"{"action":"reboot","header":{"reqid":"silent-1"}}"#
            let started = ContinuousClock.now
            let reply = try await Self.request(broker.baseURL, content: command, timeout: 1500)
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(1500), "answered after \(elapsed)")
            #expect(elapsed < .milliseconds(6000), "answered after \(elapsed)")
            #expect(reply.status == 504 && reply.object["code"] as? Int == 200600, "\(reply.text)")
            let id = try #require(reply.object["requestEventId"] as? String)
            let stored = try await http("\(broker.baseURL)/rest/getEvent?eventId=\(id)").object
            #expect((stored["content"] as? String).flatMap { Data(base64Encoded: $0) } == Data(command.utf8))
            // It went out to the device all the same.
            #expect(await watcher.waitFor(count: 1) == [command])
        }
    }

    /// The shared ledger's PostgreSQL primary is lost (kill -9) while a rest/request waits for its
    /// reply, the device answers while no server takes writes, and the synchronous standby is
    /// promoted a second later: the bridge stores the reply once the store has moved, and the
    /// waiting call gets it; a request made after the failover is answered as usual.
    @Test func aRequestWaitingForItsReplyGetsItAcrossAPostgreSQLFailover() async throws {
        try await PostgresServer.withReplicatedPair(synchronous: true) { primary, standby in
            let mosquitto = try await Mosquitto.start()
            defer { Task { await mosquitto.stop() } }
            let schema = uniqueSchema("request")
            let broker = try BrokerProcess(
                extraConfig: """
                    mqtt.broker.url=\(mosquitto.url)
                    ledger.store=postgresql
                    ledger.postgresql.url=\(PostgresServer.url([primary, standby]))
                    ledger.postgresql.schema=\(schema)
                    ledger.postgresql.timeout-ms=10000
                    ledger.signing-key=\(FileManager.default.temporaryDirectory.path)/weevent-keys/\(schema).key
                    """)
            defer { broker.remove() }
            try await broker.start()
            try await bind(broker)
            // The test is the device: it sees the command on mosquitto and answers it itself.
            let commands = try MosquittoSubscriber(port: mosquitto.port, topic: "devices/commands")
            defer { commands.stop() }
            #expect(try await commands.waitUntilSubscribed(mosquitto, topic: "devices/commands"))

            let command = #"{"action":"open","reqId":"across"}"#
            let waiting = Task { try await Self.request(broker.baseURL, content: command, timeout: 60_000) }
            #expect(await commands.waitFor(count: 1, timeout: .seconds(30)) == [command])
            primary.kill()
            try await mosquitto.publish(topic: "devices/replies", message: #"{"rc":0,"reqId":"across"}"#)
            try await Task.sleep(for: .seconds(1))
            try await standby.promote()
            let reply = try await waiting.value
            #expect(reply.status == 200, "\(reply.text)\n\(broker.log().suffix(3000))")
            #expect(Self.replyContent(reply) == #"{"rc":0,"reqId":"across"}"#, "\(reply.text)")
            let status = try await http("\(broker.baseURL)/admin/status").object
            let store = try #require(status["postgresql"] as? [String: Any], "\(status)")
            #expect(store["primary"] as? String == "127.0.0.1:\(standby.port)" && store["switches"] as? Int == 1, "\(store)")

            // After the failover: a command out, its reply back, on the new primary.
            let again = Task { try await Self.request(broker.baseURL, content: #"{"action":"close","reqId":"after"}"#, timeout: 30_000) }
            #expect(await commands.waitFor(count: 2, timeout: .seconds(30)).count == 2)
            try await mosquitto.publish(topic: "devices/replies", message: #"{"rc":0,"reqId":"after"}"#)
            let second = try await again.value
            #expect(second.status == 200 && Self.replyContent(second) == #"{"rc":0,"reqId":"after"}"#, "\(second.text)")
            // Both commands and both replies on the ledger once each.
            let page = try await http("\(broker.baseURL)/rest/events?topic=replies&offset=OFFSET_FIRST&limit=10").object
            #expect((page["events"] as? [[String: Any]])?.count == 2, "\(page)")
        }
    }

    @Test func aReplyNobodyAskedForIsStoredAndMatchedToNothing() async throws {
        try await withRoundTrip(silent: true) { mosquitto, broker in
            let waiting = Task { try await Self.request(broker.baseURL, content: #"{"reqId":"asked"}"#, timeout: 20_000) }
            #expect(try await eventually { try storedContents(broker, topic: "commands").count == 1 })
            try await mosquitto.publish(topic: "devices/replies", message: #"{"rc":0,"reqId":"nobody-asked"}"#)
            #expect(try await eventually { try storedContents(broker, topic: "replies").count == 1 })
            try await mosquitto.publish(topic: "devices/replies", message: #"{"rc":0,"reqId":"asked"}"#)
            let reply = try await waiting.value
            #expect(reply.status == 200, "\(reply.text)")
            #expect(Self.replyContent(reply) == #"{"rc":0,"reqId":"asked"}"#)
            #expect(try storedContents(broker, topic: "replies") == [#"{"rc":0,"reqId":"nobody-asked"}"#, #"{"rc":0,"reqId":"asked"}"#])
        }
    }
}
