import Foundation
import GRDB
import Synchronization
import Testing
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

struct Acknowledged: Sendable {
    let id: String
    let content: String
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct CrashSafetyTests {
    /// Publishers hammer the broker; it is SIGKILLed mid-stream; after a restart every
    /// event that had been answered SUCCESS is there with its content, and verify passes.
    @Test func everyAcknowledgedEventSurvivesSIGKILL() async throws {
        let broker = try BrokerProcess()
        defer { broker.remove() }
        try await broker.start()
        #expect(try await http("\(broker.baseURL)/rest/open?topic=crash.test").text == "true")

        let acknowledged = Shared<[Acknowledged]>([])
        let stop = Shared(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<32 {
                group.addTask {
                    var i = 0
                    while !stop.withLock({ $0 }) {
                        let content = "c-\(client)-\(i)"
                        i += 1
                        guard let reply = try? await http("\(broker.baseURL)/rest/publish?topic=crash.test&content=\(content)") else { return }
                        if reply.object["status"] as? String == "SUCCESS", let id = reply.object["eventId"] as? String {
                            acknowledged.withLock { $0.append(Acknowledged(id: id, content: content)) }
                        }
                    }
                }
            }
            group.addTask {
                // Kill once a good number of publishes were answered, while the rest are in flight.
                while acknowledged.withLock({ $0.count }) < 1500 { try await Task.sleep(for: .milliseconds(10)) }
                broker.kill(signal: SIGKILL)
                stop.withLock { $0 = true }
            }
            try await group.waitForAll()
        }
        #expect(await broker.waitForExit() == -SIGKILL)
        let answered = acknowledged.withLock { $0 }
        #expect(answered.count >= 1500)

        try await broker.start()
        var missing: [String] = []
        for (id, content) in answered.map({ ($0.id, $0.content) }) {
            let reply = try await http("\(broker.baseURL)/rest/getEvent?eventId=\(id)")
            let stored = (reply.object["content"] as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
            if stored != content { missing.append("\(id): \(reply.text)") }
        }
        #expect(missing.isEmpty, "\(missing.count) acknowledged events lost, first: \(missing.prefix(3))")
        // The ids are unique: no sequence was handed out twice across the crash.
        #expect(Set(answered.map(\.id)).count == answered.count)
        // After the restart the topic goes on from where the durable state was.
        let after = try await http("\(broker.baseURL)/rest/publish?topic=crash.test&content=after")
        #expect(after.object["status"] as? String == "SUCCESS")

        broker.kill(signal: SIGTERM)
        #expect(await broker.waitForExit() == 0, "graceful stop; log:\n\(broker.log().suffix(2000))")
        let (status, output) = try await broker.run(["verify", "--config", broker.configPath])
        #expect(status == 0, "\(output)")
        #expect(output.contains("chain intact"))
    }

    /// One stored event altered behind the broker's back: verify fails and names its block.
    @Test func verifyFailsAndNamesTheBlockOfAnAlteredEvent() async throws {
        let broker = try BrokerProcess()
        defer { broker.remove() }
        try await broker.start()
        _ = try await http("\(broker.baseURL)/rest/open?topic=tamper")
        var ids: [String] = []
        for i in 0..<20 {
            let reply = try await http("\(broker.baseURL)/rest/publish?topic=tamper&content=v\(i)")
            ids.append(try #require(reply.object["eventId"] as? String))
        }
        broker.kill(signal: SIGTERM)
        #expect(await broker.waitForExit() == 0)
        #expect(try await broker.run(["verify", "--config", broker.configPath]).0 == 0)

        let target = ids[12]
        let block = try #require(target.split(separator: "-").last.map(String.init))
        let db = try DatabaseQueue(path: "\(broker.directory)/data/group-1/ledger.sqlite")
        try await db.write { db in
            try db.execute(sql: "UPDATE events SET content = CAST('forged' AS BLOB) WHERE topic = 'tamper' AND seq = 13")
        }
        try db.close()

        let (status, output) = try await broker.run(["verify", "--config", broker.configPath])
        #expect(status == 1)
        #expect(output.contains("block \(block) does not match"), "\(output)")
    }
}
