import MQTT
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// mosquitto_sub's `-F` output format, checked and parsed once: `%` fields with one optional flag
/// (`-` left-aligns, `0` zero-pads), a width and a `.precision`; `@` strftime(3) conversions of the
/// receive time in local time (`@N` nanoseconds, `@@` an at sign); `\` escapes. Widths follow
/// mosquitto_sub 2.0: a width cuts a longer payload (`%3p` of `hello` is `hel`); precision cuts
/// the topic and `%I` only. The MQTT v5 fields (`%A %C %D %E %F %P %R %S`) are never present on a
/// 3.1.1 connection and print what mosquitto_sub prints for an absent one: the width's padding
/// (`%A %E %F %S` with the pad character, `%C` with spaces) or nothing.
///
/// Where mosquitto_sub 2.0.11 loses output, this does not (docs/mqtt-cli.md lists it): `%x`/`%X`
/// with a width show every byte that fits (mosquitto shows half as many as fit), and `%-p` without
/// a width adds no trailing spaces.
struct MessageFormat: Sendable {
    struct Error: Swift.Error, CustomStringConvertible {
        let description: String
    }

    struct Spec: Sendable, Equatable {
        var leftAlign = false
        var zeroPad = false
        var width = 0
        var precision: Int?
    }

    enum Field: Sendable, Equatable {
        case topic, payload, hexLower, hexUpper, qos, retain, messageID, length, isoTime, unixTime, json, jsonPayload, percent
        /// v5 fields, absent on 3.1.1: padded with the pad character, with spaces, or nothing.
        case absentNumber, absentString, absent
    }

    enum Piece: Sendable, Equatable {
        case literal([UInt8])
        case field(Field, Spec)
        /// A strftime(3) conversion character of the receive time.
        case time(UInt8)
        case nanoseconds
    }

    /// Widths and precisions above this are refused: a format is not a way to allocate gigabytes.
    static let maxWidth = 65536

    let pieces: [Piece]

    init(_ format: String) throws {
        let bytes = Array(format.utf8)
        var pieces: [Piece] = []
        var literal: [UInt8] = []
        func flush() {
            if !literal.isEmpty { pieces.append(.literal(literal)) }
            literal.removeAll()
        }
        let incomplete = Error(description: "incomplete format specifier at the end of '\(format)'")
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "%"):
                i += 1
                var spec = Spec()
                if i < bytes.count && bytes[i] == UInt8(ascii: "-") {
                    spec.leftAlign = true
                    i += 1
                } else if i < bytes.count && bytes[i] == UInt8(ascii: "0") {
                    spec.zeroPad = true
                    i += 1
                }
                while i < bytes.count, let digit = Self.digit(bytes[i]) {
                    spec.width = spec.width * 10 + digit
                    guard spec.width <= Self.maxWidth else { throw Error(description: "field width above \(Self.maxWidth) in '\(format)'") }
                    i += 1
                }
                if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
                    i += 1
                    var precision = 0
                    while i < bytes.count, let digit = Self.digit(bytes[i]) {
                        precision = precision * 10 + digit
                        guard precision <= Self.maxWidth else { throw Error(description: "precision above \(Self.maxWidth) in '\(format)'") }
                        i += 1
                    }
                    spec.precision = precision
                }
                guard i < bytes.count else { throw incomplete }
                guard let field = Self.field(bytes[i]) else {
                    throw Error(description: "invalid format specifier '%\(Self.character(at: i, in: bytes))'")
                }
                flush()
                pieces.append(.field(field, spec))
                i += 1
            case UInt8(ascii: "@"):
                i += 1
                guard i < bytes.count else { throw incomplete }
                if bytes[i] == UInt8(ascii: "@") {
                    literal.append(c)
                } else {
                    flush()
                    pieces.append(bytes[i] == UInt8(ascii: "N") ? .nanoseconds : .time(bytes[i]))
                }
                i += 1
            case UInt8(ascii: "\\"):
                i += 1
                guard i < bytes.count else { throw Error(description: "incomplete escape at the end of '\(format)'") }
                switch bytes[i] {
                case UInt8(ascii: "\\"): literal.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "0"): literal.append(0)
                case UInt8(ascii: "a"): literal.append(7)
                case UInt8(ascii: "e"): literal.append(27)
                case UInt8(ascii: "n"): literal.append(10)
                case UInt8(ascii: "r"): literal.append(13)
                case UInt8(ascii: "t"): literal.append(9)
                case UInt8(ascii: "v"): literal.append(11)
                default: throw Error(description: "invalid escape '\\\(Self.character(at: i, in: bytes))' (\\\\ \\0 \\a \\e \\n \\r \\t \\v)")
                }
                i += 1
            default:
                literal.append(c)
                i += 1
            }
        }
        flush()
        self.pieces = pieces
    }

    /// The whole character starting at byte `i` (a multi-byte one too), for an error message.
    private static func character(at i: Int, in bytes: [UInt8]) -> String {
        var end = i + 1
        while end < bytes.count && (bytes[end] & 0xC0) == 0x80 { end += 1 }
        return String(decoding: bytes[i..<end], as: UTF8.self)
    }

    private static func digit(_ byte: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int(byte - UInt8(ascii: "0")) : nil
    }

    private static func field(_ byte: UInt8) -> Field? {
        switch byte {
        case UInt8(ascii: "t"): .topic
        case UInt8(ascii: "p"): .payload
        case UInt8(ascii: "x"): .hexLower
        case UInt8(ascii: "X"): .hexUpper
        case UInt8(ascii: "q"): .qos
        case UInt8(ascii: "r"): .retain
        case UInt8(ascii: "m"): .messageID
        case UInt8(ascii: "l"): .length
        case UInt8(ascii: "I"): .isoTime
        case UInt8(ascii: "U"): .unixTime
        case UInt8(ascii: "j"): .json
        case UInt8(ascii: "J"): .jsonPayload
        case UInt8(ascii: "%"): .percent
        case UInt8(ascii: "A"), UInt8(ascii: "E"), UInt8(ascii: "F"), UInt8(ascii: "S"): .absentNumber
        case UInt8(ascii: "C"): .absentString
        case UInt8(ascii: "D"), UInt8(ascii: "P"), UInt8(ascii: "R"): .absent
        default: nil
        }
    }

    /// What the format writes for one message received at `time`, and the reasons of any field
    /// that could not be written (`%J` on a payload that is not JSON: that field is left out,
    /// the rest is written, as mosquitto_sub does).
    func render(_ message: FormattedMessage, at time: ReceiveTime, pretty: Bool) -> (bytes: [UInt8], failures: [String]) {
        var out: [UInt8] = []
        var failures: [String] = []
        for piece in pieces {
            switch piece {
            case .literal(let bytes): out += bytes
            case .time(let conversion): out += time.strftime(conversion)
            case .nanoseconds: out += Array(Self.nineDigits(time.nanoseconds).utf8)
            case .field(let field, let spec):
                switch field {
                case .topic: out += Self.string(Array(message.topic.utf8), spec)
                case .payload: out += Self.payload(message.payload, spec, hex: nil)
                case .hexLower: out += Self.payload(message.payload, spec, hex: false)
                case .hexUpper: out += Self.payload(message.payload, spec, hex: true)
                case .qos: out += Array(String(message.qos).utf8)
                case .retain: out.append(message.retain ? UInt8(ascii: "1") : UInt8(ascii: "0"))
                case .messageID: out += Self.number(message.messageID, spec)
                case .length: out += Self.number(message.payload.count, spec)
                case .isoTime: out += Self.string(time.strftime(format: "%Y-%m-%dT%H:%M:%S%z"), spec)
                case .unixTime: out += Array("\(time.seconds).\(Self.nineDigits(time.nanoseconds))".utf8)
                case .json, .jsonPayload:
                    switch JSONOutput.object(message, time: time, payloadAsJSON: field == .jsonPayload, pretty: pretty) {
                    case .success(let bytes): out += bytes
                    case .failure(let error): failures.append(error.description)
                    }
                case .percent: out.append(UInt8(ascii: "%"))
                case .absentNumber:
                    out += [UInt8](repeating: spec.zeroPad && !spec.leftAlign ? UInt8(ascii: "0") : UInt8(ascii: " "), count: spec.width)
                case .absentString: out += [UInt8](repeating: UInt8(ascii: " "), count: spec.width)
                case .absent: break
                }
            }
        }
        return (out, failures)
    }

    static func nineDigits(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 9 - s.count)) + s
    }

    /// C's `%*.*s`: precision cuts, width pads with spaces (left with `-`); `0` pads with spaces too.
    static func string(_ bytes: [UInt8], _ spec: Spec) -> [UInt8] {
        var shown = bytes
        if let precision = spec.precision, precision < shown.count { shown = Array(shown[0..<precision]) }
        return pad(shown, width: spec.width, left: spec.leftAlign, fill: UInt8(ascii: " "))
    }

    /// C's `%d` with a width: zero-padded with `0`, spaces otherwise, left with `-` (spaces).
    static func number(_ n: Int, _ spec: Spec) -> [UInt8] {
        let digits = Array(String(n).utf8)
        if spec.zeroPad && !spec.leftAlign && digits.count < spec.width {
            return [UInt8](repeating: UInt8(ascii: "0"), count: spec.width - digits.count) + digits
        }
        return pad(digits, width: spec.width, left: spec.leftAlign, fill: UInt8(ascii: " "))
    }

    /// The payload, raw or as hex: a width is the most characters shown (a longer payload is cut)
    /// and pads a shorter one; precision is ignored.
    static func payload(_ bytes: [UInt8], _ spec: Spec, hex upper: Bool?) -> [UInt8] {
        var shown: [UInt8]
        if let upper {
            let fits = spec.width > 0 ? min(bytes.count, spec.width / 2) : bytes.count
            shown = Self.hex(Array(bytes[0..<fits]), upper: upper)
        } else {
            shown = spec.width > 0 && bytes.count > spec.width ? Array(bytes[0..<spec.width]) : bytes
        }
        let fill = spec.zeroPad && !spec.leftAlign ? UInt8(ascii: "0") : UInt8(ascii: " ")
        return pad(shown, width: spec.width, left: spec.leftAlign, fill: fill)
    }

    static func hex(_ bytes: [UInt8], upper: Bool) -> [UInt8] {
        let digits = Array((upper ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return out
    }

    static func pad(_ bytes: [UInt8], width: Int, left: Bool, fill: UInt8) -> [UInt8] {
        guard bytes.count < width else { return bytes }
        let padding = [UInt8](repeating: fill, count: width - bytes.count)
        return left ? bytes + padding : padding + bytes
    }
}

/// The parts of a received message the format shows.
struct FormattedMessage: Sendable {
    var topic: String
    var payload: [UInt8]
    var qos: Int
    var retain: Bool
    var messageID: Int

    init(topic: String, payload: [UInt8], qos: Int, retain: Bool, messageID: Int) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.messageID = messageID
    }

    init(_ message: MQTTMessage) {
        self.init(
            topic: message.topic, payload: Array(message.payload.readableBytesView), qos: Int(message.qos.rawValue),
            retain: message.retain, messageID: Int(message.packetID ?? 0)
        )
    }
}

/// When a message arrived, in local time as mosquitto_sub shows it.
struct ReceiveTime: Sendable {
    var seconds: Int
    var nanoseconds: Int

    static func now() -> ReceiveTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ReceiveTime(seconds: Int(ts.tv_sec), nanoseconds: Int(ts.tv_nsec))
    }

    func strftime(_ conversion: UInt8) -> [UInt8] {
        strftime(format: "%" + String(decoding: [conversion], as: UTF8.self))
    }

    func strftime(format: String, utc: Bool = false) -> [UInt8] {
        var t = time_t(seconds)
        var parts = tm()
        if utc { gmtime_r(&t, &parts) } else { localtime_r(&t, &parts) }
        var buffer = [CChar](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBufferPointer { Glibc.strftime($0.baseAddress, $0.count, format, &parts) }
        return buffer[0..<n].map { UInt8(bitPattern: $0) }
    }
}

/// Prints messages as `sub` was told: `-F`, or payload (topic first with `-v`), with or without
/// the newline (`-N`).
struct MessagePrinter: Sendable {
    let format: MessageFormat?
    let verbose: Bool
    let endOfLine: Bool
    let pretty: Bool

    /// Writes the message; returns the reasons of fields that could not be shown (`%J` on a
    /// payload that is not JSON), for standard error.
    func print(_ message: MQTTMessage) -> [String] {
        var out: [UInt8]
        var failures: [String] = []
        if let format {
            (out, failures) = format.render(FormattedMessage(message), at: .now(), pretty: pretty)
            if endOfLine { out.append(10) }
        } else {
            let payload = Array(message.payload.readableBytesView)
            if payload.isEmpty {
                // As mosquitto_sub: `topic (null)` with -v; nothing at all otherwise, or with -N.
                guard verbose && endOfLine else { return [] }
                out = Array(message.topic.utf8) + Array(" (null)\n".utf8)
            } else {
                out = verbose ? Array(message.topic.utf8) + [UInt8(ascii: " ")] + payload : payload
                if endOfLine { out.append(10) }
            }
        }
        CLIOutput.write(1, bytes: out)
        return failures
    }
}
