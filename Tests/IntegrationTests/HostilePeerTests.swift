import Foundation
import Testing
import TestSupport

/// What an outsider can do to a broker on the shared ledger, tried as an attacker would.
@Suite(.serialized, .timeLimit(.minutes(4))) struct HostilePeerTests {
    /// Any role that may connect to the database may NOTIFY on the commit channel (NOTIFY needs
    /// no privilege). A role without a single grant sends a forged command in the clear format
    /// the broker once believed, a head no store reaches, and a notice sealed with a key of its
    /// own. No device (through the outbound bridge and mosquitto), no stream and no callback sees
    /// anything, the broker stays idle, and the next real publish reaches all three.
    @Test func forgedCommitNotificationsReachNoDeviceStreamOrCallback() async throws {
        let server = try await PostgresServer.shared.value
        try await ForgedNotice.createIntruder(on: server)
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let schema = uniqueSchema("hostile")
        let broker = try BrokerProcess(extraConfig: SharedLedgerTests.sharedLedger(server, schema: schema) + "\nmqtt.broker.url=\(mosquitto.url)\n")
        defer { broker.remove() }
        try await broker.start()
        let api = broker.baseURL
        let topic = "door.cmd"

        // A device behind mosquitto, an SSE stream and a callback, all following the topic.
        #expect(try await http("\(api)/rest/open?topic=\(topic)").text == "true")
        #expect(try await http("\(api)/master/mqtt_add_outbound_topic?topic=\(topic)&qos=1").text == "true")
        let device = try MosquittoSubscriber(port: mosquitto.port, topic: topic)
        defer { device.stop() }
        #expect(try await device.waitUntilSubscribed(mosquitto, topic: topic))
        let streamFile = broker.directory + "/stream.txt"
        _ = FileManager.default.createFile(atPath: streamFile, contents: nil)
        let curl = try Spawned("/usr/bin/env", ["curl", "-sN", "-o", streamFile, "\(api)/rest/stream?topic=\(topic)&offset=OFFSET_LAST"])
        defer { curl.signal(SIGKILL); curl.waitForExit() }
        func streamed() -> String { (try? String(contentsOfFile: streamFile, encoding: .utf8)) ?? "" }
        #expect(await eventually(within: .seconds(10)) { streamed().contains("weevent stream") })
        let receiver = try CallbackReceiver(directory: broker.directory)
        defer { receiver.stop() }
        try await receiver.start()
        let url = receiver.url.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        #expect(try await http("\(api)/rest/subscribe?topic=\(topic)&url=\(url)").status == 200)

        // A first real command reaches all three.
        let first = try #require(try await http("\(api)/rest/publish?topic=\(topic)&content=lock").object["eventId"] as? String)
        #expect(await device.waitFor(count: 1) == ["lock"])
        #expect(await eventually(within: .seconds(10)) { streamed().contains("id: \(first)") })
        #expect(try await receiver.waitForDistinct(1) == [first])

        // The attack: the next position's event, an absurd head, a wrongly sealed notice.
        let cpuBefore = try #require(broker.cpuSeconds())
        let forged = [
            ForgedNotice.clearNotice(schema: schema, position: 2, topic: topic, content: #"{"action":"unlock"}"#),
            ForgedNotice.absurdHead(schema: schema),
            ForgedNotice.wronglySealed(schema: schema),
        ]
        for payload in forged { try await ForgedNotice.send(payload, on: server) }
        try await Task.sleep(for: .seconds(3))
        let cpu = try #require(broker.cpuSeconds()) - cpuBefore
        #expect(device.lines == ["lock"], "a forged command reached the device")
        #expect(!streamed().contains("unlock") && !streamed().contains("eyJhY3Rpb24iOiJ1bmxvY2sifQ"), "a forged event reached the stream")
        #expect(receiver.received().count == 1, "a forged event reached the callback: \(receiver.received())")
        // Chasing a head the store never reaches took 1.6 cores; an idle broker takes almost nothing.
        #expect(cpu < 1.0, "the broker used \(cpu) s of CPU in 3 s after the forged notices")
        #expect(broker.log().contains("ignored a NOTIFY on the commit channel"))

        // The next real command reaches everyone, as the next event after the first.
        let next = try await http("\(api)/rest/publish?topic=\(topic)&content=unlock-for-real").object
        let nextID = try #require(next["eventId"] as? String)
        #expect(nextID.split(separator: "-")[1] == "2")
        #expect(await device.waitFor(count: 2) == ["lock", "unlock-for-real"])
        #expect(await eventually(within: .seconds(10)) { streamed().contains("id: \(nextID)") })
        #expect(try await receiver.waitForDistinct(2) == [first, nextID])
    }

    /// A web page the operator opens makes the browser call the broker: a form posting a command,
    /// a fetch from a page whose name now points at the broker (DNS rebinding). Both are refused;
    /// curl, as in the source documents' walk-through, is not affected, nor are the broker's own pages.
    @Test func crossSiteCallsAndRebindingAreRefusedCurlIsNot() async throws {
        let broker = try BrokerProcess(extraConfig: "server.allowed-hosts=localhost,127.0.0.1")
        defer { broker.remove() }
        try await broker.start()
        let base = "http://127.0.0.1:\(broker.port)/weevent"
        func curl(_ arguments: [String]) async throws -> (status: Int, body: String) {
            let result = try await run("/usr/bin/curl", ["-s", "-w", "\n%{http_code}"] + arguments)
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
        }
        #expect(try await curl(["\(base)/rest/open?topic=door"]).body == "true")
        // A form on another site posting a command.
        let form = try await curl([
            "-H", "Origin: http://evil.example", "-H", "Sec-Fetch-Site: cross-site",
            "--data", "topic=door&content=unlock", "\(base)/rest/publish",
        ])
        #expect(form.status == 403 && form.body.contains("100702"), "\(form)")
        let image = try await curl(["-H", "Sec-Fetch-Site: cross-site", "\(base)/rest/close?topic=door"])
        #expect(image.status == 403 && image.body.contains("100702"), "\(image)")
        // A rebinding page: same-origin to itself, under its own name.
        let rebound = try await curl([
            "-H", "Host: evil.example:\(broker.port)", "-H", "Origin: http://evil.example:\(broker.port)",
            "-H", "Sec-Fetch-Site: same-origin", "--data", "topic=door&content=unlock", "\(base)/rest/publish",
        ])
        #expect(rebound.status == 403 && rebound.body.contains("100703"), "\(rebound)")
        #expect(try await curl(["\(base)/rest/state?topic=door"]).body.contains("\"sequenceNumber\":0"), "nothing was published")
        // The broker's own page, and curl.
        let own = try await curl([
            "-H", "Origin: http://127.0.0.1:\(broker.port)", "-H", "Sec-Fetch-Site: same-origin",
            "--data", "topic=door&content=lock", "\(base)/rest/publish",
        ])
        #expect(own.status == 200, "\(own)")
        #expect(try await curl(["\(base)/rest/publish?topic=door&content=hello"]).status == 200)
        #expect(try await curl(["-H", "Sec-Fetch-Site: cross-site", "\(base)/console/"]).status == 200)
    }

    /// One client opening stream after stream, or connection after connection, takes its own
    /// places and no more: another client still gets in, and the refusals are notices, a line
    /// every ten seconds, not an error per refusal.
    @Test func oneClientCannotTakeEveryPlace() async throws {
        let broker = try BrokerProcess(
            extraConfig: """
                rest.stream.max-count=20
                rest.stream.max-per-client=3
                server.max-connections-per-client=6
                """)
        defer { broker.remove() }
        try await broker.start()
        #expect(try await http("\(broker.baseURL)/rest/open?topic=s").text == "true")
        let path = "/weevent/rest/stream?topic=s"
        var streams: [RawConnection] = []
        defer { for stream in streams { stream.close() } }
        for _ in 0..<3 {
            let stream = try RawConnection(port: broker.port, get: path)
            #expect(await stream.read(until: "weevent stream").found)
            streams.append(stream)
        }
        for _ in 0..<10 {
            var answer = ""
            // A refused connection the server has not closed yet still counts against
            // server.max-connections-per-client (200004): on a busy machine, ask again a moment later.
            for _ in 0..<20 {
                let refused = try RawConnection(port: broker.port, get: path)
                answer = await refused.read(until: "}").text
                refused.close()
                guard answer.contains("\"code\":200004") else { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(answer.hasPrefix("HTTP/1.1 503"), "\(answer)")
            #expect(answer.contains("\"code\":200003") && answer.contains("rest.stream.max-per-client"), "\(answer)")
        }
        // Another address of this machine is another client.
        if let other = nonLoopbackIPv4() {
            let stream = try RawConnection(host: other, port: broker.port, request: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(await stream.read(until: "weevent stream").found, "a stream from \(other)")
            streams.append(stream)
        }
        // Connections: the streams hold three of the six (and this test's own HTTP client may keep
        // one alive); kept-alive connections fill the rest, then the next is refused at once, and
        // a place given back is a place again.
        let health = "GET /weevent/admin/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        var kept: [RawConnection] = []
        defer { for connection in kept { connection.close() } }
        var refusal = ""
        for _ in 0..<10 {
            let connection = try RawConnection(port: broker.port, request: health)
            let answer = await connection.read(until: "}").text
            if answer.hasPrefix("HTTP/1.1 200") {
                kept.append(connection)
            } else {
                connection.close()
                refusal = answer
                break
            }
        }
        #expect((1...3).contains(kept.count), "\(kept.count) connections kept besides the streams")
        #expect(refusal.hasPrefix("HTTP/1.1 503") && refusal.contains("\"code\":200004"), "\(refusal)")
        kept.removeLast().close()
        let placeBack = await eventually(within: .seconds(10)) {
            guard let connection = try? RawConnection(port: broker.port, request: health) else { return false }
            defer { connection.close() }
            return await connection.read(until: "}").text.hasPrefix("HTTP/1.1 200")
        }
        #expect(placeBack, "a place given back")
        let log = broker.log()
        #expect(log.split(separator: "\n").filter { $0.contains(" error ") && $0.contains("too many") }.isEmpty, "refusals logged as errors")
        let refusalLines = log.split(separator: "\n").filter { $0.contains("refused a call: no place left") }
        #expect(refusalLines.count >= 1 && refusalLines.count <= 2, "\(refusalLines.count) log lines for 10 refusals")
        #expect(refusalLines.allSatisfy { $0.contains("notice") })
    }

    /// Everything the broker writes under ledger.path (ledgers with their WAL files, the
    /// subscriptions, the bindings, the rejected-message log) is readable by its user only.
    @Test func theBrokersFilesAreItsUsersAlone() async throws {
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let broker = try BrokerProcess(extraConfig: "mqtt.broker.url=\(mosquitto.url)\nledger.groups=1,2")
        defer { broker.remove() }
        try await broker.start()
        #expect(try await http("\(broker.baseURL)/rest/open?topic=t").text == "true")
        #expect(try await http("\(broker.baseURL)/rest/publish?topic=t&content=x").status == 200)
        #expect(try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=t").text == "true")
        let url = "http://192.0.2.1/hook".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        _ = try await http("\(broker.baseURL)/rest/subscribe?topic=t&url=\(url)")
        let root = broker.directory + "/data"
        var checked: [String] = []
        var open: [String] = []
        let walker = FileManager.default.enumerator(atPath: root)
        while let name = walker?.nextObject() as? String {
            let path = root + "/" + name
            var info = stat()
            guard stat(path, &info) == 0 else { continue }
            checked.append(name)
            if info.st_mode & 0o077 != 0 { open.append("\(name) \(String(info.st_mode & 0o777, radix: 8))") }
        }
        var rootInfo = stat()
        #expect(stat(root, &rootInfo) == 0 && rootInfo.st_mode & 0o077 == 0, "the ledger directory")
        for expected in ["group-1", "bindings.json", "mqtt-rejected.sqlite", "subscriptions.sqlite"] {
            #expect(checked.contains { $0.hasPrefix(expected) }, "\(expected) not found in \(checked)")
        }
        #expect(checked.contains { $0.hasSuffix("-wal") }, "\(checked)")
        #expect(open.isEmpty, "readable by others: \(open)")
    }

    /// A callback URL's user, password and query (where receivers keep their tokens) never
    /// reach the log, not even in the failures of its deliveries.
    @Test func callbackCredentialsStayOutOfTheLog() async throws {
        let broker = try BrokerProcess(extraConfig: "subscription.callback.timeout-ms=1000")
        defer { broker.remove() }
        try await broker.start()
        #expect(try await http("\(broker.baseURL)/rest/open?topic=c").text == "true")
        let url = "http://alice:s3cret-pass@127.0.0.1:9/hook?token=t0ken-value#frag"
        let subscribe = try await http("\(broker.baseURL)/rest/subscribe?topic=c&url=\(url.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
        #expect(subscribe.status == 200, "\(subscribe.text)")
        #expect(try await http("\(broker.baseURL)/rest/publish?topic=c&content=x").status == 200)
        // Nothing listens on port 9: the delivery fails, and the failure is logged.
        #expect(await eventually(within: .seconds(20)) { broker.log().contains("callback failed") })
        let log = broker.log()
        print("callback failure logged as: \(log.split(separator: "\n").first { $0.contains("callback failed") } ?? "")")
        #expect(!log.contains("s3cret-pass") && !log.contains("t0ken-value") && !log.contains("alice"), "\(log.suffix(3000))")
    }
}
