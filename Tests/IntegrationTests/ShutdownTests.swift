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
        let call = try Child("/usr/bin/curl", [
            "-s", "-w", "\n%{http_code} %{time_total}",
            "\(broker.baseURL)/rest/request?topic=cmd&replyTopic=reply&timeout=60000&content=%7B%22reqId%22%3A%2242%22%7D",
        ])
        // The command is on the ledger: the call waits for its reply.
        #expect(await eventually(within: .seconds(20)) {
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
}
