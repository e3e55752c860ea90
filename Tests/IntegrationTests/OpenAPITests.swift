import Foundation
import TestSupport
import Testing

/// docs/openapi.yaml is the HTTP API's contract, and this keeps it true: schemathesis (PyPI)
/// generates requests from it, valid and not, against a live broker with a bridge, following
/// its links (open → publish → getEvent, proof ...), and checks every answer against it.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct OpenAPITests {
    /// As `make run` configures it (open), and with access configured: callers without a token
    /// may do nothing, and schemathesis calls with the master token.
    @Test(arguments: [false, true])
    func theLiveBrokerAnswersAsItsOpenAPIDocumentSays(authenticated: Bool) async throws {
        // Through the python3 the other test tools use, wherever pip put its `schemathesis` script.
        let probe = try await run("/usr/bin/env", ["python3", "-c", "import schemathesis, sys; print(sys.executable)"])
        try #require(probe.status == 0, "schemathesis is not installed for python3 (scripts/install-deps.sh test installs it): \(probe.stderr)")
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        // rest/request waits for a reply nobody sends, and mqtt_add_inbound_topic for a subscription the
        // fuzzed filters may keep from coming: at most 300 / 500 ms here, under the request timeout below.
        let broker = try BrokerProcess(
            extraConfig: """
                mqtt.broker.url=\(mosquitto.url)
                ledger.groups=1,2
                rest.request.max-timeout-ms=300
                mqtt.binding.live-wait-ms=500
                """ + (authenticated ? "\nmaster.access-token=schemathesis-master\naccess.anonymous=none" : ""))
        defer { broker.remove() }
        try await broker.start()

        let served = try await http("\(broker.baseURL)/openapi.json")
        #expect(served.status == 200 && served.object["openapi"] as? String == "3.1.0")

        // A 504 is rest/request's documented answer when no reply comes, not a server error.
        let settings = broker.directory + "/schemathesis.toml"
        try """
        [[operations]]
        include-path = "/weevent/rest/request"
        checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "504"]
        """.write(toFile: settings, atomically: true, encoding: .utf8)
        let launcher = "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())"
        let result = try await run(
            "/usr/bin/env",
            [
                "python3", "-c", launcher, "--no-color", "--config-file", settings, "run", "\(broker.baseURL)/openapi.json",
                // No crash, no 5xx other than rest/request's documented 504, every status, content type,
                // header and body as documented.
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
                "--max-examples", "10", "--workers", "2", "--seed", "20261201",
                // A successful rest/stream never ends by itself; its head and first bytes are what is checked.
                "--request-timeout", "2",
                "--continue-on-failure",
            ]
                // An identity made by the fuzzer would close the open broker: those calls are made
                // in the authenticated run, where they change nothing about access.
                + (authenticated ? ["--header", "Authorization: Bearer schemathesis-master"] : ["--exclude-path-regex", "Identity"]))
        let summary = result.stdout.components(separatedBy: "\n").suffix(40).joined(separator: "\n")
        print("schemathesis:\n\(summary)")
        #expect(
            result.status == 0,
            "schemathesis found answers that do not match docs/openapi.yaml:\n\(result.stdout.suffix(20_000))\n\(result.stderr.suffix(4000))")
        #expect(broker.isRunning, "the broker died under schemathesis:\n\(broker.log().suffix(4000))")
    }
}
