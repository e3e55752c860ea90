import Foundation
import GRDB
import Logging
import Testing
import WeEvent
@testable import Ledger

/// A ledger file changed behind the broker's back, with numbers no ledger writes (negative
/// positions, sequences, counts): reading it and verifying it report the damage; nothing traps.
@Suite struct TamperedFileTests {
    @Test func negativeNumbersInTheFileAreReportedNotFatal() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tampered-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = try GroupLedger.openSQLite(groupID: "1", directory: directory)
        let first = try await LedgerSet(groups: ["1"], ledgers: ["1": ledger]).withRunning(logger: Logger(label: "test")) {
            _ = try await ledger.open(topic: "t")
            let first = try await ledger.publish(NewEvent(topic: "t", content: Array("a".utf8)))
            _ = try await ledger.publish(NewEvent(topic: "t", content: Array("b".utf8)))
            return first
        }

        let file = try DatabaseQueue(path: directory + "/ledger.sqlite")
        try await file.write { db in
            try db.execute(sql: "UPDATE events SET seq = -5 WHERE seq = 2")
            try db.execute(sql: "UPDATE topics SET seq = -7, last_block = -1")
            try db.execute(sql: "UPDATE blocks SET event_count = -3 WHERE height = 2")
            try db.execute(sql: "UPDATE blocks SET first_position = \(Int64.max) WHERE height = 1")
        }
        try file.close()

        let reopened = try GroupLedger.openSQLite(groupID: "1", directory: directory)
        let report = try await reopened.verify()
        #expect(!report.isIntact, "\(report)")
        let range = try await reopened.events(after: 0, through: nil, matching: try TopicFilter.parse("t"), limit: 10)
        #expect(range.events.count <= 2)
        _ = try? await reopened.proof(of: first, through: 2)
        _ = try await reopened.list(pageIndex: 0, pageSize: 10)
        await reopened.shutdown()
    }
}
