import Foundation
import TestSupport
import Testing

/// The bridge never dies quietly: a binding whose subscription the MQTT broker refuses, or a
/// bridge whose MQTT client cannot even be made, shows the reason in mqtt_list_topic and is
/// tried again with backoff while the instance leads; the other bindings keep flowing.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BridgeRecoveryTests {
    func lastError(_ broker: BrokerProcess, topic: String) async throws -> String? {
        let rows = try JSONSerialization.jsonObject(with: try await http("\(broker.baseURL)/master/mqtt_list_topic").body) as? [[String: Any]]
        return rows?.first { $0["topic"] as? String == topic }?["lastError"] as? String
    }

    /// A peer that refuses `denied/#` three times (real mosquitto grants every well-formed filter).
    @Test func aRefusedSubscriptionIsShownAndRetriedWhileOtherBindingsFlow() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("refusing-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let portFile = directory + "/port"
        let peer = try Child("/usr/bin/env", ["python3", repositoryRoot + "/scripts/refusing-mqtt-broker.py", portFile, "3"])
        defer { peer.kill() }
        #expect(await eventually { FileManager.default.fileExists(atPath: portFile) })
        let port = try String(contentsOfFile: portFile, encoding: .utf8)

        let broker = try BrokerProcess(extraConfig: "mqtt.broker.url=tcp://127.0.0.1:\(port)")
        defer { broker.remove() }
        try await broker.start()
        let api = broker.baseURL
        for topic in ["denied", "ok"] {
            #expect(try await http("\(api)/rest/open?topic=\(topic)").text == "true")
        }
        #expect(try await http("\(api)/master/mqtt_add_inbound_topic?topic=ok&mqttTopic=ok/%23").text == "true")
        // Refused three times, then granted: the answer waits for the grant (within mqtt.binding.live-wait-ms).
        #expect(try await http("\(api)/master/mqtt_add_inbound_topic?topic=denied&mqttTopic=denied/%23").text == "true")
        // The granted binding flows at once; the refused one says why.
        #expect(try await eventually { try storedContents(broker, topic: "ok") == ["hello ok/#"] })
        #expect(try await eventually { try await lastError(broker, topic: "denied")?.contains("refused by the MQTT broker") == true })
        // Retried with backoff until the peer grants it: then its messages arrive too.
        #expect(try await eventually { try storedContents(broker, topic: "denied") == ["hello denied/#"] })
        #expect(broker.log().components(separatedBy: "subscribing failed; retrying with backoff").count - 1 >= 3)
    }

    /// The CA file of mqtt.broker.cafile is missing when the broker starts (deployed later):
    /// the client cannot be made, every binding says so, and once the file is there the bridge starts.
    @Test func aBridgeThatCannotStartIsShownAndRetried() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)").path
        try await makeTestCertificates(in: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mosquitto = try await Mosquitto.start(
            extraConf: "allow_anonymous true\ncafile \(directory)/ca.crt\ncertfile \(directory)/server.crt\nkeyfile \(directory)/server.key\n"
        )
        defer { Task { await mosquitto.stop() } }
        let deployed = directory + "/deployed-ca.crt"
        let broker = try BrokerProcess(extraConfig: "mqtt.broker.url=ssl://localhost:\(mosquitto.port)\nmqtt.broker.cafile=\(deployed)")
        defer { broker.remove() }
        try await broker.start()
        let api = broker.baseURL
        #expect(try await http("\(api)/rest/open?topic=secure").text == "true")
        // No bridge runs yet: the binding is stored, and the answer says it is not live.
        let stored = try await http("\(api)/master/mqtt_add_inbound_topic?topic=secure")
        #expect(stored.status == 202 && stored.object["live"] as? Bool == false, "\(stored.status) \(stored.text)")
        #expect(try await eventually { try await lastError(broker, topic: "secure")?.contains("bridge cannot start") == true })
        #expect(broker.log().contains("bridge cannot start; retrying"))

        try FileManager.default.copyItem(atPath: directory + "/ca.crt", toPath: deployed)
        #expect(await eventually { broker.log().contains("[Bridge] subscribed") })
        let published = try await run(
            "/usr/bin/mosquitto_pub",
            [
                "-h", "localhost", "-p", "\(mosquitto.port)", "--cafile", directory + "/ca.crt", "-q", "1", "-t", "secure", "-m", "over tls",
            ])
        #expect(published.status == 0, "\(published.stderr)")
        #expect(try await eventually { try storedContents(broker, topic: "secure") == ["over tls"] })
    }
}
