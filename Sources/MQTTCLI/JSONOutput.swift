#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `%j` and `%J` of `sub -F`: the message as one JSON object, written the way mosquitto_sub
/// writes it (its cJSON output, compact or, with `--pretty`, tab-indented), so scripts that read
/// mosquitto_sub's JSON read ours:
/// `{"tst":"2026-12-02T04:24:46.534119Z+0000","topic":"a","qos":1,"retain":0,"payloadlen":5,"mid":1,"payload":"hello"}`.
/// `mid` is there at QoS 1 and 2 only; `payload` is `null` when empty. `%j` carries the payload as
/// a string (up to a NUL byte); `%J` carries it as JSON and refuses a payload that is not.
enum JSONOutput {
    indirect enum Value {
        case null
        case bool(Bool)
        case number(Double)
        /// Raw bytes: a JSON string's content after its escapes are resolved.
        case string([UInt8])
        case array([Value])
        case object([(key: [UInt8], value: Value)])
    }

    static func object(_ message: FormattedMessage, time: ReceiveTime, payloadAsJSON: Bool, pretty: Bool) -> Result<[UInt8], MessageFormat.Error> {
        var members: [(key: [UInt8], value: Value)] = [
            (Array("tst".utf8), .string(timestamp(time))),
            (Array("topic".utf8), .string(Array(message.topic.utf8))),
            (Array("qos".utf8), .number(Double(message.qos))),
            (Array("retain".utf8), .number(message.retain ? 1 : 0)),
            (Array("payloadlen".utf8), .number(Double(message.payload.count))),
        ]
        if message.qos > 0 { members.append((Array("mid".utf8), .number(Double(message.messageID)))) }
        let payload: Value
        if message.payload.isEmpty {
            payload = .null
        } else if payloadAsJSON {
            guard let parsed = Parser.parse(message.payload) else {
                return .failure(MessageFormat.Error(description: "Message payload is not valid JSON on topic \(message.topic)."))
            }
            payload = parsed
        } else {
            // A C string to cJSON: the payload up to its first NUL byte.
            payload = .string(Array(message.payload.prefix(while: { $0 != 0 })))
        }
        members.append((Array("payload".utf8), payload))
        var out: [UInt8] = []
        write(.object(members), to: &out, depth: 0, pretty: pretty)
        return .success(out)
    }

    /// `2026-12-02T04:24:46.534119Z+0000`: local time, microseconds, a literal `Z`, then the zone
    /// offset, exactly as mosquitto_sub 2.0 prints it (the `Z` is there whatever the zone).
    static func timestamp(_ time: ReceiveTime) -> [UInt8] {
        let micro = String(time.nanoseconds / 1000)
        return time.strftime(format: "%Y-%m-%dT%H:%M:%S.")
            + Array((String(repeating: "0", count: max(0, 6 - micro.count)) + micro + "Z").utf8)
            + time.strftime(format: "%z")
    }

    // MARK: writing, as cJSON prints

    static func write(_ value: Value, to out: inout [UInt8], depth: Int, pretty: Bool) {
        switch value {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .number(let d): out += number(d)
        case .string(let s): writeString(s, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 {
                    out.append(UInt8(ascii: ","))
                    if pretty { out.append(UInt8(ascii: " ")) }
                }
                write(element, to: &out, depth: depth + 1, pretty: pretty)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            let inner = depth + 1
            out.append(UInt8(ascii: "{"))
            if pretty { out.append(10) }
            for (i, member) in members.enumerated() {
                if pretty { out += [UInt8](repeating: 9, count: inner) }
                writeString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                if pretty { out.append(9) }
                write(member.value, to: &out, depth: inner, pretty: pretty)
                if i < members.count - 1 { out.append(UInt8(ascii: ",")) }
                if pretty { out.append(10) }
            }
            if pretty { out += [UInt8](repeating: 9, count: depth) }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ bytes: [UInt8], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let hex = Array("0123456789abcdef".utf8)
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 8: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 12: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 10: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 13: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 9: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<32: out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// An integer when the value is one (within C int, and not -0); otherwise the shortest of
    /// `%1.15g` and `%1.17g` that reads back as the same double; `null` for NaN and infinity.
    static func number(_ d: Double) -> [UInt8] {
        if d.isNaN || d.isInfinite { return Array("null".utf8) }
        if d == d.rounded(), d >= Double(Int32.min), d <= Double(Int32.max), !(d == 0 && d.sign == .minus) {
            return Array(String(Int(d)).utf8)
        }
        let short = printf("%1.15g", d)
        // cJSON's test: does the short form read back as (nearly) the same double?
        let back = strtod(short, nil)
        if abs(back - d) <= max(abs(back), abs(d)) * Double.ulpOfOne { return Array(short.utf8) }
        return Array(printf("%1.17g", d).utf8)
    }

    private static func printf(_ format: String, _ d: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([d]) { args in
            buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, args) }
        }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: parsing, as cJSON reads

    /// One JSON value filling the whole payload (surrounding whitespace allowed). Nesting is
    /// bounded so a hostile payload cannot exhaust the stack.
    struct Parser {
        static let maxDepth = 1000

        let bytes: [UInt8]
        var i = 0

        static func parse(_ bytes: [UInt8]) -> Value? {
            // cJSON reads the payload as a C string: a NUL byte ends it before its end.
            guard !bytes.contains(0) else { return nil }
            var parser = Parser(bytes: bytes)
            parser.skipWhitespace()
            guard let value = parser.value(depth: 0) else { return nil }
            parser.skipWhitespace()
            return parser.i == bytes.count ? value : nil
        }

        /// cJSON counts every byte up to the space as whitespace.
        mutating func skipWhitespace() {
            while i < bytes.count && bytes[i] <= 32 { i += 1 }
        }

        mutating func literal(_ word: String) -> Bool {
            let w = Array(word.utf8)
            guard bytes.count - i >= w.count, Array(bytes[i..<(i + w.count)]) == w else { return false }
            i += w.count
            return true
        }

        mutating func value(depth: Int) -> Value? {
            guard i < bytes.count, depth < Self.maxDepth else { return nil }
            switch bytes[i] {
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "\""): return string().map(Value.string)
            case UInt8(ascii: "["): return array(depth: depth)
            case UInt8(ascii: "{"): return object(depth: depth)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
            default: return nil
            }
        }

        /// cJSON's reading: the run of number characters, converted by strtod as far as it goes.
        mutating func number() -> Value? {
            let start = i
            while i < bytes.count, Self.isNumberByte(bytes[i]), i - start < 63 { i += 1 }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            var used = 0
            let d = text.withCString { p -> Double in
                var end: UnsafeMutablePointer<CChar>?
                let v = strtod(p, &end)
                used = end.map { $0 - UnsafeMutablePointer(mutating: p) } ?? 0
                return v
            }
            guard used > 0 else { return nil }
            i = start + used
            return .number(d)
        }

        static func isNumberByte(_ b: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: "+") || b == UInt8(ascii: "-")
                || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") || b == UInt8(ascii: ".")
        }

        /// A string's content; `\u0000` ends the content (cJSON keeps strings as C strings) but not
        /// the string.
        mutating func string() -> [UInt8]? {
            i += 1
            var out: [UInt8] = []
            var ended = false
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") {
                    i += 1
                    return out
                }
                if b != UInt8(ascii: "\\") {
                    if !ended { out.append(b) }
                    i += 1
                    continue
                }
                if ended {
                    // Still parsed for validity, no longer kept.
                    var rest: [UInt8] = []
                    guard escape(into: &rest) else { return nil }
                    continue
                }
                guard escape(into: &out) else { return nil }
                if out.last == 0 {
                    // Only \u0000 writes a NUL.
                    out.removeLast()
                    ended = true
                }
            }
            return nil
        }

        /// One escape sequence at `i` (the backslash), appended as UTF-8.
        mutating func escape(into out: inout [UInt8]) -> Bool {
            guard i + 1 < bytes.count else { return false }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "u"):
                guard var scalar = hex4() else { return false }
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate needs its low half.
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { return false }
                    i += 2
                    guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return false }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    return false
                }
                guard let unicode = Unicode.Scalar(scalar) else { return false }
                out += Array(String(Character(unicode)).utf8)
            default: return false
            }
            return true
        }

        mutating func hex4() -> UInt32? {
            guard bytes.count - i >= 4 else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[i]
                let digit: UInt32
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
                default: return nil
                }
                v = v * 16 + digit
                i += 1
            }
            return v
        }

        mutating func array(depth: Int) -> Value? {
            i += 1
            var elements: [Value] = []
            skipWhitespace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "]") {
                i += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                guard let element = value(depth: depth + 1) else { return nil }
                elements.append(element)
                skipWhitespace()
                guard i < bytes.count else { return nil }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                guard bytes[i] == UInt8(ascii: "]") else { return nil }
                i += 1
                return .array(elements)
            }
        }

        mutating func object(depth: Int) -> Value? {
            i += 1
            var members: [(key: [UInt8], value: Value)] = []
            skipWhitespace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
                i += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                skipWhitespace()
                guard let member = value(depth: depth + 1) else { return nil }
                members.append((key, member))
                skipWhitespace()
                guard i < bytes.count else { return nil }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                guard bytes[i] == UInt8(ascii: "}") else { return nil }
                i += 1
                return .object(members)
            }
        }
    }
}
