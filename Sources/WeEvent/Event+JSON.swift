/// The one JSON shape of an event, as getEvent, rest/events, streams and callback bodies all
/// send it: `{"content":<base64>,"eventId":..,"extensions":{..},"topic":..}`, every object's
/// keys in the order JSONEncoder's `.sortedKeys` gives, slashes not escaped. A pruned event
/// has an empty content and, before `topic`, `"pruned":{"eventHash":<hex>,"reason":..,"time":..}`.
///
/// Written by hand into bytes: a stream writes every event once per reader, and JSONEncoder
/// costs several times more per event. Tests/WeEventTests checks it against JSONEncoder.
extension Event {
    public func writeJSON(into out: inout [UInt8]) {
        out.append(contentsOf: #"{"content":""#.utf8)
        Base64.write(content, into: &out)
        out.append(contentsOf: #"","eventId":""#.utf8)
        id.writeDescription(into: &out)
        out.append(contentsOf: #"","extensions":{"#.utf8)
        var first = true
        for (key, value) in extensions.sorted(by: { JSONString.precedes($0.key, $1.key) }) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            JSONString.write(key, into: &out)
            out.append(UInt8(ascii: ":"))
            JSONString.write(value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        if let pruned {
            out.append(contentsOf: #","pruned":{"eventHash":""#.utf8)
            out.append(contentsOf: hexString(pruned.eventHash).utf8)
            out.append(contentsOf: #"","reason":""#.utf8)
            out.append(contentsOf: pruned.reason.name.utf8)
            out.append(contentsOf: #"","time":"#.utf8)
            out.append(contentsOf: String(pruned.time).utf8)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #","topic":"#.utf8)
        JSONString.write(topic, into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension EventID {
    /// Appends `description` without making a String.
    public func writeDescription(into out: inout [UInt8]) {
        out.append(contentsOf: topicHash.utf8)
        out.append(UInt8(ascii: "-"))
        Self.writeDecimal(sequence, into: &out)
        out.append(UInt8(ascii: "-"))
        Self.writeDecimal(blockHeight, into: &out)
    }

    private static func writeDecimal(_ value: UInt64, into out: inout [UInt8]) {
        var divisor: UInt64 = 1
        while value / divisor >= 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}

/// JSON strings written as JSONEncoder writes them with `.withoutEscapingSlashes`.
public enum JSONString {
    /// Quotes, backslashes and control characters escaped (`\n`-style where JSON has a short
    /// form, `\u00xx` otherwise); everything else, `/` and non-ASCII included, as UTF-8.
    public static func write(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            // Runs that need no escaping are copied whole.
            var start = 0
            for index in bytes.indices where bytes[index] < 0x20 || bytes[index] == 0x22 || bytes[index] == 0x5C {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                writeEscaped(bytes[index], into: &out)
                start = index + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func writeEscaped(_ byte: UInt8, into out: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
        case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
        case 0x0A: out.append(contentsOf: #"\n"#.utf8)
        case 0x0D: out.append(contentsOf: #"\r"#.utf8)
        case 0x09: out.append(contentsOf: #"\t"#.utf8)
        case 0x08: out.append(contentsOf: #"\b"#.utf8)
        case 0x0C: out.append(contentsOf: #"\f"#.utf8)
        default:
            out.append(contentsOf: #"\u00"#.utf8)
            out.append(hexDigit(byte >> 4))
            out.append(hexDigit(byte & 0x0f))
        }
    }

    /// The key order of JSONEncoder's `.sortedKeys`: by UTF-8 bytes. (`String.<` compares
    /// canonical forms, which puts a key not in normal form C elsewhere.)
    public static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}

/// Standard base64 with padding and no line breaks, as Foundation's `base64EncodedString()`.
enum Base64 {
    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    static func write(_ bytes: [UInt8], into out: inout [UInt8]) {
        let start = out.count
        let length = (bytes.count + 2) / 3 * 4
        out.append(contentsOf: repeatElement(UInt8(ascii: "="), count: length))
        let digits = alphabet.utf8Start
        bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                var o = start
                var i = 0
                while i < input.count {
                    let remaining = input.count - i
                    let group =
                        UInt32(input[i]) << 16
                        | (remaining > 1 ? UInt32(input[i + 1]) << 8 : 0)
                        | (remaining > 2 ? UInt32(input[i + 2]) : 0)
                    output[o] = digits[Int(group >> 18)]
                    output[o + 1] = digits[Int(group >> 12 & 0x3f)]
                    // Past the input's end the padding already written stays.
                    if remaining > 1 { output[o + 2] = digits[Int(group >> 6 & 0x3f)] }
                    if remaining > 2 { output[o + 3] = digits[Int(group & 0x3f)] }
                    i += 3
                    o += 4
                }
            }
        }
    }
}
