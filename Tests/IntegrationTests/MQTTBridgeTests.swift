import TestSupport
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

    /// A mosquitto and one broker instance bridging through it (no ZooKeeper), started, for `body`.
    func withBridgingBroker(extra: String = "", _ body: (Mosquitto, BrokerProcess) async throws -> Void) async throws {
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let broker = try BrokerProcess(extraConfig: bridgeConfig(mosquitto, extra: extra))
        defer { broker.remove() }
        try await broker.start()
        try await body(mosquitto, broker)
    }

    /// A mosquitto, a ZooKeeper and two broker instances bridging through them, started, for `body`.
    func withTwoInstances(_ body: (Mosquitto, BrokerProcess, BrokerProcess) async throws -> Void) async throws {
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let zookeeper = try await ZooKeeperServer.start()
        defer { Task { [zookeeper] in try? await zookeeper.stop() } }
        let a = try BrokerProcess(extraConfig: bridgeConfig(mosquitto, zookeeper: zookeeper))
        let b = try BrokerProcess(extraConfig: bridgeConfig(mosquitto, zookeeper: zookeeper))
        defer { a.remove(); b.remove() }
        try await a.start()
        try await b.start()
        try await body(mosquitto, a, b)
    }

    @Test func theSourceDocumentsInboundWalkThrough() async throws {
        try await withBridgingBroker { mosquitto, broker in
            let api = broker.baseURL
            #expect(try await http("\(api)/rest/open?topic=com.weevent.iot.event&groupId=1").text == "true")
            #expect(try await http("\(api)/master/mqtt_add_inbound_topic?topic=com.weevent.iot.event&groupId=1").text == "true")
            #expect(await waitUntilBridging(broker))

            let reading = #"{"timestamp":133345566,"key":"temperature","value":10.0}"#
            try await mosquitto.publish(topic: "com.weevent.iot.event", message: reading)
            #expect(try await eventually { try storedContents(broker, topic: "com.weevent.iot.event") == [reading] })
            // The event is readable over REST with its MQTT topic as an extension ...
            let state = try await http("\(api)/rest/state?topic=com.weevent.iot.event").object
            let block = try #require(state["blockNumber"] as? Int)
            let hash = try #require(try await http("\(api)/rest/publish?topic=com.weevent.iot.event&content=probe").object["eventId"] as? String)
                .split(separator: "-").first.map(String.init)
            let event = try await http("\(api)/rest/getEvent?eventId=\(hash!)-1-\(block)").object
            #expect((event["content"] as? String).flatMap { Data(base64Encoded: $0) } == Data(reading.utf8))
            // ... and its publisher: the binding it came through.
            #expect(
                event["extensions"] as? [String: String] == [
                    "weevent-mqtt-topic": "com.weevent.iot.event", "weevent-publisher": "mqtt:com.weevent.iot.event",
                ])

            #expect(try await http("\(api)/master/mqtt_remove_inbound_topic?topic=com.weevent.iot.event&groupId=1").text == "true")
            #expect(await eventually { broker.log().contains("[Bridge] unsubscribed") })
            try await mosquitto.publish(topic: "com.weevent.iot.event", message: "after removal")
            try await Task.sleep(for: .seconds(1))
            #expect(try storedContents(broker, topic: "com.weevent.iot.event") == [reading, "probe"])
        }
    }

    @Test func theSourceDocumentsOutboundWalkThrough() async throws {
        try await withBridgingBroker { mosquitto, broker in
            let api = broker.baseURL
            #expect(try await http("\(api)/rest/open?topic=com.weevent.iot.control&groupId=1").text == "true")
            // History from before the binding is not sent out.
            _ = try await http("\(api)/rest/publish?topic=com.weevent.iot.control&groupId=1&content=old")
            #expect(try await http("\(api)/master/mqtt_add_outbound_topic?topic=com.weevent.iot.control&groupId=1").text == "true")
            let device = try MosquittoSubscriber(port: mosquitto.port, topic: "com.weevent.iot.control")
            defer { device.stop() }
            try await Task.sleep(for: .milliseconds(500))
            let publish = try await http(
                "\(api)/rest/publish?topic=com.weevent.iot.control&groupId=1&content=hello&weevent-url=https://github.com/WeBankFinTech/WeEvent")
            #expect(publish.object["status"] as? String == "SUCCESS")
            #expect(await device.waitFor(count: 1) == ["hello"])

            #expect(try await http("\(api)/master/mqtt_remove_outbound_topic?topic=com.weevent.iot.control&groupId=1").text == "true")
            #expect(await eventually { broker.log().contains("outbound bridge stopped") })
            _ = try await http("\(api)/rest/publish?topic=com.weevent.iot.control&groupId=1&content=after-removal")
            try await Task.sleep(for: .seconds(1))
            #expect(device.lines == ["hello"])
        }
    }

    /// Both directions bound on one topic: a device's message is stored but not echoed back to it.
    @Test func anEventThatCameFromMQTTIsNotSentBackToItsTopic() async throws {
        try await withBridgingBroker { mosquitto, broker in
            _ = try await http("\(broker.baseURL)/rest/open?topic=both.ways")
            _ = try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=both.ways&qos=1")
            _ = try await http("\(broker.baseURL)/master/mqtt_add_outbound_topic?topic=both.ways&qos=1")
            #expect(await waitUntilBridging(broker))
            let listener = try MosquittoSubscriber(port: mosquitto.port, topic: "both.ways")
            defer { listener.stop() }
            try await Task.sleep(for: .milliseconds(500))
            try await mosquitto.publish(topic: "both.ways", message: "from-device")
            #expect(try await eventually { try storedContents(broker, topic: "both.ways") == ["from-device"] })
            _ = try await http("\(broker.baseURL)/rest/publish?topic=both.ways&content=from-rest")
            #expect(await listener.waitFor(count: 2) == ["from-device", "from-rest"])
            try await Task.sleep(for: .seconds(1))
            // The device's own message reached the listener once (from the device), never a second time from the bridge.
            #expect(listener.lines == ["from-device", "from-rest"])
            // What the bridge itself published comes back in over the inbound binding (MQTT 3.1.1 has no
            // "no local"); that copy carries the MQTT topic and is not sent out again either.
            #expect(try storedContents(broker, topic: "both.ways").filter { $0 == "from-device" }.count == 1)
        }
    }

    /// mosquitto restarted during an outbound stream: the device (persistent session) gets every event.
    @Test func anOutboundStreamSurvivesAMosquittoRestart() async throws {
        // Set up by hand: inside withBridgingBroker's closure the publishers' Task crashes the
        // Swift 6.3.1 compiler (SendNonSendable pass).
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let broker = try BrokerProcess(extraConfig: bridgeConfig(mosquitto))
        defer { broker.remove() }
        try await broker.start()
        _ = try await http("\(broker.baseURL)/rest/open?topic=commands")
        _ = try await http("\(broker.baseURL)/master/mqtt_add_outbound_topic?topic=commands&qos=1")
        let device = try MosquittoSubscriber(port: mosquitto.port, topic: "commands", qos: 1, clientID: "device-1", cleanSession: false)
        try await Task.sleep(for: .milliseconds(500))
        let total = 2000
        let publishers = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<8 {
                    group.addTask {
                        for i in stride(from: client, to: total, by: 8) {
                            _ = try await http("\(broker.baseURL)/rest/publish?topic=commands&content=c\(i)")
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(await eventually { device.lines.count >= 300 })
        try await mosquitto.restart()
        try await publishers.value
        // mosquitto_sub does not reconnect: start it again on its persistent session to collect the rest.
        // Stop first, then read: a line printed between reading and stopping was acknowledged to
        // mosquitto, so it would never come again and the test would call it lost.
        let before = await device.stopAndCollect()
        let again = try MosquittoSubscriber(port: mosquitto.port, topic: "commands", qos: 1, clientID: "device-1", cleanSession: false)
        defer { again.stop() }
        let expected = Set((0..<total).map { "c\($0)" })
        _ = await eventually(within: .seconds(60)) { Set(before + again.lines).isSuperset(of: expected) }
        let all = before + again.lines
        print("outbound across a mosquitto restart: \(all.count) received, \(all.count - Set(all).count) duplicates")
        #expect(Set(all) == expected, "missing: \(expected.subtracting(all).sorted().prefix(20))")
    }

    /// Expiry through a real mosquitto: a command whose weevent-expiry passed, and commands that
    /// waited longer than the binding's TTL (mosquitto was down), do not reach the device; fresh
    /// ones do; mqtt_list_topic counts the expired ones.
    @Test func anExpiredCommandIsNotDeliveredAndAFreshOneIs() async throws {
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let broker = try BrokerProcess(extraConfig: bridgeConfig(mosquitto))
        defer { broker.remove() }
        try await broker.start()
        _ = try await http("\(broker.baseURL)/rest/open?topic=door")
        #expect(try await http("\(broker.baseURL)/master/mqtt_add_outbound_topic?topic=door&qos=1&ttl=2s").text == "true")
        let device = try MosquittoSubscriber(port: mosquitto.port, topic: "door", qos: 1, clientID: "door-1", cleanSession: false)
        #expect(try await device.waitUntilSubscribed(mosquitto, topic: "door"))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (content, expiry) in [("fresh-1", nil), ("stale-own", now - 1000), ("future-own", now + 600_000)] as [(String, Int64?)] {
            let reply = try await http("\(broker.baseURL)/rest/publish?topic=door&content=\(content)" + (expiry.map { "&weevent-expiry=\($0)" } ?? ""))
            #expect(reply.object["status"] as? String == "SUCCESS", "\(reply.text)")
        }
        #expect(await eventually { device.lines.count >= 2 })
        let before = await device.stopAndCollect()

        // While mosquitto is down the commands wait on the ledger; back after 4 s, they are past the 2 s TTL.
        let restart = Task { try await mosquitto.restart(after: .seconds(4)) }
        try await Task.sleep(for: .milliseconds(300))
        for content in ["stale-ttl-1", "stale-ttl-2"] {
            #expect(try await http("\(broker.baseURL)/rest/publish?topic=door&content=\(content)").object["status"] as? String == "SUCCESS")
        }
        try await restart.value
        func expiredCount() async -> Int? {
            let rows = try? JSONSerialization.jsonObject(with: try await http("\(broker.baseURL)/master/mqtt_list_topic").body) as? [[String: Any]]
            return rows?.first { $0["topic"] as? String == "door" }?["expired"] as? Int
        }
        let counted = await eventually(within: .seconds(30)) { await expiredCount() == 3 }
        let seen = await expiredCount() ?? -1
        #expect(counted, "expired: \(seen); log:\n\(broker.log().suffix(2000))")
        let again = try MosquittoSubscriber(port: mosquitto.port, topic: "door", qos: 1, clientID: "door-1", cleanSession: false)
        defer { again.stop() }
        #expect(try await again.waitUntilSubscribed(mosquitto, topic: "door"))
        #expect(try await http("\(broker.baseURL)/rest/publish?topic=door&content=fresh-2").object["status"] as? String == "SUCCESS")
        #expect(await eventually { again.lines.contains("fresh-2") })
        try await Task.sleep(for: .milliseconds(300))
        // At least once: a QoS 1 message the first subscriber printed may come again to its session.
        var firsts: Set<String> = []
        let received = (before + again.lines).filter { firsts.insert($0).inserted }
        #expect(received == ["fresh-1", "future-own", "fresh-2"], "\(before + again.lines)")
        let rows = try #require(try JSONSerialization.jsonObject(with: try await http("\(broker.baseURL)/master/mqtt_list_topic").body) as? [[String: Any]])
        #expect(rows.first?["ttl"] as? String == "2s" && rows.first?["expired"] as? Int == 3, "\(rows)")
    }

    @Test func aWildcardBindingStoresExactlyTheMatchingMessages() async throws {
        try await withBridgingBroker { mosquitto, broker in
            _ = try await http("\(broker.baseURL)/rest/open?topic=gateway.json")
            let filter = "iot-2/type/%2B/id/%2B/evt/%2B/fmt/json"
            #expect(try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=gateway.json&mqttTopic=\(filter)&qos=1").text == "true")
            #expect(await waitUntilBridging(broker))
            let matching = ["iot-2/type/gw/id/dev1/evt/status/fmt/json", "iot-2/type/sensor/id/d-2/evt/temp/fmt/json"]
            let other = [
                "iot-2/type/gw/id/dev1/evt/status/fmt/xml", "iot-2/type/gw/id/dev1/cmd/reboot/fmt/json", "iot-2/type/gw/id/dev1/evt/status/fmt/json/extra",
            ]
            for (i, topic) in (matching + other).enumerated() {
                try await mosquitto.publish(topic: topic, message: "\(i):\(topic)")
            }
            try await mosquitto.publish(topic: matching[0], message: "last")
            #expect(try await eventually { try storedContents(broker, topic: "gateway.json").last == "last" })
            let stored = try storedContents(broker, topic: "gateway.json")
            #expect(stored == ["0:\(matching[0])", "1:\(matching[1])", "last"])
        }
    }

    /// A device message above the largest packet the bridge reads (2 MiB here; default content
    /// limit 10 KiB) is skipped, acknowledged and kept in the rejected log; the connection and
    /// every binding go on. It used to close the connection, and mosquitto redelivered it after
    /// every reconnect: inbound stopped for good.
    @Test func anOversizedDeviceMessageDoesNotStopTheBridge() async throws {
        try await withBridgingBroker { mosquitto, broker in
            _ = try await http("\(broker.baseURL)/rest/open?topic=camera")
            _ = try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=camera&qos=1")
            #expect(await waitUntilBridging(broker))
            let image = String(repeating: "i", count: 2 << 20)
            for qos in [1, 2] {
                let pub = try await run(
                    "/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(mosquitto.port)", "-q", "\(qos)", "-t", "camera", "-s"], stdin: image)
                #expect(pub.status == 0, "\(pub.stderr)")
            }
            try await mosquitto.publish(topic: "camera", message: "small frame")
            #expect(try await eventually { try storedContents(broker, topic: "camera") == ["small frame"] }, "\(broker.log().suffix(3000))")
            let rejected = try #require(
                try JSONSerialization.jsonObject(with: try await http("\(broker.baseURL)/master/mqtt_list_rejected?topic=camera").body) as? [[String: Any]])
            #expect(rejected.count == 2)
            #expect((rejected.first?["reason"] as? String)?.contains("payload of \(2 << 20) bytes exceeds event.content.max-length") == true, "\(rejected)")
            #expect(!broker.log().contains("connection lost"), "\(broker.log().suffix(3000))")
        }
    }

    @Test func aPayloadThatCannotBeAnEventIsAcknowledgedCountedAndKept() async throws {
        try await withBridgingBroker(extra: "event.content.max-length=16") { mosquitto, broker in
            _ = try await http("\(broker.baseURL)/rest/open?topic=small")
            _ = try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=small&qos=1")
            #expect(await waitUntilBridging(broker))
            try await mosquitto.publish(topic: "small", message: String(repeating: "x", count: 17))
            try await mosquitto.publish(topic: "small", message: "fits")
            #expect(try await eventually { try storedContents(broker, topic: "small") == ["fits"] })
            // The counter moves just after the store answered: read until it has.
            var list: [[String: Any]] = []
            _ = try await eventually {
                list = (try JSONSerialization.jsonObject(with: try await http("\(broker.baseURL)/master/mqtt_list_topic").body) as? [[String: Any]]) ?? []
                return list.first?["bridged"] as? Int == 1
            }
            #expect(list.first?["rejected"] as? Int == 1)
            #expect(list.first?["bridged"] as? Int == 1)
            #expect((list.first?["lastError"] as? String)?.contains("exceeds max length") == true)
            let rejected = try #require(
                try JSONSerialization.jsonObject(with: try await http("\(broker.baseURL)/master/mqtt_list_rejected?topic=small").body) as? [[String: Any]])
            #expect(rejected.count == 1)
            #expect((rejected.first?["payload"] as? String).flatMap { Data(base64Encoded: $0) } == Data(String(repeating: "x", count: 17).utf8))
            #expect(rejected.first?["mqttTopic"] as? String == "small")
            // The same figures in the Prometheus metrics.
            let metrics = try await http("\(broker.baseURL)/metrics").text
            #expect(metrics.contains(#"weevent_mqtt_messages_bridged_total{direction="inbound"} 1"#), "\(metrics)")
            #expect(metrics.contains("weevent_mqtt_messages_rejected_total 1"))
            #expect(metrics.contains("weevent_leader_changes_total 1"))
        }
    }

    /// QoS 2 inbound, weevent SIGKILLed mid-stream and restarted: every message stored exactly once.
    @Test func qos2InboundIsStoredExactlyOnceAcrossSIGKILL() async throws {
        try await withBridgingBroker { mosquitto, broker in
            _ = try await http("\(broker.baseURL)/rest/open?topic=exactly.once")
            _ = try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=exactly.once&qos=2")
            #expect(await waitUntilBridging(broker))

            let total = 3000
            let messages = (1...total).map { "m\($0)" }
            let publisher = Task.detached { try await mosquitto.publish(topic: "exactly.once", lines: messages, qos: 2) }
            #expect(try await eventually { try storedContents(broker, topic: "exactly.once").count >= 300 })
            broker.kill(signal: SIGKILL)
            _ = await broker.waitForExit()
            let beforeRestart = try storedContents(broker, topic: "exactly.once").count
            try await broker.start()
            try await publisher.value
            #expect(try await eventually(within: .seconds(60)) { try storedContents(broker, topic: "exactly.once").count >= total })
            try await Task.sleep(for: .seconds(1))
            let stored = try storedContents(broker, topic: "exactly.once")
            let duplicates = stored.count - Set(stored).count
            print("QoS 2 across SIGKILL: \(beforeRestart) stored before the kill, \(stored.count) in all, \(duplicates) duplicates")
            #expect(Set(stored) == Set(messages))
            #expect(duplicates == 0)
            #expect(stored.count == total)
        }
    }

    /// A sensor repeating its reading: a QoS 2 message that reaches the bridge but is never
    /// stored (the bridge dies first) comes again with DUP=1 and the packet id of an earlier,
    /// completed message with the same topic and payload. It is a new message and must be stored.
    /// A mosquitto that comes back without its sessions numbers packet ids from 1 again, which
    /// makes the reuse immediate.
    @Test func aRedeliveredQoS2MessageThatWasNeverStoredIsStoredEvenWhenAnOldOneLookedTheSame() async throws {
        try await withBridgingBroker { mosquitto, broker in
            _ = try await http("\(broker.baseURL)/rest/open?topic=sensor")
            _ = try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=sensor&qos=2")
            #expect(await waitUntilBridging(broker))
            // First reading: packet id 1, stored, PUBREC, PUBREL, PUBCOMP.
            try await mosquitto.publish(topic: "sensor", message: "21.5", qos: 2)
            #expect(try await eventually { try storedContents(broker, topic: "sensor") == ["21.5"] })
            try await Task.sleep(for: .milliseconds(500))
            // mosquitto comes back without the bridge's session: the bridge subscribes again, and
            // the broker's packet ids for it start at 1 again.
            try await mosquitto.restartForgettingSessions()
            // The client subscribes again by itself when the broker reports no session.
            #expect(await eventually { broker.log().components(separatedBy: "state=connected(sessionPresent: false)").count - 1 >= 2 })
            try await Task.sleep(for: .milliseconds(500))
            // The same reading again reaches the bridge's socket, but the bridge never reads it.
            broker.kill(signal: SIGSTOP)
            try await mosquitto.publish(topic: "sensor", message: "21.5", qos: 2)
            try await Task.sleep(for: .milliseconds(500))
            broker.kill(signal: SIGKILL)
            _ = await broker.waitForExit()
            #expect(try storedContents(broker, topic: "sensor") == ["21.5"])
            // Restarted, the bridge gets it again (DUP=1, packet id 1): a new reading, stored.
            try await broker.start()
            #expect(try await eventually { try storedContents(broker, topic: "sensor") == ["21.5", "21.5"] })
            try await Task.sleep(for: .seconds(1))
            #expect(try storedContents(broker, topic: "sensor") == ["21.5", "21.5"])
        }
    }

    /// Two instances: the leader is SIGKILLed during a QoS 1 stream; the other takes over and
    /// every message is in a ledger (at least once; duplicates are counted and reported).
    @Test func theFollowerTakesOverWhenTheLeaderIsKilled() async throws {
        try await withTwoInstances { mosquitto, a, b in
            for broker in [a, b] { #expect(try await http("\(broker.baseURL)/rest/open?topic=failover").text == "true") }
            // A binding made on either instance is seen by both.
            #expect(try await http("\(b.baseURL)/master/mqtt_add_inbound_topic?topic=failover&qos=1").text == "true")
            #expect(
                await eventually { a.log().contains("[Bridge] subscribed") || b.log().contains("[Bridge] subscribed") },
                "A:\n\(a.log().suffix(3000))\nB:\n\(b.log().suffix(3000))")
            let (leader, follower) = a.log().contains("[Bridge] subscribed") ? (a, b) : (b, a)
            let listed = try JSONSerialization.jsonObject(with: try await http("\(follower.baseURL)/master/mqtt_list_topic").body) as? [[String: Any]]
            #expect(listed?.count == 1)

            let total = 4000
            let messages = (1...total).map { "f\($0)" }
            let publisher = Task.detached { try await mosquitto.publish(topic: "failover", lines: messages, qos: 1) }
            #expect(try await eventually { try storedContents(leader, topic: "failover").count >= 500 })
            leader.kill(signal: SIGKILL)
            try await publisher.value
            #expect(
                try await eventually(within: .seconds(60)) {
                    Set(try storedContents(leader, topic: "failover") + storedContents(follower, topic: "failover")).count >= total
                })
            let first = try storedContents(leader, topic: "failover")
            let second = try storedContents(follower, topic: "failover")
            let all = first + second
            print("failover: old leader stored \(first.count), new leader \(second.count), \(all.count - Set(all).count) duplicates")
            #expect(Set(all) == Set(messages))
            #expect(follower.log().contains("state=leader"))
        }
    }

    /// Outbound across a failover: the checkpoint counts in the old leader's ledger, so the new
    /// leader publishes its own events since the binding was made (those sent to it while it
    /// followed included), then new ones; none of its events is skipped.
    @Test func theNextLeaderPublishesItsOwnEventsSinceTheOutboundBindingWasMade() async throws {
        try await withTwoInstances { mosquitto, a, b in
            let topic = "commands.failover"
            for broker in [a, b] {
                #expect(try await http("\(broker.baseURL)/rest/open?topic=\(topic)").text == "true")
                _ = try await http("\(broker.baseURL)/rest/publish?topic=\(topic)&content=history")
            }
            let device = try MosquittoSubscriber(port: mosquitto.port, topic: topic, qos: 1)
            defer { device.stop() }
            #expect(try await device.waitUntilSubscribed(mosquitto, topic: topic))
            #expect(try await http("\(a.baseURL)/master/mqtt_add_outbound_topic?topic=\(topic)&qos=1").text == "true")
            #expect(await eventually { a.log().contains("outbound bridge started") || b.log().contains("outbound bridge started") })
            let (leader, follower) = a.log().contains("outbound bridge started") ? (a, b) : (b, a)
            func publish(_ contents: [String], to broker: BrokerProcess) async throws {
                for content in contents {
                    #expect(try await http("\(broker.baseURL)/rest/publish?topic=\(topic)&content=\(content)").object["status"] as? String == "SUCCESS")
                }
            }
            try await publish(["l1", "l2", "l3"], to: leader)
            #expect(await device.waitFor(count: 3) == ["l1", "l2", "l3"])
            try await publish(["f1", "f2"], to: follower)  // stored in the follower's ledger; it does not bridge
            try await Task.sleep(for: .seconds(1))
            #expect(device.lines == ["l1", "l2", "l3"])

            leader.kill(signal: SIGKILL)
            #expect(await eventually(within: .seconds(30)) { follower.log().contains("outbound bridge started") })
            try await publish(["n1", "n2"], to: follower)
            let received = await device.waitFor(count: 7, timeout: .seconds(30))
            #expect(received == ["l1", "l2", "l3", "f1", "f2", "n1", "n2"], "new leader's log:\n\(follower.log().suffix(3000))")
            #expect(follower.log().contains("outbound binding taken over from another ledger"))
        }
    }

    /// ZooKeeper restarted: the bindings are still there and bridging goes on.
    @Test func bindingsSurviveAZooKeeperRestart() async throws {
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        var zookeeper = try await ZooKeeperServer.start()
        defer { Task { [zookeeper] in try? await zookeeper.stop() } }
        let broker = try BrokerProcess(extraConfig: bridgeConfig(mosquitto, zookeeper: zookeeper))
        defer { broker.remove() }
        try await broker.start()
        _ = try await http("\(broker.baseURL)/rest/open?topic=zk.restart")
        let added = try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=zk.restart&qos=1").text
        #expect(added == "true", "\(added)\n\(broker.log().suffix(3000))")
        #expect(await waitUntilBridging(broker))
        try await mosquitto.publish(topic: "zk.restart", message: "before")
        #expect(try await eventually { try storedContents(broker, topic: "zk.restart") == ["before"] })

        try await zookeeper.stop()
        zookeeper = try await zookeeper.restart()
        // The binding is still listed (once the session is back) and messages still flow.
        #expect(
            await eventually(within: .seconds(30)) {
                guard let listed = try? await http("\(broker.baseURL)/master/mqtt_list_topic") else { return false }
                return (try? JSONSerialization.jsonObject(with: listed.body) as? [[String: Any]])?.count == 1
            })
        try await mosquitto.publish(topic: "zk.restart", message: "after")
        #expect(
            try await eventually(within: .seconds(30)) { try storedContents(broker, topic: "zk.restart").contains("after") },
            "\(broker.log().suffix(4000))")
    }

    /// mqtt_add_inbound_topic answers `true` only once the bridge holds the subscription, so a
    /// QoS 0 message a device sends right after the answer is stored: on a single instance, and
    /// through the follower of two while the leader runs the bridge.
    @Test func aBindingAnswersWhenItIsLiveAndTheNextQoS0MessageIsStored() async throws {
        try await withBridgingBroker { mosquitto, broker in
            #expect(try await http("\(broker.baseURL)/rest/open?topic=live.one").text == "true")
            #expect(try await http("\(broker.baseURL)/master/mqtt_add_inbound_topic?topic=live.one&qos=0").text == "true")
            try await mosquitto.publish(topic: "live.one", message: "right after", qos: 0)
            #expect(try await eventually { try storedContents(broker, topic: "live.one") == ["right after"] })
        }
        try await withTwoInstances { mosquitto, a, b in
            #expect(await eventually(within: .seconds(30)) { a.log().contains("state=leader") || b.log().contains("state=leader") })
            let (leader, follower) = a.log().contains("state=leader") ? (a, b) : (b, a)
            for broker in [a, b] { #expect(try await http("\(broker.baseURL)/rest/open?topic=live.two").text == "true") }
            let answer = try await http("\(follower.baseURL)/master/mqtt_add_inbound_topic?topic=live.two&qos=0")
            #expect(answer.text == "true", "\(answer.status) \(answer.text)")
            try await mosquitto.publish(topic: "live.two", message: "right after, through the follower", qos: 0)
            #expect(try await eventually { try storedContents(leader, topic: "live.two") == ["right after, through the follower"] })
        }
    }

    /// Each group's latest signed checkpoint goes to mosquitto retained: a device that subscribes
    /// later gets it at once, and it verifies with the broker's verifier key.
    @Test func theBridgePublishesEachCheckpointRetained() async throws {
        try await withBridgingBroker(extra: "ledger.checkpoint.interval-ms=100") { mosquitto, broker in
            _ = try await http("\(broker.baseURL)/rest/open?topic=cp")
            for i in 0..<5 { _ = try await http("\(broker.baseURL)/rest/publish?topic=cp&content=e\(i)") }
            let key = try await broker.run(["key", "show", "--config", broker.configPath]).1.split(separator: "\n").last.map(String.init) ?? ""
            var note = ""
            let found = await eventually(within: .seconds(20)) {
                let received = try? await run(
                    "/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(mosquitto.port)", "-t", "weevent/checkpoint/1", "-C", "1", "-W", "3", "-N"])
                note = received?.stdout ?? ""
                return note.hasPrefix("weevent.localhost/1\n5\n")
            }
            #expect(found, "last message: \(note)")
            let path = broker.directory + "/mqtt-checkpoint.txt"
            try note.write(toFile: path, atomically: true, encoding: .utf8)
            let check = try await run("/usr/bin/env", ["python3", repositoryRoot + "/scripts/check-proof.py", "note", path, key])
            #expect(check.status == 0, "\(check.stdout)")
        }
    }
}
