import Foundation
import GRDB
import Synchronization
import WeEvent

/// An inbound MQTT message that could not become an event.
public struct RejectedMessage: Codable, Sendable, Equatable {
    /// Its place in the log (ascending); pass it as `before` to page back. nil until recorded.
    public var id: Int64?
    public var direction: String
    public var groupId: String
    public var topic: String
    public var mqttTopic: String
    public var qos: Int
    /// Base64 of the payload as it arrived.
    public var payload: String
    public var reason: String
    /// Milliseconds since 1970.
    public var timestamp: Int64

    public init(binding: Binding, mqttTopic: String, qos: Int, payload: [UInt8], reason: String) {
        direction = binding.direction.rawValue
        groupId = binding.groupId
        topic = binding.topic
        self.mqttTopic = mqttTopic
        self.qos = qos
        self.payload = Data(payload).base64EncodedString()
        self.reason = reason
        timestamp = Int64(Date().timeIntervalSince1970 * 1000)
    }

    /// What it takes in the log, for the size cap.
    var size: Int { payload.utf8.count + reason.utf8.count + topic.utf8.count + mqttTopic.utf8.count + groupId.utf8.count + 64 }
}

/// Rejected inbound messages in `ledger.path/mqtt-rejected.sqlite` (`synchronous=FULL`): each is
/// durable before `append` returns, and the bridge acknowledges the message only then, so
/// nothing a device sent is silently dropped. `append` throws when it cannot record; the
/// bridge then does not acknowledge the message and tries again.
///
/// The log is capped (`mqtt.rejected.max-bytes`): past the cap the oldest messages are dropped
/// and counted (`droppedCount`, and the `weevent_mqtt_rejected_dropped_total` metric).
/// `master/mqtt_list_rejected` reads it a page at a time, newest first.
public final class RejectedMessageLog: Sendable {
    public let path: String
    public let maxBytes: Int
    private let queue: DatabaseQueue
    private struct Totals {
        var bytes: Int
        var dropped: UInt64 = 0
    }
    private let totals: Mutex<Totals>
    /// Called with how many messages a write dropped to stay under the cap.
    private let onDrop: @Sendable (Int) -> Void

    public init(directory: String, maxBytes: Int = 64 << 20, onDrop: @escaping @Sendable (Int) -> Void = { _ in }) throws {
        path = try PrivateFiles.file("mqtt-rejected.sqlite", in: directory)
        self.maxBytes = maxBytes
        self.onDrop = onDrop
        var config = GRDB.Configuration()
        config.label = "mqtt-rejected"
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        queue = try DatabaseQueue(path: path, configuration: config)
        let bytes = try queue.write { db -> Int in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS rejected(
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        group_id TEXT NOT NULL, topic TEXT NOT NULL, message TEXT NOT NULL, size INTEGER NOT NULL)
                    """)
            try db.execute(sql: "CREATE INDEX IF NOT EXISTS rejected_binding ON rejected(group_id, topic, id)")
            return try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(size), 0) FROM rejected") ?? 0
        }
        totals = Mutex(Totals(bytes: bytes))
        try importLegacyFile(directory + "/mqtt-rejected.jsonl")
    }

    /// Messages dropped to keep the log under its cap since the broker started.
    public var droppedCount: UInt64 { totals.withLock { $0.dropped } }

    /// Records `message` durably, dropping the oldest messages when the log would exceed its cap.
    public func append(_ message: RejectedMessage) async throws {
        let text = String(decoding: try JSONEncoder().encode(message), as: UTF8.self)
        let excess = totals.withLock { $0.bytes } + message.size - maxBytes
        let removed = try await queue.write { db -> (count: Int, bytes: Int) in
            try db.execute(
                sql: "INSERT INTO rejected(group_id, topic, message, size) VALUES (?, ?, ?, ?)",
                arguments: [message.groupId, message.topic, text, message.size]
            )
            guard excess > 0 else { return (0, 0) }
            // The oldest first, until what remains fits; the message just recorded always stays.
            var count = 0
            var bytes = 0
            var last: Int64 = 0
            let oldest = try Row.fetchCursor(
                db, sql: "SELECT id, size FROM rejected WHERE id < (SELECT MAX(id) FROM rejected) ORDER BY id"
            )
            while bytes < excess, let row = try oldest.next() {
                last = row["id"]
                bytes += row["size"] as Int
                count += 1
            }
            try db.execute(sql: "DELETE FROM rejected WHERE id <= ?", arguments: [last])
            return (count, bytes)
        }
        totals.withLock {
            $0.bytes += message.size - removed.bytes
            $0.dropped += UInt64(removed.count)
        }
        if removed.count > 0 { onDrop(removed.count) }
    }

    /// The newest `limit` rejected messages of a binding (every binding when `topic` is nil)
    /// with an id below `before` (nil: from the newest), oldest first.
    public func read(groupId: String?, topic: String?, before: Int64? = nil, limit: Int) async throws -> [RejectedMessage] {
        // A nil group or topic matches every one.
        let sql = """
            SELECT id, message FROM rejected
            WHERE id < ? AND (? IS NULL OR group_id = ?) AND (? IS NULL OR topic = ?)
            ORDER BY id DESC LIMIT ?
            """
        let rows = try await queue.read { db in
            try Row.fetchAll(
                db, sql: sql, arguments: [before ?? Int64.max, groupId, groupId, topic, topic, limit]
            ).map { row in (row["id"] as Int64, row["message"] as String) }
        }
        let decoder = JSONDecoder()
        return rows.reversed().compactMap { id, text in
            guard var message = try? decoder.decode(RejectedMessage.self, from: Data(text.utf8)) else { return nil }
            message.id = id
            return message
        }
    }

    /// The JSON-lines file of earlier versions: its messages move into the log once (the newest
    /// that fit the cap), in one transaction with a mark that they did; the file is then renamed
    /// `.imported`. A torn last line (a crash while the old version wrote) is skipped.
    private func importLegacyFile(_ legacy: String) throws {
        guard FileManager.default.fileExists(atPath: legacy) else { return }
        let data = try Data(contentsOf: URL(fileURLWithPath: legacy))
        let decoder = JSONDecoder()
        var messages = data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(RejectedMessage.self, from: Data($0)) }
        var kept = 0
        var index = messages.endIndex
        while index > messages.startIndex, kept + messages[index - 1].size <= maxBytes {
            index -= 1
            kept += messages[index].size
        }
        let skipped = index - messages.startIndex
        messages = Array(messages[index...])
        let encoder = JSONEncoder()
        let imported = try queue.write { db -> Bool in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS imports(name TEXT PRIMARY KEY)")
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM imports WHERE name = 'mqtt-rejected.jsonl'") == 0 else { return false }
            for message in messages {
                try db.execute(
                    sql: "INSERT INTO rejected(group_id, topic, message, size) VALUES (?, ?, ?, ?)",
                    arguments: [message.groupId, message.topic, String(decoding: try encoder.encode(message), as: UTF8.self), message.size]
                )
            }
            try db.execute(sql: "INSERT INTO imports(name) VALUES ('mqtt-rejected.jsonl')")
            return true
        }
        if imported {
            totals.withLock {
                $0.bytes += kept
                $0.dropped += UInt64(skipped)
            }
        }
        try? FileManager.default.removeItem(atPath: legacy + ".imported")
        try FileManager.default.moveItem(atPath: legacy, toPath: legacy + ".imported")
    }
}
