import Foundation
import GRDB

/// What a broker instance's ledger holds for a topic, read straight from its SQLite file.
func storedContents(_ broker: BrokerProcess, topic: String, group: String = "1") throws -> [String] {
    let path = "\(broker.directory)/data/group-\(group)/ledger.sqlite"
    guard FileManager.default.fileExists(atPath: path) else { return [] }
    var config = Configuration()
    config.readonly = true
    let db = try DatabaseQueue(path: path, configuration: config)
    defer { try? db.close() }
    return try db.read { db in
        try Data.fetchAll(db, sql: "SELECT content FROM events WHERE topic = ? ORDER BY position", arguments: [topic])
            .map { String(decoding: $0, as: UTF8.self) }
    }
}
