import Foundation
import WeEvent

/// The payload of the NOTIFY each commit sends on `PostgresLedger.commitChannel`:
/// `<schema> <groupId> <head position> <writer>`, then, when they fit in PostgreSQL's 8000-byte
/// payload, the committed events themselves (base64 of `encode`'s records). Another instance
/// hands those events to its live readers as its own writer hands its own: without a read of
/// the store per commit and per reader. Without them (a large commit), readers read the
/// range from the store, as before.
///
/// The events are exactly what the same statement inserted: PostgreSQL delivers a NOTIFY only
/// when its transaction committed, in commit order. Whoever may NOTIFY on the database may
/// also write the ledger's tables, so this adds no one to those the readers trust; the
/// decoder still checks every length and that the positions run without a gap up to the head,
/// and falls back to the store when anything is off.
struct CommitNotice: Equatable {
    var schema: String
    var group: String
    var head: UInt64
    var writer: String
    /// Positions `head - count + 1 ... head`, in order; nil when the payload did not carry them.
    var events: [PositionedEvent]?

    /// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
    static let maxPayloadBytes = 7999

    /// The payload for a commit of `blocks` reaching `head`, with the events when they fit.
    static func payload(schema: String, group: String, head: UInt64, writer: String, blocks: [SealedBlock]) -> String {
        let header = "\(schema) \(group) \(head) \(writer)"
        let budget = (maxPayloadBytes - header.utf8.count - 1) / 4 * 3
        guard !blocks.isEmpty, budget > 0, let records = encode(blocks, maxBytes: budget) else { return header }
        return header + " " + Data(records).base64EncodedString()
    }

    /// Each event as position, block height, sequence, timestamp (8 bytes each, big-endian),
    /// then topic (2-byte length), content and extensions (`ExtensionCoding`, 4-byte lengths).
    /// nil when the records would exceed `maxBytes`.
    static func encode(_ blocks: [SealedBlock], maxBytes: Int) -> [UInt8]? {
        var out: [UInt8] = []
        for block in blocks {
            var position = block.firstPosition
            for event in block.events {
                let topic = Array(event.topic.utf8)
                let extensions = event.extensions.isEmpty ? [] : Array(ExtensionCoding.encode(event.extensions).utf8)
                guard topic.count <= Int(UInt16.max),
                    out.count + 32 + 2 + topic.count + 4 + event.content.count + 4 + extensions.count <= maxBytes
                else { return nil }
                for value in [position, block.header.height, event.sequence, UInt64(bitPattern: block.header.timestamp)] {
                    append(value, bytes: 8, to: &out)
                }
                append(UInt64(topic.count), bytes: 2, to: &out)
                out += topic
                append(UInt64(event.content.count), bytes: 4, to: &out)
                out += event.content
                append(UInt64(extensions.count), bytes: 4, to: &out)
                out += extensions
                position += 1
            }
        }
        return out
    }

    private static func append(_ value: UInt64, bytes: Int, to out: inout [UInt8]) {
        for shift in stride(from: (bytes - 1) * 8, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// Reads a payload; nil when its header is malformed. Events that do not decode cleanly, or
    /// do not run without a gap up to the head, leave `events` nil; so do the events of
    /// `skippingEventsOf`'s commits (an instance's own, which its writer hands its readers itself:
    /// decoding them would be work thrown away on every commit).
    init?(payload: String, skippingEventsOf skipped: String? = nil) {
        let parts = payload.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count >= 4, let head = UInt64(parts[2]) else { return nil }
        schema = String(parts[0])
        group = String(parts[1])
        self.head = head
        writer = String(parts[3])
        events = nil
        if parts.count == 5, writer != skipped, let data = Data(base64Encoded: String(parts[4])) {
            events = Self.decode(Array(data), head: head, group: group)
        }
    }

    init(schema: String, group: String, head: UInt64, writer: String, events: [PositionedEvent]?) {
        self.schema = schema
        self.group = group
        self.head = head
        self.writer = writer
        self.events = events
    }

    static func decode(_ bytes: [UInt8], head: UInt64, group: String) -> [PositionedEvent]? {
        var reader = Reader(bytes: bytes)
        var events: [PositionedEvent] = []
        var topicHashes: [String: String] = [:]
        while !reader.atEnd {
            guard let position = reader.number(8), let height = reader.number(8), let sequence = reader.number(8),
                let timestamp = reader.number(8),
                let topicLength = reader.number(2), let topicBytes = reader.bytes(topicLength),
                let topic = String(validating: topicBytes, as: UTF8.self),
                let contentLength = reader.number(4), let content = reader.bytes(contentLength),
                let extensionsLength = reader.number(4), let extensionBytes = reader.bytes(extensionsLength),
                let extensionText = String(validating: extensionBytes, as: UTF8.self)
            else { return nil }
            // Positions must follow each other (the first is checked against the feed's head).
            if let last = events.last, last.position == UInt64.max || position != last.position + 1 { return nil }
            let topicHash = topicHashes[topic] ?? EventID.topicHash(topic)
            topicHashes[topic] = topicHash
            events.append(PositionedEvent(position: position, event: Event(
                id: EventID(topicHash: topicHash, sequence: sequence, blockHeight: height), topic: topic, content: content,
                extensions: extensionText.isEmpty ? [:] : ExtensionCoding.decode(extensionText),
                timestamp: Int64(bitPattern: timestamp)
            )))
        }
        guard let last = events.last, last.position == head else { return nil }
        return events
    }

    /// Bounds-checked reads from the decoded bytes.
    private struct Reader {
        let bytes: [UInt8]
        var offset = 0
        var atEnd: Bool { offset == bytes.count }

        mutating func number(_ width: Int) -> UInt64? {
            guard bytes.count - offset >= width else { return nil }
            var value: UInt64 = 0
            for byte in bytes[offset..<offset + width] { value = value << 8 | UInt64(byte) }
            offset += width
            return value
        }

        mutating func bytes(_ count: UInt64) -> [UInt8]? {
            guard count <= UInt64(bytes.count - offset) else { return nil }
            defer { offset += Int(count) }
            return Array(bytes[offset..<offset + Int(count)])
        }
    }
}
