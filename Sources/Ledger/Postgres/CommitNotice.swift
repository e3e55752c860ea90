import Crypto
import Foundation
import Synchronization
import WeEvent

/// What the NOTIFY of each commit on `PostgresDriver.commitChannel` says: the group, the head
/// position the commit reached, the instance that wrote it and, when they fit in PostgreSQL's
/// 8000-byte payload, the committed events themselves. Another instance hands those events to
/// its live readers as its own writer hands its own: without a read of the store per commit and
/// per reader. Without them (a large commit), readers read the range from the store.
///
/// NOTIFY and LISTEN need no privilege at all: any role that may connect to the database can
/// send on the channel and hear it. So a notice travels sealed (`NoticeSealer`, `NoticeOpener`):
/// encrypted and authenticated with a key that only roles able to read the ledger's schema can
/// read (`PostgresSchema.noticeKey`). A notice that does not open is dropped and counted; nothing
/// it says reaches a reader, a device or a writer's idea of the head.
struct CommitNotice: Equatable {
    var schema: String
    var group: String
    var head: UInt64
    var writer: String
    /// Positions `head - count + 1 ... head`, in order; nil when the payload did not carry them.
    var events: [PositionedEvent]?

    /// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
    static let maxPayloadBytes = 7999

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

    static func append(_ value: UInt64, bytes: Int, to out: inout [UInt8]) {
        for shift in stride(from: (bytes - 1) * 8, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// The events of `bytes` (as `encode` wrote them), or nil when they do not decode cleanly or
    /// do not run without a gap up to `head`.
    static func decode(_ bytes: [UInt8], head: UInt64, group: String) -> [PositionedEvent]? {
        var reader = ByteReader(bytes: bytes)
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
            events.append(
                PositionedEvent(
                    position: position,
                    event: Event(
                        id: EventID(topicHash: topicHash, sequence: sequence, blockHeight: height), topic: topic, content: content,
                        extensions: extensionText.isEmpty ? [:] : ExtensionCoding.decode(extensionText),
                        timestamp: Int64(bitPattern: timestamp)
                    )))
        }
        guard let last = events.last, last.position == head else { return nil }
        return events
    }

    /// Bounds-checked reads from decoded bytes.
    struct ByteReader {
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

        mutating func rest() -> [UInt8] {
            defer { offset = bytes.count }
            return Array(bytes[offset...])
        }
    }
}

/// The schema's notice key (32 random bytes, `PostgresSchema.noticeKey`) and the per-writer keys
/// derived from it: each instance seals with its own key (HKDF-SHA256 of the schema's key, salted
/// with the writer id), so its nonce can be a plain counter without two instances ever using one
/// (key, nonce) pair.
struct NoticeKey: Sendable {
    static let byteCount = 32
    /// The key's bytes (swift-crypto's `SymmetricKey` is not `Sendable`; one is made per use).
    let secret: [UInt8]

    init(_ bytes: [UInt8]) {
        secret = bytes
    }

    /// The key a writer seals with, as bytes.
    func forWriter(_ writer: String) -> [UInt8] {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), salt: Data(writer.utf8), info: Data("weevent commit notice v1".utf8),
            outputByteCount: 32
        )
        return key.withUnsafeBytes { Array($0) }
    }

    /// A writer id: 16 random bytes in lowercase hex.
    static func newWriterID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// The nonce of a writer's `counter`th notice: 4 zero bytes, then the counter (big-endian).
    static func nonce(_ counter: UInt64) -> ChaChaPoly.Nonce {
        var bytes: [UInt8] = [0, 0, 0, 0]
        CommitNotice.append(counter, bytes: 8, to: &bytes)
        return try! ChaChaPoly.Nonce(data: bytes)  // 12 bytes: always valid
    }
}

/// Seals this instance's notices: `<schema> <writer> <counter> <base64 of ChaCha20-Poly1305>`.
/// The clear part is authenticated with the rest; the sealed part holds the group (2-byte length),
/// the head (8 bytes) and the events' records, which are left out (nothing after the head) when
/// they would not fit in one NOTIFY.
final class NoticeSealer: Sendable {
    let schema: String
    let writer: String
    private let key: [UInt8]
    private let counter = Atomic<UInt64>(0)

    init(schema: String, key: NoticeKey, writer: String = NoticeKey.newWriterID()) {
        self.schema = schema
        self.writer = writer
        self.key = key.forWriter(writer)
    }

    func payload(group: String, head: UInt64, blocks: [SealedBlock]) -> String {
        let number = counter.add(1, ordering: .relaxed).newValue
        let clear = "\(schema) \(writer) \(number)"
        let groupBytes = Array(group.utf8.prefix(Int(UInt16.max)))
        var plain: [UInt8] = []
        CommitNotice.append(UInt64(groupBytes.count), bytes: 2, to: &plain)
        plain += groupBytes
        CommitNotice.append(head, bytes: 8, to: &plain)
        // What base64 of the sealed bytes (plain + 16-byte tag) may take after the clear part.
        let sealedBudget = (CommitNotice.maxPayloadBytes - clear.utf8.count - 1) / 4 * 3
        let recordBudget = sealedBudget - 16 - plain.count
        if recordBudget > 0, !blocks.isEmpty, let records = CommitNotice.encode(blocks, maxBytes: recordBudget) {
            plain += records
        }
        // swift-crypto's ChaChaPoly fails only for a key of the wrong size; ours is 32 bytes.
        let sealed = try! ChaChaPoly.seal(plain, using: SymmetricKey(data: key), nonce: NoticeKey.nonce(number), authenticating: Data(clear.utf8))
        return clear + " " + (sealed.ciphertext + sealed.tag).base64EncodedString()
    }
}

/// Opens notices: only one sealed with the schema's key is believed.
final class NoticeOpener: Sendable {
    let schema: String
    private let key: NoticeKey
    /// Keys of writers whose notices opened (a forged writer id never gets in); bounded.
    private let writerKeys = Mutex<[String: [UInt8]]>([:])
    static let maxCachedWriters = 256

    enum Opened: Equatable {
        case notice(CommitNotice)
        /// A notice of another deployment sharing the database (another schema): not ours to judge.
        case otherSchema
        /// Not sealed with this schema's key, or malformed: why, for the log.
        case refused(String)
    }

    init(schema: String, key: NoticeKey) {
        self.schema = schema
        self.key = key
    }

    /// Opens `payload`. The events of `skippingEventsOf`'s commits (this instance's own, which
    /// its writer hands its readers itself) are authenticated but not decoded.
    func open(_ payload: String, skippingEventsOf skipped: String? = nil) -> Opened {
        let parts = payload.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4 else {
            return parts.first.map(String.init) == schema || parts.count < 2 ? .refused("not a sealed notice") : .otherSchema
        }
        guard parts[0] == schema else { return .otherSchema }
        let writer = String(parts[1])
        guard writer.utf8.count == 32, writer.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
            let counter = UInt64(parts[2]), let sealed = Data(base64Encoded: String(parts[3])), sealed.count >= 16
        else { return .refused("malformed") }
        let known = writerKeys.withLock { $0[writer] }
        let writerKey = known ?? key.forWriter(writer)
        let clear = Data(payload.utf8.prefix(parts[0].utf8.count + 1 + writer.utf8.count + 1 + parts[2].utf8.count))
        guard let box = try? ChaChaPoly.SealedBox(nonce: NoticeKey.nonce(counter), ciphertext: sealed.dropLast(16), tag: sealed.suffix(16)),
            let plain = try? ChaChaPoly.open(box, using: SymmetricKey(data: writerKey), authenticating: clear)
        else { return .refused("not sealed with this schema's notice key") }
        if known == nil {
            writerKeys.withLock { keys in
                if keys.count >= Self.maxCachedWriters { keys.removeAll() }
                keys[writer] = writerKey
            }
        }
        var reader = CommitNotice.ByteReader(bytes: Array(plain))
        guard let groupLength = reader.number(2), let groupBytes = reader.bytes(groupLength),
            let group = String(validating: groupBytes, as: UTF8.self), let head = reader.number(8)
        else { return .refused("authentic but malformed") }
        let records = reader.rest()
        let events = records.isEmpty || writer == skipped ? nil : CommitNotice.decode(records, head: head, group: group)
        return .notice(CommitNotice(schema: schema, group: group, head: head, writer: writer, events: events))
    }
}
