import Foundation
import TestSupport
import Testing
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// scripts/callback-receiver.py on a loopback port: appends every POSTed body as a line.
final class CallbackReceiver: @unchecked Sendable {
    // @unchecked: `child` and `port` are replaced only by start()/stop(), called from one test task.
    private(set) var port: Int
    private var started = false
    let outPath: String
    private var child: Child?

    init(directory: String) throws {
        port = try freePort()
        outPath = directory + "/callbacks.jsonl"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    }

    var url: String { "http://127.0.0.1:\(port)/callback" }

    /// Starts the receiver. The first start moves to another free port if the chosen one was
    /// taken meanwhile; later starts keep the port (subscriptions point at its URL).
    func start() async throws {
        for _ in 0..<3 where !started {
            do {
                return try await startOnce()
            } catch is PortTaken {
                port = try freePort()
            }
        }
        try await startOnce()
    }

    private struct PortTaken: Error, CustomStringConvertible {
        var description: String { "callback receiver exited at start (its port taken?)" }
    }

    private func startOnce() async throws {
        let child = try Child("/usr/bin/env", ["python3", repositoryRoot + "/scripts/callback-receiver.py", "\(port)", outPath])
        self.child = child
        // Up once it accepts a connection.
        for _ in 0..<200 {
            if !child.isRunning { throw PortTaken() }  // it exits only when it cannot bind
            if (try? await http("http://127.0.0.1:\(port)/")) != nil {
                started = true
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BrokerError("callback receiver did not come up")
    }

    /// Stops it and waits for the exit, so a restart can bind the same port.
    func stop() {
        guard let child, child.isRunning else { return }
        child.kill()
        child.process.waitForExit()
    }

    /// Event ids in the order they arrived (duplicates included: delivery is at least once).
    func received() -> [String] {
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return (object?["event"] as? [String: Any])?["eventId"] as? String
        }
    }

    /// Event contents in the order they arrived (duplicates included). With several instances on
    /// embedded ledgers the same event id can name different events, one per ledger.
    func receivedContents() -> [String] {
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            let content = (object?["event"] as? [String: Any])?["content"] as? String
            return content.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// Waits until `count` distinct events arrived; their ids in order of first arrival.
    func waitForDistinct(_ count: Int, seconds: Int = 60) async throws -> [String] {
        if await eventually(within: .seconds(seconds), { Self.firstArrivals(received()).count >= count }) {
            return Self.firstArrivals(received())
        }
        throw BrokerError("only \(Self.firstArrivals(received()).count) of \(count) callbacks arrived")
    }

    static func firstArrivals(_ ids: [String]) -> [String] {
        var seen: Set<String> = []
        return ids.filter { seen.insert($0).inserted }
    }
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct CallbackTests {
    /// The receiver is down for ten seconds, and the broker restarts meanwhile: every event
    /// still arrives, in ledger order, and the subscription goes on after the restart.
    @Test func callbacksSurviveADownReceiverAndABrokerRestart() async throws {
        let broker = try BrokerProcess()
        defer { broker.remove() }
        try await broker.start()
        let receiver = try CallbackReceiver(directory: broker.directory)
        defer { receiver.stop() }
        try await receiver.start()

        let topic = "callback.test"
        #expect(try await http("\(broker.baseURL)/rest/open?topic=\(topic)").text == "true")
        var published: [String] = []
        func publish(_ n: Int) async throws {
            for _ in 0..<n {
                let reply = try await http("\(broker.baseURL)/rest/publish?topic=\(topic)&content=event-\(published.count)")
                published.append(try #require(reply.object["eventId"] as? String))
            }
        }
        try await publish(5)
        let url = receiver.url.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let subscribe = try await http("\(broker.baseURL)/rest/subscribe?topic=\(topic)&url=\(url)&offset=OFFSET_FIRST")
        #expect(subscribe.status == 200, "\(subscribe.text)")
        let subscriptionID = subscribe.text
        #expect(UUID(uuidString: subscriptionID) != nil)
        #expect(try await receiver.waitForDistinct(5) == published)

        // Down for ten seconds; events published meanwhile; the broker restarts in between.
        receiver.stop()
        let downSince = ContinuousClock.now
        try await publish(10)
        broker.kill(signal: SIGTERM)
        #expect(await broker.waitForExit() == 0)
        try await broker.start()
        let listed = try await http("\(broker.baseURL)/admin/listSubscription")
        let entries = try #require(try JSONSerialization.jsonObject(with: listed.body) as? [[String: Any]])
        #expect(entries.map { $0["subscriptionId"] as? String } == [subscriptionID])
        #expect((entries.first?["delivered"] as? Int ?? 0) >= 5)
        try await Task.sleep(until: downSince + .seconds(10))
        try await receiver.start()
        #expect(try await receiver.waitForDistinct(15) == published)

        // Resuming by id answers the same subscription, and it keeps delivering.
        let resumed = try await http("\(broker.baseURL)/rest/subscribe?topic=\(topic)&url=\(url)&subscriptionId=\(subscriptionID)")
        #expect(resumed.text == subscriptionID)
        try await publish(5)
        #expect(try await receiver.waitForDistinct(20) == published)
        // In order: each event's first arrival comes after every earlier event's.
        #expect(CallbackReceiver.firstArrivals(receiver.received()) == published)

        #expect(try await http("\(broker.baseURL)/rest/unSubscribe?subscriptionId=\(subscriptionID)").text == "true")
        let after = try await http("\(broker.baseURL)/rest/unSubscribe?subscriptionId=\(subscriptionID)")
        #expect(after.object["code"] as? Int == 100504)
    }

    /// With ZooKeeper, two instances share their subscriptions: one made on either is listed by
    /// both, only the leader delivers, and when the leader is killed the other takes the
    /// subscription over. Its own ledger is another one, so it delivers its events sealed since
    /// the subscription was created (published to it while it was not leading), then new ones.
    @Test func theNextLeaderTakesSubscriptionsOver() async throws {
        let zookeeper = try await ZooKeeperServer.start()
        defer { Task { [zookeeper] in try? await zookeeper.stop() } }
        let config = "broker.zookeeper.ip=\(zookeeper.hosts)\nbroker.zookeeper.timeout=2000"
        let a = try BrokerProcess(extraConfig: config)
        let b = try BrokerProcess(extraConfig: config)
        defer { a.remove(); b.remove() }
        try await a.start()
        try await b.start()
        let topic = "shared.callbacks"
        for broker in [a, b] { #expect(try await http("\(broker.baseURL)/rest/open?topic=\(topic)").text == "true") }
        #expect(await eventually { a.log().contains("state=leader") || b.log().contains("state=leader") })
        let (leader, follower) = a.log().contains("state=leader") ? (a, b) : (b, a)
        let receiver = try CallbackReceiver(directory: leader.directory)
        defer { receiver.stop() }
        try await receiver.start()

        // Made on the follower, listed by both, delivered by the leader.
        let url = receiver.url.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let subscriptionID = try await http("\(follower.baseURL)/rest/subscribe?topic=\(topic)&url=\(url)").text
        #expect(UUID(uuidString: subscriptionID) != nil, "\(subscriptionID)")
        for broker in [leader, follower] {
            #expect(try await eventually { try await Self.listed(broker) == [subscriptionID] })
        }
        func publish(_ n: Int, to broker: BrokerProcess, _ label: String) async throws -> [String] {
            var contents: [String] = []
            for i in 0..<n {
                let reply = try await http("\(broker.baseURL)/rest/publish?topic=\(topic)&content=\(label)-\(i)")
                #expect(reply.object["eventId"] is String)
                contents.append("\(label)-\(i)")
            }
            return contents
        }
        func arrived(_ count: Int) async -> [String] {
            _ = await eventually(within: .seconds(30)) { Set(receiver.receivedContents()).count >= count }
            return CallbackReceiver.firstArrivals(receiver.receivedContents())
        }
        let fromLeader = try await publish(5, to: leader, "leader")
        #expect(await arrived(5) == fromLeader)
        // Published to the follower meanwhile: in its ledger, not delivered while it follows.
        let fromFollower = try await publish(3, to: follower, "follower")
        try await Task.sleep(for: .seconds(1))
        #expect(CallbackReceiver.firstArrivals(receiver.receivedContents()) == fromLeader)

        leader.kill(signal: SIGKILL)
        #expect(await eventually(within: .seconds(30)) { follower.log().contains("state=leader") })
        let afterTakeover = try await publish(2, to: follower, "later")
        #expect(await arrived(10) == fromLeader + fromFollower + afterTakeover, "new leader's log:\n\(follower.log().suffix(3000))")
        #expect(follower.log().contains("subscription taken over from another ledger"))

        // The receiver logs an event before the broker has its answer and counts it.
        #expect(
            try await eventually {
                let listed = try JSONSerialization.jsonObject(with: try await http("\(follower.baseURL)/admin/listSubscription").body) as? [[String: Any]]
                return listed?.first?["delivered"] as? Int == 10
            })
        #expect(try await http("\(follower.baseURL)/rest/unSubscribe?subscriptionId=\(subscriptionID)").text == "true")
        #expect(try await Self.listed(follower) == [])
    }

    static func listed(_ broker: BrokerProcess) async throws -> [String] {
        let body = try await http("\(broker.baseURL)/admin/listSubscription").body
        let entries = try JSONSerialization.jsonObject(with: body) as? [[String: Any]] ?? []
        return entries.compactMap { $0["subscriptionId"] as? String }
    }

    /// `curl -N` follows a stream; SIGTERM ends the stream and the broker exits cleanly.
    @Test func curlFollowsAStreamAndSIGTERMEndsIt() async throws {
        let broker = try BrokerProcess()
        defer { broker.remove() }
        try await broker.start()
        #expect(try await http("\(broker.baseURL)/rest/open?topic=curl.test").text == "true")
        let out = broker.directory + "/stream.txt"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let curl = try Child("/usr/bin/env", ["curl", "-sN", "-o", out, "\(broker.baseURL)/rest/stream?topic=curl.test&offset=OFFSET_FIRST"])
        defer { if curl.isRunning { curl.kill() } }
        for i in 0..<3 {
            _ = try await http("\(broker.baseURL)/rest/publish?topic=curl.test&content=c\(i)")
        }
        var lines: [Substring] = []
        for _ in 0..<400 {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n").filter { $0.hasPrefix("id: ") }
            if lines.count >= 3 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(lines.count == 3)
        broker.kill(signal: SIGTERM)
        #expect(await broker.waitForExit() == 0)
        _ = await curl.wait()
    }
}
