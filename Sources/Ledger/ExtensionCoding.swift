import Foundation
import WeEvent

/// Extensions as stored: a JSON object of strings with keys sorted by their UTF-8 bytes.
///
/// Written and read by hand: Foundation's JSONSerialization (through NSDictionary) cost about 12%
/// of a publish's throughput for a single extension, which every publish of an identity carries
/// (`weevent-publisher`). Anything the reader does not expect goes to JSONSerialization, so rows
/// written by any earlier version read as before.
enum ExtensionCoding {
    static func encode(_ extensions: [String: String]) -> String {
        if extensions.isEmpty { return "{}" }
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(64)
        for (index, key) in extensions.keys.sorted(by: JSONString.precedes).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONString.write(key, into: &out)
            out.append(UInt8(ascii: ":"))
            JSONString.write(extensions[key]!, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [String: String] {
        if text == "{}" { return [:] }
        var copy = text
        if let parsed = copy.withUTF8({ FlatObject.parse($0) }) { return parsed }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] else { return [:] }
        return object
    }
}

/// A JSON object whose values are all strings; nil for anything else (left to JSONSerialization).
private struct FlatObject {
    let bytes: UnsafeBufferPointer<UInt8>
    var at = 0

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> [String: String]? {
        var parser = FlatObject(bytes: bytes)
        return parser.object()
    }

    mutating func skipSpace() {
        while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 }
    }

    mutating func expect(_ byte: UInt8) -> Bool {
        skipSpace()
        guard at < bytes.count, bytes[at] == byte else { return false }
        at += 1
        return true
    }

    mutating func object() -> [String: String]? {
        guard expect(UInt8(ascii: "{")) else { return nil }
        var result: [String: String] = [:]
        skipSpace()
        if at < bytes.count, bytes[at] == UInt8(ascii: "}") {
            at += 1
        } else {
            repeat {
                guard let key = string(), expect(UInt8(ascii: ":")), let value = string() else { return nil }
                result[key] = value
            } while expect(UInt8(ascii: ","))
            guard expect(UInt8(ascii: "}")) else { return nil }
        }
        skipSpace()
        return at == bytes.count ? result : nil
    }

    mutating func string() -> String? {
        guard expect(UInt8(ascii: "\"")) else { return nil }
        var out: [UInt8] = []
        while at < bytes.count {
            let byte = bytes[at]
            at += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard at < bytes.count else { return nil }
                let escape = bytes[at]
                at += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard at + 1 < bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else { return nil }
                        at += 2
                        guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: String(Character(unicode)).utf8)
                default:
                    return nil
                }
            case 0..<0x20:
                return nil
            default:
                out.append(byte)
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard at + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[at]
            at += 1
            let digit: UInt8
            switch c {
            case 0x30...0x39: digit = c - 0x30
            case 0x41...0x46: digit = c - 0x41 + 10
            case 0x61...0x66: digit = c - 0x61 + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}
