import Foundation
import TestSupport
import Testing

/// What a client that never finishes its request can do to the broker: nothing lasting.
@Suite(.timeLimit(.minutes(2)))
struct ShutdownTests {
    /// Connects and sends a POST whose body never comes (100,000 bytes announced, a few sent);
    /// the child prints "closed after S s" when the broker closes the connection, or "open".
    func stalledClient(port: Int, holdSeconds: Int) throws -> Child {
        let script = """
            import socket, time
            s = socket.create_connection(("127.0.0.1", \(port)))
            s.sendall(b"POST /weevent/rest/publish HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/x-www-form-urlencoded\\r\\nContent-Length: 100000\\r\\n\\r\\ntopic=a&content=")
            s.settimeout(\(holdSeconds))
            start = time.monotonic()
            try:
                data = s.recv(1)
                print("closed after %.1f s" % (time.monotonic() - start), flush=True)
            except socket.timeout:
                print("open", flush=True)
            """
        return try Child("/usr/bin/env", ["python3", "-c", script])
    }

    /// SIGTERM waits for requests in progress, but no longer than server.shutdown-timeout-ms:
    /// a client stalling its body used to keep the broker running for as long as it liked.
    @Test func sigtermEndsTheBrokerWithinTheShutdownTimeoutDespiteAStalledClient() async throws {
        let broker = try BrokerProcess(extraConfig: "server.idle-timeout-ms=600000\nserver.shutdown-timeout-ms=1000")
        defer { broker.remove() }
        try await broker.start()
        let client = try stalledClient(port: broker.port, holdSeconds: 60)
        defer { client.kill() }
        try await Task.sleep(for: .milliseconds(500))
        let started = ContinuousClock.now
        broker.kill(signal: SIGTERM)
        let status = try await withDeadline(.seconds(30), "the broker's exit after SIGTERM") { await broker.waitForExit() }
        let elapsed = ContinuousClock.now - started
        print("SIGTERM with a stalled client: exited with \(status) after \(elapsed)")
        #expect(status == 0, "\(broker.log().suffix(2000))")
        #expect(elapsed < .seconds(10))
    }

    /// A connection that stops sending in the middle of a request is closed after
    /// server.idle-timeout-ms, so slow clients cannot hold connections (and memory) open.
    @Test func aStalledRequestIsClosedAfterTheIdleTimeout() async throws {
        let broker = try BrokerProcess(extraConfig: "server.idle-timeout-ms=500")
        defer { broker.remove() }
        try await broker.start()
        let result = await try stalledClient(port: broker.port, holdSeconds: 20).wait()
        print("stalled request with a 500 ms idle timeout: \(result.stdout)")
        #expect(result.stdout.hasPrefix("closed after"), "\(result.stdout) \(result.stderr)")
        // The broker still serves everyone else.
        #expect(try await http("\(broker.baseURL)/admin/health").status == 200)
    }

    /// A rest/request waiting for its reply at SIGTERM answers at once: 503 with the command's
    /// id, so its caller knows the command went out and does not send it again. It used to get
    /// nothing, after the whole shutdown timeout.
    @Test func aWaitingRequestAnswersAtShutdownWithItsCommandsId() async throws {
        let broker = try BrokerProcess(extraConfig: "server.shutdown-timeout-ms=20000")
        defer { broker.remove() }
        try await broker.start()
        for topic in ["cmd", "reply"] { #expect(try await http("\(broker.baseURL)/rest/open?topic=\(topic)").text == "true") }
        let call = try Child(
            "/usr/bin/curl",
            [
                "-s", "-w", "\n%{http_code} %{time_total}",
                "\(broker.baseURL)/rest/request?topic=cmd&replyTopic=reply&timeout=60000&content=%7B%22reqId%22%3A%2242%22%7D",
            ])
        // The command is on the ledger: the call waits for its reply.
        #expect(
            await eventually(within: .seconds(20)) {
                ((try? await http("\(broker.baseURL)/rest/state?topic=cmd"))?.object["sequenceNumber"] as? Int) == 1
            })
        try await Task.sleep(for: .milliseconds(300))
        let signalled = ContinuousClock.now
        broker.kill(signal: SIGTERM)
        let result = await call.wait()
        let answeredAfter = ContinuousClock.now - signalled
        let lines = result.stdout.split(separator: "\n")
        let body = lines.dropLast().joined(separator: "\n")
        print("rest/request at SIGTERM: answered after \(answeredAfter): \(result.stdout)")
        #expect(lines.last?.hasPrefix("503 ") == true, "\(result.stdout)")
        #expect(body.contains("\"code\":200002"), "\(body)")
        #expect(body.contains("\"requestEventId\":\""), "\(body)")
        #expect(answeredAfter < .seconds(10), "answered only after \(answeredAfter)")
        #expect(await broker.waitForExit() == 0)
    }

    /// Sends `chunks` to the broker, waiting `pause` seconds before each, and prints what came
    /// back (status line and body) with the seconds from the first byte to the connection's close.
    func rawClient(port: Int, chunks: [String], pause: Double) throws -> Child {
        let list = "[" + chunks.map { "b'\($0)'" }.joined(separator: ", ") + "]"
        let script = """
            import socket, time
            s = socket.create_connection(("127.0.0.1", \(port)))
            start = time.monotonic()
            s.settimeout(0.01)
            data = b""
            closed = False
            for chunk in \(list):
                deadline = time.monotonic() + \(pause)
                while time.monotonic() < deadline and not closed:
                    try:
                        got = s.recv(65536)
                        if not got: closed = True
                        data += got
                    except socket.timeout:
                        pass
                    except OSError:
                        closed = True
                if closed: break
                try:
                    s.sendall(chunk)
                except OSError:
                    break
            s.settimeout(30)
            while not closed:
                try:
                    got = s.recv(65536)
                except OSError:
                    break
                if not got: break
                data += got
            text = data.decode("utf-8", "replace")
            head, _, body = text.partition("\\r\\n\\r\\n")
            print(head.split("\\r\\n")[0] if head else "(nothing)")
            print(body)
            print("after %.1f s" % (time.monotonic() - start))
            """
        return try Child("/usr/bin/env", ["python3", "-c", script])
    }

    /// A request trickled in (a byte of body every second, its headers a few bytes at a time)
    /// is answered 408 with a WeEvent body once server.read-timeout-ms passed since its first
    /// byte, however alive the connection looks to the idle timeout; the broker serves on.
    @Test func aRequestTrickledInIsCutOffAtTheReadTimeout() async throws {
        let broker = try BrokerProcess(extraConfig: "server.idle-timeout-ms=600000\nserver.read-timeout-ms=2000")
        defer { broker.remove() }
        try await broker.start()
        let head = "POST /weevent/rest/publish HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/x-www-form-urlencoded\\r\\nContent-Length: 40\\r\\n\\r\\n"
        let slowBody = try rawClient(port: broker.port, chunks: [head] + Array(repeating: "a", count: 20), pause: 1.0)
        let slowHeaders = try rawClient(
            port: broker.port, chunks: ["GET /weevent/admin/health HTTP/1.1\\r\\n"] + Array(repeating: "X-A: b\\r\\n", count: 20), pause: 1.0)
        for (name, client) in [("body", slowBody), ("headers", slowHeaders)] {
            let result = await client.wait()
            print("trickled \(name): \(result.stdout)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == "HTTP/1.1 408 Request Timeout", "\(name): \(result.stdout) \(result.stderr)")
            #expect(lines.count > 1 && lines[1].contains("\"code\":100900"), "\(name): \(result.stdout)")
            let seconds = lines.last.flatMap { Double($0.split(separator: " ")[1]) } ?? 99
            #expect(seconds < 6, "\(name) cut off after \(seconds) s")
        }
        #expect(try await http("\(broker.baseURL)/admin/health").status == 200)
    }

    /// What the HTTP parser refuses gets a WeEvent body and a fitting status, not an empty 400.
    @Test func oversizedAndMalformedRequestsGetWeEventAnswers() async throws {
        let broker = try BrokerProcess()
        defer { broker.remove() }
        try await broker.start()
        let longLine = "GET /weevent/rest/exist?topic=" + String(repeating: "a", count: 100_000) + " HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
        let bigHeader = "GET /weevent/admin/health HTTP/1.1\\r\\nHost: x\\r\\nX-Big: " + String(repeating: "b", count: 100_000) + "\\r\\n\\r\\n"
        let garbage = "NOT A REQUEST\\r\\n\\r\\n"
        for (request, status, code) in [
            (longLine, "414 URI Too Long", 100901), (bigHeader, "431 Request Header Fields Too Large", 100902), (garbage, "400 Bad Request", 100903),
        ] {
            let result = await try rawClient(port: broker.port, chunks: [request], pause: 0).wait()
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == "HTTP/1.1 \(status)", "\(result.stdout.prefix(300)) \(result.stderr.suffix(300))")
            #expect(lines.count > 1 && lines[1].contains("\"code\":\(code)"), "\(result.stdout.prefix(300))")
        }
        #expect(try await http("\(broker.baseURL)/admin/health").status == 200)
    }
}
