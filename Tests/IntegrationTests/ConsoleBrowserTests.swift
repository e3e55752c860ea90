import Foundation
import Testing
import TestSupport

/// The console in a real browser (Tests/browser/console_test.py: Debian's chromium and
/// chromedriver driven by Selenium) against two live brokers bridging through a real mosquitto:
/// one as `make run` configures it (no token), one with `master.access-token`. Screenshots of
/// every page go to .build/console-screenshots; UPDATE_CONSOLE_SCREENSHOT=1 also copies the
/// overview to docs/console.png (the README's picture).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ConsoleBrowserTests {
    @Test func anOperatorUsesTheConsoleInChromium() async throws {
        let probe = try await run("/usr/bin/env", ["python3", "-c", "import selenium"])
        try #require(probe.status == 0, "selenium is not installed for python3 (scripts/install-deps.sh test installs it): \(probe.stderr)")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"),
                     "chromium and chromium-driver are not installed (scripts/install-deps.sh test installs them)")
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let open = try BrokerProcess(extraConfig: "mqtt.broker.url=\(mosquitto.url)\nmqtt.broker.client-id=console-open")
        let guarded = try BrokerProcess(extraConfig: "mqtt.broker.url=\(mosquitto.url)\nmqtt.broker.client-id=console-guarded\nmaster.access-token=s3cret-console")
        defer { open.remove(); guarded.remove() }
        try await open.start()
        try await guarded.start()

        let shots = repositoryRoot + "/.build/console-screenshots"
        try? FileManager.default.removeItem(atPath: shots)
        let result = try await run("/usr/bin/env", [
            "python3", repositoryRoot + "/Tests/browser/console_test.py",
            "--base", open.baseURL, "--mqtt-port", "\(mosquitto.port)",
            "--token-base", guarded.baseURL, "--token", "s3cret-console", "--out", shots,
        ])
        print("console in chromium:\n\(result.stdout)")
        #expect(result.status == 0, "\(result.stdout.suffix(6000))\n\(result.stderr.suffix(3000))\nbroker log:\n\(open.log().suffix(3000))")
        for page in ["overview", "topics", "topic", "event", "event-tampered", "blocks", "bridge", "subscriptions", "overview-narrow"] {
            #expect(FileManager.default.fileExists(atPath: "\(shots)/\(page).png"), "no screenshot of \(page)")
        }
        if result.status == 0, ProcessInfo.processInfo.environment["UPDATE_CONSOLE_SCREENSHOT"] == "1" {
            let docs = repositoryRoot + "/docs/console.png"
            try? FileManager.default.removeItem(atPath: docs)
            try FileManager.default.copyItem(atPath: "\(shots)/overview.png", toPath: docs)
        }
    }
}
