import Foundation
import TestSupport
import Testing

/// Devices authenticate to mosquitto, not to the broker: conf/mosquitto/weevent.acl (the example
/// docs/mqtt-bridge.md shows) with a password file, on a real mosquitto, gives each device its own
/// topics and the bridge's account only the bound ones.
@Suite(.timeLimit(.minutes(3)))
struct DeviceACLTests {
    @Test func devicesReachOnlyTheirOwnTopicsAndTheBridgeItsBoundOnes() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weevent-acl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let passwd = try #require(findExecutable("mosquitto_passwd"))
        for (index, (user, password)) in [("weevent-bridge", "bridge-pw"), ("device-42", "pw-42"), ("device-43", "pw-43")].enumerated() {
            let made = try await run(passwd, ["-b"] + (index == 0 ? ["-c"] : []) + ["\(dir)/passwd", user, password])
            try #require(made.status == 0, "\(made.stderr)")
        }
        let mosquitto = try await Mosquitto.start(
            extraConf: "allow_anonymous false\npassword_file \(dir)/passwd\nacl_file \(repositoryRoot)/conf/mosquitto/weevent.acl\n")
        defer { Task { await mosquitto.stop() } }
        let broker = try BrokerProcess(
            extraConfig: """
                mqtt.broker.url=\(mosquitto.url)
                mqtt.broker.user=weevent-bridge
                mqtt.broker.password=bridge-pw
                """)
        defer { broker.remove() }
        try await broker.start()
        let api = broker.baseURL
        for topic in ["device-data", "device-42-commands"] { _ = try await http("\(api)/rest/open?topic=\(topic)") }
        #expect(try await http("\(api)/master/mqtt_add_inbound_topic?topic=device-data&mqttTopic=devices/%2B/data").text == "true")
        #expect(
            try await http("\(api)/master/mqtt_add_outbound_topic?topic=device-42-commands&mqttTopic=devices/device-42/commands").text == "true")

        // A device's data reaches the ledger; a device writing another's data topic is dropped
        // by mosquitto, as is anyone without an account.
        try await mosquitto.publish(topic: "devices/device-42/data", message: "42 says 21.5", user: "device-42", password: "pw-42")
        try await mosquitto.publish(topic: "devices/device-43/data", message: "forged by 42", user: "device-42", password: "pw-42")
        let anonymous = try await run("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(mosquitto.port)", "-t", "devices/x/data", "-m", "no account"])
        #expect(anonymous.status != 0, "mosquitto refuses a client without an account")
        try await mosquitto.publish(topic: "devices/device-43/data", message: "43 says 19.0", user: "device-43", password: "pw-43")
        #expect(try await eventually { try storedContents(broker, topic: "device-data").count == 2 })
        try await Task.sleep(for: .seconds(1))
        #expect(try storedContents(broker, topic: "device-data") == ["42 says 21.5", "43 says 19.0"])

        // A command reaches its device only; another device cannot read it.
        let own = try MosquittoSubscriber(port: mosquitto.port, topic: "devices/device-42/commands", user: "device-42", password: "pw-42")
        defer { own.stop() }
        let other = try MosquittoSubscriber(port: mosquitto.port, topic: "devices/device-42/commands", user: "device-43", password: "pw-43")
        defer { other.stop() }
        #expect(try await own.waitUntilSubscribed(mosquitto, topic: "devices/device-42/commands", user: "weevent-bridge", password: "bridge-pw"))
        #expect(try await http("\(api)/rest/publish?topic=device-42-commands&content=open").status == 200)
        #expect(await own.waitFor(count: 1) == ["open"])
        try await Task.sleep(for: .seconds(1))
        #expect(other.lines.isEmpty, "device-43 read device-42's command: \(other.lines)")

        // The bridge's account writes only commands: an outbound binding to a data topic is
        // accepted by the broker but its messages never reach that topic.
        // (Watched with the bridge's own account, which may read data topics.)
        let spy = try MosquittoSubscriber(
            port: mosquitto.port, topic: "devices/device-42/data", clientID: "acl-spy", user: "weevent-bridge", password: "bridge-pw")
        defer { spy.stop() }
        _ = try await http("\(api)/rest/open?topic=misbound")
        _ = try await http("\(api)/master/mqtt_add_outbound_topic?topic=misbound&mqttTopic=devices/device-42/data")
        #expect(try await spy.waitUntilSubscribed(mosquitto, topic: "devices/device-42/data", user: "device-42", password: "pw-42"))
        #expect(try await http("\(api)/rest/publish?topic=misbound&content=should-not-arrive").status == 200)
        try await Task.sleep(for: .seconds(2))
        #expect(spy.lines.isEmpty, "the bridge wrote outside its topics: \(spy.lines)")
    }
}
