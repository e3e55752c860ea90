import Foundation
import Testing

/// The bridge against real mosquitto and ZooKeeper servers, with mosquitto_pub/mosquitto_sub as the devices.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct MQTTBridgeTests {
    func bridgeConfig(_ mosquitto: Mosquitto, zookeeper: ZooKeeperServer? = nil, extra: String = "") -> String {
        """
        mqtt.broker.url=\(mosquitto.url)
        broker.zookeeper.ip=\(zookeeper?.hosts ?? "")
        broker.zookeeper.timeout=2000
        \(extra)
        """
    }

    /// Waits until the instance's bridge has subscribed to everything bound so far.
    func waitUntilBridging(_ broker: BrokerProcess, subscriptions: Int = 1) async -> Bool {
        await eventually { broker.log().components(separatedBy: "[Bridge] subscribed").count - 1 >= subscriptions }
    }

    @Test func theSourceDocumentsInboundWalkThrough() async throws {
        let mosquitto = try Mosquitto()
        defer { try? mosquitto.stop() }
        let broker = try BrokerProcess(extraConfig: bridgeConfig(mosquitto))
        defer { broker.remove() }
        try await broker.start()
        let api = broker.baseURL
        #expect(try await http("\(api)/rest/open?topic=com.weevent.iot.event&groupId=1").text == "true")
        #expect(try await http("\(api)/master/mqtt_add_inbound_topic?topic=com.weevent.iot.event&groupId=1").text == "true")
        #expect(await waitUntilBridging(broker))

        let reading = #"{"timestamp":133345566,"key":"temperature","value":10.0}"#
        try mosquitto.publish(topic: "com.weevent.iot.event", message: reading)
        #expect(try await eventually { try storedContents(broker, topic: "com.weevent.iot.event") == [reading] })
        // The event is readable over REST with its MQTT topic as an extension.
        let state = try await http("\(api)/rest/state?topic=com.weevent.iot.event").object
        let block = try #require(state["blockNumber"] as? Int)
        let hash = try #require(try await http("\(api)/rest/publish?topic=com.weevent.iot.event&content=probe").object["eventId"] as? String)
            .split(separator: "-").first.map(String.init)
        let event = try await http("\(api)/rest/getEvent?eventId=\(hash!)-1-\(block)").object
        #expect((event["content"] as? String).flatMap { Data(base64Encoded: $0) } == Data(reading.utf8))
        #expect((event["extensions"] as? [String: String])?["weevent-mqtt-topic"] == "com.weevent.iot.event")

        #expect(try await http("\(api)/master/mqtt_remove_inbound_topic?topic=com.weevent.iot.event&groupId=1").text == "true")
        #expect(await eventually { broker.log().contains("[Bridge] unsubscribed") })
        try mosquitto.publish(topic: "com.weevent.iot.event", message: "after removal")
        try await Task.sleep(for: .seconds(1))
        #expect(try storedContents(broker, topic: "com.weevent.iot.event") == [reading, "probe"])
    }

    @Test func aWildcardBindingStoresExactlyTheMatchingMessages() async throws {
        let mosquitto = try Mosquitto()
        defer { try? mosquitto.stop() }
        let broker = try BrokerProcess(extraConfig: bridgeConfig(mosquitto))
        defer { broker.remove() }
        try await broker.start()
        _ = try await http("\(broker.baseURL)/rest/open?topic=gateway.json")
        let filter = "iot-2/type/%2B/id/%2B/evt/%2B/fmt/json"
        #expect(try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=gateway.json&mqttTopic=\(filter)&qos=1").text == "true")
        #expect(await waitUntilBridging(broker))
        let matching = ["iot-2/type/gw/id/dev1/evt/status/fmt/json", "iot-2/type/sensor/id/d-2/evt/temp/fmt/json"]
        let other = ["iot-2/type/gw/id/dev1/evt/status/fmt/xml", "iot-2/type/gw/id/dev1/cmd/reboot/fmt/json", "iot-2/type/gw/id/dev1/evt/status/fmt/json/extra"]
        for (i, topic) in (matching + other).enumerated() {
            try mosquitto.publish(topic: topic, message: "\(i):\(topic)")
        }
        try mosquitto.publish(topic: matching[0], message: "last")
        #expect(try await eventually { try storedContents(broker, topic: "gateway.json").last == "last" })
        let stored = try storedContents(broker, topic: "gateway.json")
        #expect(stored == ["0:\(matching[0])", "1:\(matching[1])", "last"])
    }

    @Test func aPayloadThatCannotBeAnEventIsAcknowledgedCountedAndKept() async throws {
        let mosquitto = try Mosquitto()
        defer { try? mosquitto.stop() }
        let broker = try BrokerProcess(extraConfig: bridgeConfig(mosquitto, extra: "event.content.max-length=16"))
        defer { broker.remove() }
        try await broker.start()
        _ = try await http("\(broker.baseURL)/rest/open?topic=small")
        _ = try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=small&qos=1")
        #expect(await waitUntilBridging(broker))
        try mosquitto.publish(topic: "small", message: String(repeating: "x", count: 17))
        try mosquitto.publish(topic: "small", message: "fits")
        #expect(try await eventually { try storedContents(broker, topic: "small") == ["fits"] })
        let list = try #require(try JSONSerialization.jsonObject(with: try await http("\(broker.baseURL)/master/mqtt_list_topic").body) as? [[String: Any]])
        #expect(list.first?["rejected"] as? Int == 1)
        #expect(list.first?["bridged"] as? Int == 1)
        #expect((list.first?["lastError"] as? String)?.contains("exceeds max length") == true)
        let rejected = try #require(try JSONSerialization.jsonObject(with: try await http("\(broker.baseURL)/master/mqtt_list_rejected?topic=small").body) as? [[String: Any]])
        #expect(rejected.count == 1)
        #expect((rejected.first?["payload"] as? String).flatMap { Data(base64Encoded: $0) } == Data(String(repeating: "x", count: 17).utf8))
        #expect(rejected.first?["mqttTopic"] as? String == "small")
    }

    /// QoS 2 inbound, weevent SIGKILLed mid-stream and restarted: every message stored exactly once.
    @Test func qos2InboundIsStoredExactlyOnceAcrossSIGKILL() async throws {
        let mosquitto = try Mosquitto()
        defer { try? mosquitto.stop() }
        let broker = try BrokerProcess(extraConfig: bridgeConfig(mosquitto))
        defer { broker.remove() }
        try await broker.start()
        _ = try await http("\(broker.baseURL)/rest/open?topic=exactly.once")
        _ = try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=exactly.once&qos=2")
        #expect(await waitUntilBridging(broker))

        let total = 3000
        let messages = (1...total).map { "m\($0)" }
        let publisher = Task.detached { try mosquitto.publish(topic: "exactly.once", lines: messages, qos: 2) }
        #expect(try await eventually { try storedContents(broker, topic: "exactly.once").count >= 300 })
        broker.kill(signal: SIGKILL)
        _ = await broker.waitForExit()
        let beforeRestart = try storedContents(broker, topic: "exactly.once").count
        try await broker.start()
        try await publisher.value
        #expect(try await eventually(timeout: .seconds(60)) { try storedContents(broker, topic: "exactly.once").count >= total })
        try await Task.sleep(for: .seconds(1))
        let stored = try storedContents(broker, topic: "exactly.once")
        let duplicates = stored.count - Set(stored).count
        print("QoS 2 across SIGKILL: \(beforeRestart) stored before the kill, \(stored.count) in all, \(duplicates) duplicates")
        #expect(Set(stored) == Set(messages))
        #expect(duplicates == 0)
        #expect(stored.count == total)
    }

    /// Two instances: the leader is SIGKILLed during a QoS 1 stream; the other takes over and
    /// every message is in a ledger (at least once; duplicates are counted and reported).
    @Test func theFollowerTakesOverWhenTheLeaderIsKilled() async throws {
        let mosquitto = try Mosquitto()
        defer { try? mosquitto.stop() }
        let zookeeper = try ZooKeeperServer()
        defer { try? zookeeper.stop() }
        let a = try BrokerProcess(extraConfig: bridgeConfig(mosquitto, zookeeper: zookeeper))
        let b = try BrokerProcess(extraConfig: bridgeConfig(mosquitto, zookeeper: zookeeper))
        defer { a.remove(); b.remove() }
        try await a.start()
        try await b.start()
        for broker in [a, b] { #expect(try await http("\(broker.baseURL)/rest/open?topic=failover").text == "true") }
        // A binding made on either instance is seen by both.
        #expect(try await http("\(b.baseURL)/master/mqtt_add_inbound_topic?topic=failover&qos=1").text == "true")
        #expect(await eventually { a.log().contains("[Bridge] subscribed") || b.log().contains("[Bridge] subscribed") },
                "A:\n\(a.log().suffix(3000))\nB:\n\(b.log().suffix(3000))")
        let (leader, follower) = a.log().contains("[Bridge] subscribed") ? (a, b) : (b, a)
        let listed = try JSONSerialization.jsonObject(with: try await http("\(follower.baseURL)/master/mqtt_list_topic").body) as? [[String: Any]]
        #expect(listed?.count == 1)

        let total = 4000
        let messages = (1...total).map { "f\($0)" }
        let publisher = Task.detached { try mosquitto.publish(topic: "failover", lines: messages, qos: 1) }
        #expect(try await eventually { try storedContents(leader, topic: "failover").count >= 500 })
        leader.kill(signal: SIGKILL)
        try await publisher.value
        #expect(try await eventually(timeout: .seconds(60)) {
            Set(try storedContents(leader, topic: "failover") + storedContents(follower, topic: "failover")).count >= total
        })
        let first = try storedContents(leader, topic: "failover")
        let second = try storedContents(follower, topic: "failover")
        let all = first + second
        print("failover: old leader stored \(first.count), new leader \(second.count), \(all.count - Set(all).count) duplicates")
        #expect(Set(all) == Set(messages))
        #expect(follower.log().contains("state=leader"))
    }

    /// ZooKeeper restarted: the bindings are still there and bridging goes on.
    @Test func bindingsSurviveAZooKeeperRestart() async throws {
        let mosquitto = try Mosquitto()
        defer { try? mosquitto.stop() }
        let zookeeper = try ZooKeeperServer()
        defer { try? zookeeper.stop() }
        let broker = try BrokerProcess(extraConfig: bridgeConfig(mosquitto, zookeeper: zookeeper))
        defer { broker.remove() }
        try await broker.start()
        _ = try await http("\(broker.baseURL)/rest/open?topic=zk.restart")
        let added = try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=zk.restart&qos=1").text
        #expect(added == "true", "\(added)\n\(broker.log().suffix(3000))")
        #expect(await waitUntilBridging(broker))
        try mosquitto.publish(topic: "zk.restart", message: "before")
        #expect(try await eventually { try storedContents(broker, topic: "zk.restart") == ["before"] })

        try zookeeper.restart()
        // The binding is still listed (once the session is back) and messages still flow.
        #expect(await eventually(timeout: .seconds(30)) {
            (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(string: "\(broker.baseURL)/master/mqtt_list_topic")!)) as? [[String: Any]])?.count == 1
        })
        try mosquitto.publish(topic: "zk.restart", message: "after")
        #expect(try await eventually(timeout: .seconds(30)) { try storedContents(broker, topic: "zk.restart").contains("after") },
                "\(broker.log().suffix(4000))")
    }
}
