import Foundation
import GRDB
import Testing
import TestSupport

/// Retention and erasure on a running broker, each store: content past its retention goes and
/// fresh content stays, readers are told (getEvent, rest/events, a replaying rest/stream), and
/// every proof still checks with scripts/check-proof.py; an erased event's content is gone from
/// the store itself and the erasure is on the audit trail.
@Suite(.serialized) struct RetentionTests {
    static func config(_ store: String, _ extra: String) async throws -> String {
        var config = extra + "\nledger.checkpoint.interval-ms=100"
        if store == "postgresql" {
            config += "\n" + SharedLedgerTests.sharedLedger(try await PostgresServer.shared.value, schema: uniqueSchema("retention"))
        }
        return config
    }

    static func publish(_ broker: BrokerProcess, topic: String, _ contents: [String]) async throws -> [String] {
        var ids: [String] = []
        for content in contents {
            let reply = try await http(
                "\(broker.baseURL)/rest/publish?topic=\(topic.percentEncoded)&content=\(content.percentEncoded)&weevent-note=n-\(content)")
            ids.append(try #require(reply.object["eventId"] as? String, "\(reply.text)"))
        }
        return ids
    }

    static func event(_ broker: BrokerProcess, _ id: String) async throws -> [String: Any] {
        try await http("\(broker.baseURL)/rest/getEvent?eventId=\(id)").object
    }

    /// check-proof.py on the event's proof (tree form with the broker's key, and chain form).
    static func expectProofsCheck(_ broker: BrokerProcess, _ id: String, vkey: String) async throws -> String {
        let dir = broker.directory
        var said = ""
        for (form, extra) in [("tree", ["--vkey", vkey]), ("chain", [])] {
            var proof = try await http("\(broker.baseURL)/rest/proof?eventId=\(id)&form=\(form)")
            // A tree proof to a signed checkpoint: the next one is at most 100 ms away.
            for _ in 0..<50 where form == "tree" && !(proof.object["checkpoint"] is String) {
                try await Task.sleep(for: .milliseconds(100))
                proof = try await http("\(broker.baseURL)/rest/proof?eventId=\(id)&form=\(form)")
            }
            #expect(proof.status == 200, "\(proof.text)")
            let file = "\(dir)/proof-\(id)-\(form).json"
            try proof.body.write(to: URL(fileURLWithPath: file))
            let check = try await run("/usr/bin/env", ["python3", repositoryRoot + "/scripts/check-proof.py", file] + extra)
            #expect(check.status == 0, "\(form) proof of \(id): \(check.stdout)\(check.stderr)")
            said += check.stdout
        }
        return said
    }

    @Test(arguments: ["sqlite", "postgresql"]) func oldContentGoesNewStaysAndProofsStillCheck(_ store: String) async throws {
        let broker = try BrokerProcess(
            extraConfig: try await Self.config(store, "ledger.retention.max-age=5s\nledger.retention.interval-ms=200\nledger.block.max-events=4"))
        defer { broker.remove() }
        try await broker.start()
        let (_, shown) = try await broker.run(["key", "show", "--config", broker.configPath])
        let vkey = shown.split(separator: "\n").last.map(String.init) ?? ""
        _ = try await http("\(broker.baseURL)/rest/open?topic=sensors/t1")
        _ = try await http("\(broker.baseURL)/rest/open?topic=records/r1")
        let kept = try await http("\(broker.baseURL)/admin/setRetention?topic=records/%23&maxAge=keep")
        #expect(kept.status == 200 && (kept.object["topics"] as? [[String: String]])?.first?["maxAge"] == "keep", "\(kept.text)")
        let old = try await Self.publish(broker, topic: "sensors/t1", (0..<12).map { "old-\($0)" })
        let records = try await Self.publish(broker, topic: "records/r1", ["record-0", "record-1"])

        let pruned = await eventually(within: .seconds(20)) {
            (try? await Self.event(broker, old[11]))?["pruned"] != nil
        }
        #expect(pruned, "old events were not pruned; log:\n\(broker.log().suffix(3000))")
        // Fresh events keep their content. They too go 5 s after their block, so an answer that
        // a loaded machine gives later than that says nothing: published again until two are
        // read in time (an event read less than 5 s after it was sent must be whole).
        var new: [String] = []
        var published = 0
        var checked = false
        for attempt in 0..<5 {
            let sent = ContinuousClock.now
            new = try await Self.publish(broker, topic: "sensors/t1", ["new-\(attempt)-0", "new-\(attempt)-1"])
            published += new.count
            var inTime = true
            for id in records + new {
                let event = try await Self.event(broker, id)
                guard ContinuousClock.now - sent < .milliseconds(4500) else {
                    inTime = false
                    break
                }
                #expect(event["pruned"] == nil && (event["content"] as? String)?.isEmpty == false, "\(event)")
            }
            if inTime {
                checked = true
                break
            }
        }
        #expect(checked, "no fresh event could be read within 4.5 s of its publish in five tries")

        let first = try await Self.event(broker, old[0])
        let mark = try #require(first["pruned"] as? [String: Any], "\(first)")
        #expect(first["content"] as? String == "" && mark["reason"] as? String == "retention")
        #expect((mark["eventHash"] as? String)?.count == 64 && (first["extensions"] as? [String: String]) == [:])
        let record = try await Self.event(broker, records[0])
        #expect(record["pruned"] == nil && record["content"] as? String == "record-0".base64, "a kept topic's event stays: \(record)")
        // Replays mark pruned events: a page of history, and a stream from the first event.
        let page = try await http("\(broker.baseURL)/rest/events?topic=sensors/t1&offset=OFFSET_FIRST&limit=100").object
        let events = try #require(page["events"] as? [[String: Any]])
        #expect(events.count == 12 + published && events.prefix(12).allSatisfy { $0["pruned"] != nil && $0["content"] as? String == "" })
        let streamed = "\(broker.directory)/stream.txt"
        let curl = try Child("/usr/bin/env", ["curl", "-sN", "-m", "2", "-o", streamed, "\(broker.baseURL)/rest/stream?topic=sensors/t1&offset=OFFSET_FIRST"])
        _ = await curl.wait()
        let stream = (try? String(contentsOfFile: streamed, encoding: .utf8)) ?? ""
        #expect(stream.components(separatedBy: "\"pruned\":{").count - 1 >= 12 && stream.contains("id: \(new[1])"), "\(stream.prefix(2000))")

        let said = try await Self.expectProofsCheck(broker, old[0], vkey: vkey)
        #expect(said.contains("content retention at"), "\(said)")
        _ = try await Self.expectProofsCheck(broker, new[1], vkey: vkey)
        _ = try await Self.expectProofsCheck(broker, records[0], vkey: vkey)

        let status = try await http("\(broker.baseURL)/admin/getRetention").object
        #expect(status["maxAge"] as? String == "5s" && ((status["prunedSinceStart"] as? [String: Any])?["events"] as? Int ?? 0) >= 12, "\(status)")
        broker.kill(signal: SIGTERM)
        #expect(await broker.waitForExit() == 0)
        let (verified, report) = try await broker.run(["verify", "--config", broker.configPath])
        #expect(verified == 0 && report.contains("pruned") && report.contains("chain intact"), "\(report)")
        if store == "sqlite" {
            let contents = try storedContents(broker, topic: "sensors/t1")
            #expect(contents.count == 12 + published && contents.prefix(12).allSatisfy(\.isEmpty), "\(contents)")
        }
    }

    @Test(arguments: ["sqlite", "postgresql"]) func anErasedEventIsGoneFromTheStoreAndTheAuditTrailSaysSo(_ store: String) async throws {
        let schema = uniqueSchema("erase")
        var config = "ledger.checkpoint.interval-ms=100"
        if store == "postgresql" { config += "\n" + SharedLedgerTests.sharedLedger(try await PostgresServer.shared.value, schema: schema) }
        let broker = try BrokerProcess(extraConfig: config)
        defer { broker.remove() }
        try await broker.start()
        let (_, shown) = try await broker.run(["key", "show", "--config", broker.configPath])
        let vkey = shown.split(separator: "\n").last.map(String.init) ?? ""
        _ = try await http("\(broker.baseURL)/rest/open?topic=people")
        let marker = "jane-doe-\(UUID().uuidString.prefix(8))"
        let ids = try await Self.publish(broker, topic: "people", ["someone-else", marker, "a-third"])

        let erased = try await http("\(broker.baseURL)/admin/eraseEvent?eventId=\(ids[1])")
        #expect(erased.status == 200 && (erased.object["pruned"] as? [String: Any])?["reason"] as? String == "erased", "\(erased.text)")
        let event = try await Self.event(broker, ids[1])
        #expect(event["content"] as? String == "" && (event["pruned"] as? [String: Any])?["reason"] as? String == "erased")
        #expect((try await Self.event(broker, ids[2]))["content"] as? String == "a-third".base64)
        let said = try await Self.expectProofsCheck(broker, ids[1], vkey: vkey)
        #expect(said.contains("content erased at"), "\(said)")

        // On the audit trail, even of this open broker, which cannot itself be erased.
        let trail = try await http("\(broker.baseURL)/rest/events?topic=$weevent/audit&offset=OFFSET_FIRST".replacingOccurrences(of: "$", with: "%24")).object
        let records = try #require(trail["events"] as? [[String: Any]], "\(trail)")
        let record = try #require(records.last.flatMap { ($0["content"] as? String).flatMap { Data(base64Encoded: $0) } })
        let fields = try #require(try JSONSerialization.jsonObject(with: record) as? [String: String])
        #expect(fields["action"] == "event.erase" && fields["eventId"] == ids[1] && fields["topic"] == "people" && fields["eventHash"]?.count == 64)
        let trailID = try #require(records.last?["eventId"] as? String)
        let refused = try await http("\(broker.baseURL)/admin/eraseEvent?eventId=\(trailID)")
        #expect(refused.status == 403 && refused.object["code"] as? Int == 100316, "\(refused.text)")

        switch store {
        case "sqlite":
            for file in ["ledger.sqlite", "ledger.sqlite-wal"] {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: "\(broker.directory)/data/group-1/\(file)"))) ?? Data()
                #expect(bytes.range(of: Data(marker.utf8)) == nil, "\(file) still holds the erased content")
            }
            #expect(try storedContents(broker, topic: "people") == ["someone-else", "", "a-third"])
        default:
            let found = try await PostgresServer.shared.value.psql(
                "SELECT topic, octet_length(content), pruned_reason FROM events WHERE convert_from(content, 'UTF8') LIKE '%\(marker)%' OR extensions LIKE '%\(marker)%' OR topic = 'people' ORDER BY position",
                schema: schema)
            #expect(found.split(separator: "\n") == ["people|12|0", "people|0|2", "people|7|0"], "\(found)")
        }
        let (verified, report) = try await broker.run(["verify", "--config", broker.configPath])
        #expect(verified == 0 && report.contains("1 pruned"), "\(report)")
    }
}

extension String {
    var base64: String { Data(utf8).base64EncodedString() }
}
