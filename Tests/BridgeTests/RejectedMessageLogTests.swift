import Foundation
import GRDB
import Synchronization
import Testing
import WeEvent
@testable import Bridge

/// The rejected-message log: durable, capped (oldest dropped and counted), read a page at a time.
@Suite struct RejectedMessageLogTests {
    func withDirectory(_ body: (String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rejected-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await body(directory)
    }

    func message(_ topic: String, _ payload: String, group: String = "1") -> RejectedMessage {
        RejectedMessage(
            binding: Binding(direction: .inbound, groupId: group, topic: topic, mqttTopic: topic, qos: 1, createdAt: 1),
            mqttTopic: topic, qos: 1, payload: Array(payload.utf8), reason: "test"
        )
    }

    @Test func pagesGoBackFromTheNewestAndFilterByBinding() async throws {
        try await withDirectory { directory in
            let log = try RejectedMessageLog(directory: directory)
            for i in 0..<25 { try await log.append(message(i % 2 == 0 ? "even" : "odd", "m\(i)")) }
            let newest = try await log.read(groupId: nil, topic: nil, limit: 10)
            #expect(newest.map(\.payload) == (15..<25).map { Data("m\($0)".utf8).base64EncodedString() })
            let ids = newest.compactMap(\.id)
            #expect(ids == ids.sorted() && ids.count == 10)
            let previous = try await log.read(groupId: nil, topic: nil, before: ids.first, limit: 10)
            #expect(previous.map(\.payload) == (5..<15).map { Data("m\($0)".utf8).base64EncodedString() })
            let last = try await log.read(groupId: nil, topic: nil, before: previous.first?.id, limit: 10)
            #expect(last.count == 5)
            #expect(try await log.read(groupId: nil, topic: nil, before: last.first?.id, limit: 10).isEmpty)
            let odd = try await log.read(groupId: "1", topic: "odd", limit: 100)
            #expect(odd.count == 12 && odd.allSatisfy { $0.topic == "odd" })
            #expect(try await log.read(groupId: "2", topic: nil, limit: 100).isEmpty)
            // Durable: a new instance over the same file reads the same.
            #expect(try await RejectedMessageLog(directory: directory).read(groupId: nil, topic: nil, limit: 100).count == 25)
        }
    }

    @Test func pastItsCapTheOldestAreDroppedAndCounted() async throws {
        try await withDirectory { directory in
            let dropped = Mutex(0)
            let payload = String(repeating: "x", count: 3000)  // about 4 KB as base64, with the row's overhead
            let log = try RejectedMessageLog(directory: directory, maxBytes: 65_536, onDrop: { count in dropped.withLock { $0 += count } })
            for i in 0..<100 { try await log.append(message("t", "\(i):" + payload)) }
            let kept = try await log.read(groupId: nil, topic: nil, limit: 100)
            #expect(kept.count < 20 && kept.count > 10, "\(kept.count)")
            #expect(kept.last.map { String(decoding: Data(base64Encoded: $0.payload)!, as: UTF8.self).hasPrefix("99:") } == true)
            #expect(Int(log.droppedCount) == 100 - kept.count)
            #expect(dropped.withLock { $0 } == 100 - kept.count)
            // The size counts across restarts: a new instance goes on dropping at the same cap.
            let reopened = try RejectedMessageLog(directory: directory, maxBytes: 65_536)
            for i in 100..<110 { try await reopened.append(message("t", "\(i):" + payload)) }
            let after = try await reopened.read(groupId: nil, topic: nil, limit: 100)
            #expect(after.count == kept.count || abs(after.count - kept.count) <= 1, "\(after.count) vs \(kept.count)")
            #expect(reopened.droppedCount == 10)
            // A single message above the cap is still recorded (and everything older goes).
            let big = try RejectedMessageLog(directory: directory + "/big", maxBytes: 65_536)
            try await big.append(message("t", "small"))
            try await big.append(message("t", String(repeating: "y", count: 100_000)))
            #expect(try await big.read(groupId: nil, topic: nil, limit: 10).count == 1)
        }
    }

    @Test func theJSONLinesFileOfEarlierVersionsIsImportedOnce() async throws {
        try await withDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let lines = try [message("old", "a"), message("old", "b")].map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
            try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/mqtt-rejected.jsonl", atomically: true, encoding: .utf8)
            let log = try RejectedMessageLog(directory: directory)
            #expect(try await log.read(groupId: "1", topic: "old", limit: 10).map(\.payload) == ["YQ==", "Yg=="])
            #expect(FileManager.default.fileExists(atPath: directory + "/mqtt-rejected.jsonl.imported"))
            #expect(try await RejectedMessageLog(directory: directory).read(groupId: "1", topic: "old", limit: 10).count == 2)
        }
    }
}
