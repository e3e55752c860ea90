import Foundation
import Testing
import TestSupport

/// The bridge on the shared ledger: two instances, one PostgreSQL, one ZooKeeper, one mosquitto.
/// Positions, checkpoints and QoS 2 receipts live in the one ledger, so the next leader goes on
/// exactly where the killed one was acknowledged.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SharedLedgerFailoverTests {
    struct Cluster {
        let mosquitto: Mosquitto
        let a: BrokerProcess
        let b: BrokerProcess
        let postgres: PostgresServer
        let schema: String

        /// What the shared ledger holds for `topic`, in ledger order.
        func stored(_ topic: String) async throws -> [String] {
            let out = try await postgres.psql("SELECT encode(content, 'escape') FROM events WHERE topic = '\(topic)' ORDER BY position", schema: schema)
            return out.split(separator: "\n").map(String.init)
        }

        /// The instance whose bridge logged `marker` first is the leader.
        func leaderAndFollower(after marker: String) async -> (BrokerProcess, BrokerProcess)? {
            guard await eventually(within: .seconds(30), { a.log().contains(marker) || b.log().contains(marker) }) else { return nil }
            return a.log().contains(marker) ? (a, b) : (b, a)
        }
    }

    func withCluster(_ body: (Cluster) async throws -> Void) async throws {
        let mosquitto = try await Mosquitto.start()
        defer { Task { await mosquitto.stop() } }
        let zookeeper = try await ZooKeeperServer.start()
        defer { Task { [zookeeper] in try? await zookeeper.stop() } }
        let postgres = try await PostgresServer.shared.value
        let schema = uniqueSchema("failover")
        let config = """
            mqtt.broker.url=\(mosquitto.url)
            broker.zookeeper.ip=\(zookeeper.hosts)
            broker.zookeeper.timeout=2000
            \(SharedLedgerTests.sharedLedger(postgres, schema: schema))
            """
        let a = try BrokerProcess(extraConfig: config)
        let b = try BrokerProcess(extraConfig: config)
        defer { a.remove(); b.remove() }
        try await a.start()
        try await b.start()
        try await body(Cluster(mosquitto: mosquitto, a: a, b: b, postgres: postgres, schema: schema))
    }

    /// SIGKILL of the leader in the middle of a device's stream: at QoS 2 every message is stored
    /// exactly once; at QoS 1 at least once (duplicates counted and printed).
    @Test(arguments: [2, 1])
    func killingTheLeaderDuringAnInboundStream(qos: Int) async throws {
        try await withCluster { cluster in
            let topic = "failover.qos\(qos)"
            #expect(try await http("\(cluster.a.baseURL)/rest/open?topic=\(topic)").text == "true")
            // Opened on one instance, bound through the other: one broker.
            #expect(try await http("\(cluster.b.baseURL)/master/mqtt_add_inbound_topic?topic=\(topic)&qos=\(qos)").text == "true")
            let roles = await cluster.leaderAndFollower(after: "[Bridge] subscribed")
            let (leader, follower) = try #require(roles)

            let total = 3000
            let messages = (1...total).map { "q\(qos)-\($0)" }
            let device = Task.detached { try await cluster.mosquitto.publish(topic: topic, lines: messages, qos: qos) }
            #expect(try await eventually { try await cluster.stored(topic).count >= 500 })
            leader.kill(signal: SIGKILL)
            let storedAtKill = try await cluster.stored(topic).count
            try await device.value
            #expect(
                try await eventually(within: .seconds(90)) { Set(try await cluster.stored(topic)).count >= total },
                "new leader's log:\n\(follower.log().suffix(3000))")
            try await Task.sleep(for: .seconds(1))
            let stored = try await cluster.stored(topic)
            let duplicates = stored.count - Set(stored).count
            print("shared ledger, QoS \(qos), leader killed: \(storedAtKill) stored at the kill, \(stored.count) in all, \(duplicates) duplicates")
            #expect(Set(stored) == Set(messages))
            if qos == 2 {
                #expect(duplicates == 0, "new leader's log:\n\(follower.log().suffix(6000))")
                #expect(stored.count == total)
            }
            // The follower takes over (after the killed leader's session expires).
            #expect(await eventually(within: .seconds(30)) { follower.log().contains("state=leader") })
            let (status, output) = try await follower.run(["verify", "--config", follower.configPath])
            #expect(status == 0, "\(output)")
        }
    }

    /// rest/request on the instance that does not bridge: its command goes out through the
    /// leader's outbound binding, the device's reply comes in through the leader's inbound one,
    /// and the follower, following the one ledger, answers with it.
    @Test func aRequestOnTheFollowerGetsTheReplyTheLeaderBridged() async throws {
        try await withCluster { cluster in
            for topic in ["commands", "replies"] { _ = try await http("\(cluster.a.baseURL)/rest/open?topic=\(topic)") }
            #expect(try await http("\(cluster.a.baseURL)/master/mqtt_add_outbound_topic?topic=commands&mqttTopic=devices/commands&qos=1").text == "true")
            #expect(try await http("\(cluster.b.baseURL)/master/mqtt_add_inbound_topic?topic=replies&mqttTopic=devices/replies&qos=1").text == "true")
            let roles = await cluster.leaderAndFollower(after: "[Bridge] subscribed")
            let (leader, follower) = try #require(roles)
            #expect(await eventually { leader.log().contains("outbound bridge started") })
            let device = try await ScriptedDevice(mosquitto: cluster.mosquitto, commands: "devices/commands", replies: "devices/replies")
            defer { device.stop() }
            for (index, broker) in [follower, leader, follower].enumerated() {
                let content = #"{"action":"open","header":{"reqid":"cluster-\#(index)"}}"#
                let reply = try await http(
                    "\(broker.baseURL)/rest/request?topic=commands&replyTopic=replies&timeout=10000&content=\(queryValue(content))"
                )
                #expect(reply.status == 200, "\(index): \(reply.text)\nleader's log:\n\(leader.log().suffix(2000))")
                #expect(reply.object["correlationValue"] as? String == "cluster-\(index)")
            }
            #expect(try await cluster.stored("replies").count == 3)
            // What the console's overview shows, from the follower: both instances, the leader, the
            // shared store; and the head block as rest/block reads it from PostgreSQL.
            let status = try await http("\(follower.baseURL)/admin/status").object
            let members = status["cluster"] as? [String: Any]
            #expect((members?["instances"] as? [String])?.count == 2, "\(status)")
            #expect((members?["leader"] as? String)?.hasSuffix(":\(leader.port)") == true, "\(status)")
            #expect(status["store"] as? String == "postgresql")
            #expect((status["zookeeper"] as? [String: Any])?["isLeader"] as? Bool == false)
            let info = try await http("\(follower.baseURL)/admin/blockchaininfo").object
            let height = try #require(info["blockHeight"] as? Int)
            let block = try await http("\(follower.baseURL)/rest/block?height=\(height)").object
            #expect(block["hash"] as? String == info["lastBlockHash"] as? String, "\(block)")
            #expect((block["events"] as? [[String: Any]])?.count == block["eventCount"] as? Int)
        }
    }

    /// Outbound and callbacks across a killed leader: events published on either instance all
    /// reach the device and the callback receiver, in order, none skipped (one resent at the
    /// switch is allowed: at least once).
    @Test func eventsFromAnyInstanceReachTheDeviceAndTheCallbackAcrossAKilledLeader() async throws {
        try await withCluster { cluster in
            let topic = "commands.shared"
            #expect(try await http("\(cluster.a.baseURL)/rest/open?topic=\(topic)").text == "true")
            let device = try MosquittoSubscriber(port: cluster.mosquitto.port, topic: topic, qos: 1)
            defer { device.stop() }
            #expect(try await http("\(cluster.b.baseURL)/master/mqtt_add_outbound_topic?topic=\(topic)&qos=1").text == "true")
            let roles = await cluster.leaderAndFollower(after: "outbound bridge started")
            let (leader, follower) = try #require(roles)
            let receiver = try CallbackReceiver(directory: follower.directory)
            defer { receiver.stop() }
            try await receiver.start()
            let url = receiver.url.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let subscriptionID = try await http("\(follower.baseURL)/rest/subscribe?topic=\(topic)&url=\(url)").text
            #expect(UUID(uuidString: subscriptionID) != nil, "\(subscriptionID)")
            #expect(try await eventually { try await CallbackTests.listed(leader) == [subscriptionID] })
            func publish(_ range: ClosedRange<Int>, _ label: String, to brokers: [BrokerProcess]) async throws -> [String] {
                var sent: [String] = []
                for n in range {
                    let content = "\(label)\(n)"
                    let broker = brokers[n % brokers.count]
                    #expect(try await http("\(broker.baseURL)/rest/publish?topic=\(topic)&content=\(content)").object["status"] as? String == "SUCCESS")
                    sent.append(content)
                }
                return sent
            }
            var sent = try await publish(1...20, "before", to: [leader, follower])
            #expect(await device.waitFor(count: sent.count) == sent)
            leader.kill(signal: SIGKILL)
            sent += try await publish(1...20, "during", to: [follower])
            #expect(await eventually(within: .seconds(30)) { follower.log().contains("outbound bridge started") })
            sent += try await publish(1...20, "after", to: [follower])
            _ = await device.waitFor(count: sent.count, timeout: .seconds(30))
            try await Task.sleep(for: .milliseconds(500))
            var firstArrivals: [String] = []
            for line in device.lines where !firstArrivals.contains(line) { firstArrivals.append(line) }
            print("shared ledger outbound failover: \(device.lines.count) received for \(sent.count) sent")
            #expect(firstArrivals == sent, "new leader's log:\n\(follower.log().suffix(2000))")
            #expect(!follower.log().contains("taken over from another ledger"), "one ledger: the checkpoint is used as it is")
            _ = await eventually(within: .seconds(30)) { Set(receiver.receivedContents()).count >= sent.count }
            let callbacks = receiver.receivedContents()
            print("shared ledger callback failover: \(callbacks.count) callbacks for \(sent.count) sent")
            #expect(CallbackReceiver.firstArrivals(callbacks) == sent, "new leader's log:\n\(follower.log().suffix(2000))")
        }
    }
}
