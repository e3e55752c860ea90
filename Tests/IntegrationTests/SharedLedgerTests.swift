import Foundation
import Testing
import TestSupport

/// Several `weevent serve` processes on one PostgreSQL (`ledger.store=postgresql`) behave as one broker.
@Suite(.serialized) struct SharedLedgerTests {
    /// The configuration lines that put a broker on `server`'s schema `schema`.
    static func sharedLedger(_ server: PostgresServer, schema: String) -> String {
        """
        ledger.store=postgresql
        ledger.postgresql.url=\(server.url())
        ledger.postgresql.schema=\(schema)
        ledger.postgresql.pool-size=8
        ledger.postgresql.timeout-ms=3000
        ledger.signing-key=\(FileManager.default.temporaryDirectory.path)/weevent-keys/\(schema).key
        """
    }

    /// Runs `body` with `count` brokers sharing one fresh schema on `server`.
    func withInstances(
        _ count: Int, on server: PostgresServer? = nil, _ body: ([BrokerProcess], PostgresServer, String) async throws -> Void
    ) async throws {
        let server = try await { if let server { return server } else { return try await PostgresServer.shared.value } }()
        let schema = uniqueSchema("cluster")
        let brokers = try (0..<count).map { _ in try BrokerProcess(extraConfig: Self.sharedLedger(server, schema: schema)) }
        defer { for broker in brokers { broker.remove() } }
        for broker in brokers { try await broker.start() }
        try await body(brokers, server, schema)
    }

    @Test func threeInstancesServeTheSameTopicsEventsAndOneChain() async throws {
        try await withInstances(3) { brokers, server, schema in
            let (a, b, c) = (brokers[0], brokers[1], brokers[2])
            #expect(try await http("\(a.baseURL)/rest/open?topic=shared.t").text == "true")
            #expect(try await http("\(b.baseURL)/rest/exist?topic=shared.t").text == "true")
            #expect(try await http("\(c.baseURL)/rest/exist?topic=shared.t").text == "true")

            // 3 x 16 publishers, spread over the three instances.
            let published = Shared<[(id: String, content: String)]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for publisher in 0..<48 {
                    let broker = brokers[publisher % 3]
                    group.addTask {
                        for n in 0..<10 {
                            let content = "p\(publisher)-\(n)"
                            let reply = try await http("\(broker.baseURL)/rest/publish?topic=shared.t&content=\(content)")
                            guard reply.status == 200, let id = reply.object["eventId"] as? String else {
                                throw BrokerError("publish on \(broker.port) answered \(reply.status): \(reply.text)")
                            }
                            published.withLock { $0.append((id, content)) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let all = published.withLock { $0 }
            #expect(all.count == 480)
            #expect(Set(all.map(\.id)).count == all.count, "event ids are unique across the cluster")

            // Every acknowledged event reads back with its content on every instance.
            let mismatches = Shared<[String]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, event) in all.enumerated() {
                    group.addTask {
                        for broker in brokers {
                            let reply = try await http("\(broker.baseURL)/rest/getEvent?eventId=\(event.id)")
                            let content = (reply.object["content"] as? String).flatMap { Data(base64Encoded: $0) }
                            if content != Data(event.content.utf8) { mismatches.withLock { $0.append("\(event.id) on \(broker.port)") } }
                        }
                    }
                    if i % 32 == 31 { try await group.waitForAll() }
                }
                try await group.waitForAll()
            }
            #expect(mismatches.withLock { $0 }.isEmpty)

            // One chain: heights 1...n, each block linked to the one before, verify passes.
            let info = try await http("\(c.baseURL)/admin/blockchaininfo").object
            #expect(info["eventCount"] as? Int == 480)
            let height = try #require(info["blockHeight"] as? Int)
            let links = try await server.psql(
                "SELECT count(*), min(b.height), max(b.height) FROM blocks b LEFT JOIN blocks p ON p.height = b.height - 1 "
                    + "WHERE b.height = 1 OR b.prev_hash = p.hash", schema: schema
            )
            #expect(links.trimmingCharacters(in: .whitespacesAndNewlines) == "\(height)|1|\(height)")
            let (status, output) = try await b.run(["verify", "--config", b.configPath])
            #expect(status == 0, "\(output)")
            #expect(output.contains("480 events, ") && output.contains("chain intact"), "\(output)")
        }
    }

    @Test func aStreamOnOneInstanceReceivesWhatAnotherPublishes() async throws {
        try await withInstances(2) { brokers, _, _ in
            let (a, c) = (brokers[0], brokers[1])
            #expect(try await http("\(a.baseURL)/rest/open?topic=stream.t").text == "true")
            let out = c.directory + "/stream.txt"
            _ = FileManager.default.createFile(atPath: out, contents: nil)
            let curl = try Spawned("/usr/bin/env", ["curl", "-sN", "-o", out, "\(c.baseURL)/rest/stream?topic=stream.t&offset=OFFSET_LAST"])
            // SIGKILL: the test runner's blocked SIGTERM is inherited by its children.
            defer { curl.signal(SIGKILL); curl.waitForExit() }
            #expect(await eventually(within: .seconds(10)) { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("weevent stream") })
            var ids: [String] = []
            for n in 0..<5 {
                let reply = try await http("\(a.baseURL)/rest/publish?topic=stream.t&content=live\(n)")
                ids.append(try #require(reply.object["eventId"] as? String))
            }
            let arrived = await eventually(within: .seconds(10)) {
                let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
                return ids.allSatisfy { text.contains("id: \($0)") }
            }
            #expect(arrived, "stream on the other instance: \((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
        }
    }

    /// PostgreSQL restarted while clients publish: acknowledged events are all there afterwards,
    /// failures during the outage are WeEvent's 200500 (503), and publishing works again without
    /// restarting the brokers.
    @Test func aPostgreSQLRestartLosesNothingAcknowledgedAndPublishingResumes() async throws {
        let server = try await PostgresServer.start()
        var current = server
        defer { Task { [current] in try? await current.stop() } }
        try await withInstances(2, on: server) { brokers, _, _ in
            #expect(try await http("\(brokers[0].baseURL)/rest/open?topic=restart.t").text == "true")
            let acknowledged = Shared<[String]>([])
            let refusals = Shared<[String]>([])
            let stop = Shared(false)
            let load = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for publisher in 0..<8 {
                        let broker = brokers[publisher % 2]
                        group.addTask {
                            var n = 0
                            while !stop.withLock({ $0 }) {
                                n += 1
                                let reply = try? await http("\(broker.baseURL)/rest/publish?topic=restart.t&content=r\(publisher)-\(n)")
                                if let reply, reply.status == 200, let id = reply.object["eventId"] as? String {
                                    acknowledged.withLock { $0.append(id) }
                                } else {
                                    refusals.withLock { $0.append(reply.map { "\($0.status) \($0.text)" } ?? "no answer") }
                                    try await Task.sleep(for: .milliseconds(100))
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            try await Task.sleep(for: .seconds(1))
            try await server.stop()
            try await Task.sleep(for: .seconds(2))
            current = try await server.restart()
            // Both instances publish again by themselves.
            let before = acknowledged.withLock { $0.count }
            #expect(await eventually(within: .seconds(30)) { acknowledged.withLock { $0.count } > before + 50 })
            stop.withLock { $0 = true }
            try await load.value
            let refused = refusals.withLock { $0 }
            #expect(!refused.isEmpty, "the outage was seen")
            #expect(refused.allSatisfy { $0.hasPrefix("503 ") && $0.contains("200500") }, "\(Set(refused))")
            let ids = acknowledged.withLock { $0 }
            var missing: [String] = []
            for id in ids where try await http("\(brokers[1].baseURL)/rest/getEvent?eventId=\(id)").status != 200 { missing.append(id) }
            #expect(missing.isEmpty, "acknowledged but not stored: \(missing.prefix(10))")
            let (status, output) = try await brokers[0].run(["verify", "--config", brokers[0].configPath])
            #expect(status == 0, "\(output)")
        }
    }

    /// `weevent ledger copy` moves an embedded ledger into PostgreSQL with every id and hash.
    @Test func anEmbeddedLedgerCopiedIntoPostgreSQLKeepsEveryIdAndHash() async throws {
        let server = try await PostgresServer.shared.value
        let embedded = try BrokerProcess()
        defer { embedded.remove() }
        try await embedded.start()
        var published: [(id: String, content: String)] = []
        for topic in ["copy.a", "copy.b"] {
            #expect(try await http("\(embedded.baseURL)/rest/open?topic=\(topic)").text == "true")
        }
        for n in 0..<300 {
            let content = "c\(n)"
            let reply = try await http("\(embedded.baseURL)/rest/publish?topic=copy.\(n % 3 == 0 ? "b" : "a")&content=\(content)&weevent-n=\(n)")
            published.append((try #require(reply.object["eventId"] as? String), content))
        }
        _ = try await http("\(embedded.baseURL)/rest/close?topic=copy.b")
        let before = try await http("\(embedded.baseURL)/admin/blockchaininfo").object
        embedded.kill(signal: SIGTERM)
        _ = await embedded.waitForExit()

        let shared = try BrokerProcess(extraConfig: Self.sharedLedger(server, schema: uniqueSchema("copy")))
        defer { shared.remove() }
        let (status, output) = try await shared.run(["ledger", "copy", "--from", embedded.configPath, "--to", shared.configPath])
        #expect(status == 0, "\(output)")
        #expect(output.contains("300 events) copied") && output.contains("300 events, ") && output.contains("chain intact"), "\(output)")
        // Again: nothing left to copy, the chain is recognised as the same.
        let (again, secondOutput) = try await shared.run(["ledger", "copy", "--from", embedded.configPath, "--to", shared.configPath])
        #expect(again == 0 && secondOutput.contains("0 blocks (0 events) copied") && secondOutput.contains("were already there"), "\(secondOutput)")

        try await shared.start()
        let after = try await http("\(shared.baseURL)/admin/blockchaininfo").object
        #expect(after["lastBlockHash"] as? String == before["lastBlockHash"] as? String)
        #expect(after["blockHeight"] as? Int == before["blockHeight"] as? Int)
        #expect(after["topicCount"] as? Int == 1)
        for (n, event) in published.enumerated() {
            let reply = try await http("\(shared.baseURL)/rest/getEvent?eventId=\(event.id)").object
            #expect((reply["content"] as? String).flatMap { Data(base64Encoded: $0) } == Data(event.content.utf8), "\(event.id)")
            #expect((reply["extensions"] as? [String: String])?["weevent-n"] == "\(n)")
        }
        // The copy goes on as its own chain: the next event follows the copied ones.
        let next = try await http("\(shared.baseURL)/rest/publish?topic=copy.a&content=next").object["eventId"] as? String
        #expect(next?.split(separator: "-")[1] == "201")
        #expect(try await http("\(shared.baseURL)/rest/exist?topic=copy.b").text == "false")
    }
}
