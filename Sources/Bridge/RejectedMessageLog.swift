import Foundation
import Synchronization
import WeEvent

/// An inbound MQTT message that could not become an event.
public struct RejectedMessage: Codable, Sendable, Equatable {
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
}

/// Rejected inbound messages, one JSON object per line in `ledger.path/mqtt-rejected.jsonl`,
/// fsynced before the message is acknowledged, so nothing a device sent is silently dropped.
/// `master/mqtt_list_rejected` reads them back.
public final class RejectedMessageLog: Sendable {
    public let path: String
    private let lock = Mutex(())

    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/mqtt-rejected.jsonl"
    }

    public func append(_ message: RejectedMessage) {
        guard var line = try? JSONEncoder().encode(message) else { return }
        line.append(UInt8(ascii: "\n"))
        lock.withLock { _ in
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            guard fd >= 0 else { return }
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fsync(fd)
            close(fd)
        }
    }

    /// The newest `limit` rejected messages of a binding (all bindings when `topic` is nil), oldest first.
    public func read(groupId: String?, topic: String?, limit: Int) -> [RejectedMessage] {
        let text = lock.withLock { _ in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        let decoder = JSONDecoder()
        let all = text.split(separator: "\n").compactMap { try? decoder.decode(RejectedMessage.self, from: Data($0.utf8)) }
        let matching = all.filter { (topic == nil || $0.topic == topic) && (groupId == nil || $0.groupId == groupId) }
        return Array(matching.suffix(limit))
    }
}
