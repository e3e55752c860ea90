import Crypto

/// WeEvent's event id: `<first 8 hex of SHA-256(topic)>-<per-topic sequence from 1>-<block height>`,
/// for example `2cf24dba-59-1124`.
public struct EventID: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// First 4 bytes of SHA-256(topic), as 8 lowercase hex digits.
    public let topicHash: String
    public let sequence: UInt64
    public let blockHeight: UInt64

    /// The largest sequence or block height an id can name: both stores keep them as signed
    /// 64-bit integers, so anything larger cannot exist and is refused when parsed.
    public static let maxNumber = UInt64(Int64.max)

    public init(topic: String, sequence: UInt64, blockHeight: UInt64) {
        self.init(topicHash: EventID.topicHash(topic), sequence: sequence, blockHeight: blockHeight)
    }

    public init(topicHash: String, sequence: UInt64, blockHeight: UInt64) {
        self.topicHash = topicHash
        self.sequence = sequence
        self.blockHeight = blockHeight
    }

    public var description: String { "\(topicHash)-\(sequence)-\(blockHeight)" }

    /// Parses an id without the WeEvent error mapping; nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3,
            parts[0].utf8.count == 8,
            parts[0].utf8.allSatisfy({ EventID.isLowerHex($0) }),
            parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            parts[2].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let sequence = UInt64(parts[1]), (1...EventID.maxNumber).contains(sequence),
            let height = UInt64(parts[2]), (1...EventID.maxNumber).contains(height)
        else { return nil }
        self.init(topicHash: String(parts[0]), sequence: sequence, blockHeight: height)
    }

    /// Parses an id from a request, with WeEvent's codes: blank 100300, too long 100301, malformed 100302.
    public static func parse(_ text: String?) throws(WeEventError) -> EventID {
        guard let text, !text.allSatisfy({ $0.isWhitespace }) else { throw WeEventError(.eventIdIsBlank) }
        if text.utf8.count > Validation.maxEventIDLength { throw WeEventError(.eventIdExceedsMaxLength) }
        guard let id = EventID(text) else { throw WeEventError(.eventIdIsIllegal, detail: text) }
        return id
    }

    public static func topicHash(_ topic: String) -> String {
        let digest = SHA256.hash(data: Array(topic.utf8))
        return hexString(digest.prefix(4))
    }

    static func isLowerHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

/// Lowercase hex of a byte sequence.
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for byte in bytes {
        out.append(hexDigits[Int(byte >> 4)])
        out.append(hexDigits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// The bytes of a hex string (either case); nil when it is not whole pairs of hex digits.
public func bytes(hex: String) -> [UInt8]? {
    func value(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
    let digits = Array(hex.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    for i in stride(from: 0, to: digits.count, by: 2) {
        guard let high = value(digits[i]), let low = value(digits[i + 1]) else { return nil }
        out.append(high << 4 | low)
    }
    return out
}
