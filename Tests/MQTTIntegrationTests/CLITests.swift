import TestSupport
import Foundation
import MQTT
import Testing

/// The built `weevent` binary, next to this test bundle.
let weeventBinary: String? = {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let path = dir.appendingPathComponent("weevent").path
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}()

@Suite(.enabled(if: mosquittoInstalled, skipMessage), .serialized)
struct CLITests {
    func binary() throws -> String {
        try #require(weeventBinary, "build the weevent executable first (swift build)")
    }

    @Test func pubLinesReachOurSubscriberAndSubPrintsWithTopic() async throws {
        let weevent = try binary()
        let broker = try await Mosquitto.start()
        defer { Task { await broker.stop() } }
        let client = try MQTTClient(configuration: broker.configuration(clientID: "cli-check"))
        try await withDeadline(seconds: 30, "CLI pub -l") {
            try await client.connect()
            let inbox = Inbox.draining(client)
            try await client.subscribe(to: [MQTTSubscription(topicFilter: "cli/#", qos: .exactlyOnce)])
            let pub = try await run(weevent, ["mqtt", "pub", "-p", "\(broker.port)", "-t", "cli/lines", "-q", "2", "-l"], stdin: "one\ntwo\nthree\n")
            #expect(pub.status == 0, "\(pub.stderr)")
            await inbox.waitFor(count: 3)
            #expect(await inbox.payloads == ["one", "two", "three"])
        }
        let sub = try Child(weevent, ["mqtt", "sub", "-p", "\(broker.port)", "-t", "cli/+", "-q", "1", "-v", "-C", "1"])
        try await withDeadline(seconds: 30, "CLI sub") {
            while sub.isRunning {
                try await client.publish(to: "cli/x", payload: "hello", qos: .atLeastOnce)
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let result = await sub.wait()
        #expect(result.status == 0)
        #expect(result.stdout == "cli/x hello\n")
        await client.disconnect()
    }

    @Test func failuresExitNonZeroWithAClearMessage() async throws {
        let weevent = try binary()
        let broker = try await Mosquitto.start()
        defer { Task { await broker.stop() } }
        await broker.stop()
        let unreachable = try await run(weevent, ["mqtt", "pub", "-p", "\(broker.port)", "-t", "a", "-m", "x"])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("Error: cannot connect to localhost:\(broker.port)"))
        let usage = try await run(weevent, ["mqtt", "pub", "-t", "a/#", "-m", "x"])
        #expect(usage.status == 1 && usage.stderr.contains("invalid topic"))
        let unknownFlag = try await run(weevent, ["mqtt", "sub", "--no-such-flag", "-t", "a"])
        #expect(unknownFlag.status == 1 && unknownFlag.stderr.contains("Usage: weevent mqtt sub"))
    }

    /// `weevent-mqtt` is the same tool in its own binary: same flags, same output, same errors.
    @Test func standaloneBinaryIsTheSameTool() async throws {
        let weevent = try binary()
        let standalone = URL(fileURLWithPath: weevent).deletingLastPathComponent().appendingPathComponent("weevent-mqtt").path
        try #require(FileManager.default.isExecutableFile(atPath: standalone), "build the weevent-mqtt executable (swift build)")
        let broker = try await Mosquitto.start()
        defer { Task { await broker.stop() } }
        let sub = try Child(standalone, ["sub", "-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "solo/#", "-C", "1", "-F", "%t=%p %q", "-q", "1", "-W", "30"])
        try await withDeadline(seconds: 30, "weevent-mqtt pub reaching weevent-mqtt sub") {
            while sub.isRunning {
                let pub = try await run(standalone, ["pub", "-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "solo/x", "-m", "alone", "-q", "1"])
                #expect(pub.status == 0, "\(pub.stderr)")
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let result = await sub.wait()
        #expect(result.status == 0 && result.stdout == "solo/x=alone 1\n", "\(result)")
        let usage = try await run(standalone, ["pub", "-t", "a", "-m", "x", "-q", "3"])
        #expect(usage.status == 1 && usage.stderr.contains("-q 3") && usage.stderr.contains("weevent-mqtt pub"), "\(usage.stderr)")
    }

    @Test func subExitsPromptlyOnSIGTERM() async throws {
        let weevent = try binary()
        let broker = try await Mosquitto.start()
        defer { Task { await broker.stop() } }
        let sub = try Child(weevent, ["mqtt", "sub", "-p", "\(broker.port)", "-t", "x", "-d"])
        // Wait until it has subscribed (its -d trace on standard output says so), then terminate it.
        try await withDeadline(seconds: 30, "sub subscribing") {
            while !sub.outputSoFar.contains("received SUBACK") { try await Task.sleep(for: .milliseconds(20)) }
        }
        sub.signal(SIGTERM)
        let result = try await withDeadline(seconds: 10, "sub exiting on SIGTERM") { await sub.wait() }
        #expect(result.status == 0)
        #expect(result.stdout.contains("sending SUBSCRIBE"))
    }
}
