/// A parsed Java properties file: every entry with the line it started on.
///
/// Syntax as java.util.Properties reads it: `#` and `!` comment lines, `key=value`,
/// `key: value` and `key value`, backslash continuation (leading blanks of the next
/// line dropped), `\t \n \r \f \uXXXX` escapes, a backslash before any other
/// character keeps that character. Two additions: trailing blanks of a value are
/// dropped (operators paste them by accident), and `${NAME}` is replaced by the
/// environment variable NAME, whose absence is an error naming the key and line.
public struct Properties: Sendable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: String
        public var line: Int
    }

    /// Entries in file order; a key given twice keeps both, the last one wins in `values`.
    public private(set) var entries: [Entry] = []
    /// The source name used in error messages (a path, usually).
    public let source: String

    public var values: [String: Entry] {
        var result: [String: Entry] = [:]
        for entry in entries { result[entry.key] = entry }
        return result
    }

    public subscript(key: String) -> String? { values[key]?.value }

    public init(
        parsing text: String,
        source: String = "weevent.properties",
        environment: [String: String] = [:]
    ) throws(ConfigurationError) {
        self.source = source
        let lines = Properties.naturalLines(text)
        var index = 0
        while index < lines.count {
            let startLine = index + 1
            var logical = Properties.stripLeadingBlanks(lines[index])
            index += 1
            if logical.isEmpty || logical.first == "#" || logical.first == "!" { continue }
            while Properties.endsWithContinuation(logical) {
                logical.removeLast()
                guard index < lines.count else { break }
                logical += Properties.stripLeadingBlanks(lines[index])
                index += 1
            }
            var (rawKey, rawValue) = Properties.splitKeyValue(logical)
            while rawValue.last == " " || rawValue.last == "\t" { rawValue.removeLast() }
            let key = try Properties.unescape(rawKey, source: source, line: startLine, key: nil)
            let unescaped = try Properties.unescape(rawValue, source: source, line: startLine, key: key)
            let value = try Properties.expand(unescaped, environment: environment, source: source, line: startLine, key: key)
            entries.append(Entry(key: key, value: value, line: startLine))
        }
    }

    static func naturalLines(_ text: String) -> [Substring] {
        var lines: [Substring] = []
        var start = text.startIndex
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "\n" || c == "\r" || c == "\r\n" {
                lines.append(text[start..<i])
                start = text.index(after: i)
            }
            i = text.index(after: i)
        }
        if start < text.endIndex { lines.append(text[start...]) }
        return lines
    }

    static func stripLeadingBlanks(_ s: Substring) -> String {
        String(s.drop(while: { $0 == " " || $0 == "\t" || $0 == "\u{0C}" }))
    }

    /// An odd number of trailing backslashes continues the line.
    static func endsWithContinuation(_ s: String) -> Bool {
        var count = 0
        for c in s.reversed() {
            if c == "\\" { count += 1 } else { break }
        }
        return count % 2 == 1
    }

    /// Splits at the first unescaped `=`, `:` or blank; blanks and one separator after the key are skipped.
    static func splitKeyValue(_ line: String) -> (String, String) {
        let chars = Array(line)
        var i = 0
        var escaped = false
        while i < chars.count {
            let c = chars[i]
            if escaped {
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "=" || c == ":" || c == " " || c == "\t" || c == "\u{0C}" {
                break
            }
            i += 1
        }
        let key = String(chars[0..<i])
        var j = i
        while j < chars.count, chars[j] == " " || chars[j] == "\t" || chars[j] == "\u{0C}" { j += 1 }
        if j < chars.count, chars[j] == "=" || chars[j] == ":" {
            j += 1
            while j < chars.count, chars[j] == " " || chars[j] == "\t" || chars[j] == "\u{0C}" { j += 1 }
        }
        return (key, String(chars[j...]))
    }

    static func unescape(_ s: String, source: String, line: Int, key: String?) throws(ConfigurationError) -> String {
        guard s.contains("\\") else { return s }
        var out = ""
        var chars = s.makeIterator()
        while let c = chars.next() {
            guard c == "\\" else {
                out.append(c)
                continue
            }
            guard let next = chars.next() else { break }
            switch next {
            case "t": out.append("\t")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "f": out.append("\u{0C}")
            case "u":
                var hex = ""
                for _ in 0..<4 {
                    guard let h = chars.next() else { break }
                    hex.append(h)
                }
                guard hex.count == 4, let scalarValue = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(scalarValue) else {
                    throw ConfigurationError(
                        source: source, line: line, key: key ?? "(key)",
                        message: "malformed \\uXXXX escape '\\u\(hex)'"
                    )
                }
                out.unicodeScalars.append(scalar)
            default: out.append(next)
            }
        }
        return out
    }

    static func expand(
        _ s: String, environment: [String: String], source: String, line: Int, key: String
    ) throws(ConfigurationError) -> String {
        guard s.contains("${") else { return s }
        var out = ""
        var rest = Substring(s)
        while let start = rest.range(of: "${") {
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw ConfigurationError(source: source, line: line, key: key, message: "unterminated '${' in value")
            }
            let name = String(rest[start.upperBound..<end])
            guard let value = environment[name] else {
                throw ConfigurationError(
                    source: source, line: line, key: key,
                    message: "environment variable '\(name)' is not set"
                )
            }
            out += value
            rest = rest[rest.index(after: end)...]
        }
        out += rest
        return out
    }
}

extension Substring {
    fileprivate func range(of needle: String) -> Range<Index>? {
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) {
                return i..<index(i, offsetBy: needle.count)
            }
            i = index(after: i)
        }
        return nil
    }
}

/// A configuration problem that stops start-up: which file, line and key, and what is wrong.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var source: String
    public var line: Int?
    public var key: String
    public var message: String

    public init(source: String, line: Int?, key: String, message: String) {
        self.source = source
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        if let line { return "\(source):\(line): \(key): \(message)" }
        return "\(source): \(key): \(message)"
    }
}
