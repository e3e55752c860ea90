import Foundation

/// How `rest/request` pairs a device's reply with the command it answers: a value at a JSON
/// path in the content (`header.reqid`, `reqId`, `id`, ...) that the reply carries unchanged.
///
/// A path is one or more object keys separated by dots; each key is 1-64 bytes of letters,
/// digits, `_` or `-` (no array indices). A correlation value is a JSON string or an integer,
/// compared by its text: `"129393"` and `129393` are the same value.
public struct CorrelationPath: Sendable, Hashable, CustomStringConvertible {
    public let keys: [String]

    /// Tried in this order when a request names no path: the three shapes of the source
    /// documents' device protocols (003, 004, 002).
    public static let defaults: [CorrelationPath] = [
        CorrelationPath(uncheckedKeys: ["header", "reqid"]),
        CorrelationPath(uncheckedKeys: ["reqId"]),
        CorrelationPath(uncheckedKeys: ["id"]),
    ]
    /// Where the broker writes a generated value when the request names no path and the
    /// content has none of the `defaults`.
    public static let generated = CorrelationPath(uncheckedKeys: ["reqId"])
    static let maxDepth = 8
    static let maxKeyLength = 64

    private init(uncheckedKeys: [String]) {
        keys = uncheckedKeys
    }

    public init(parsing raw: String) throws(WeEventError) {
        let keys = raw.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !raw.isEmpty, keys.count <= Self.maxDepth, keys.allSatisfy(Self.isKey) else {
            throw WeEventError(
                .correlationInvalid,
                message: "correlation must be object keys separated by dots (at most \(Self.maxDepth), each 1-64 of A-Z a-z 0-9 _ -), got '\(raw.prefix(80))'"
            )
        }
        self.keys = keys
    }

    private static func isKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= maxKeyLength
            && key.utf8.allSatisfy {
                $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0)
                    || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
            }
    }

    public var description: String { keys.joined(separator: ".") }

    /// The correlation value at this path in `content`, as text; nil when the content is not a
    /// JSON object, or the path leads nowhere or to something other than a string or an integer.
    public func value(in content: [UInt8]) -> String? {
        guard case .object(let root)? = JSONValue.parse(content) else { return nil }
        return value(in: root)
    }

    func value(in root: [String: JSONValue]) -> String? {
        var object = root
        for key in keys.dropLast() {
            guard case .object(let inner)? = object[key] else { return nil }
            object = inner
        }
        switch object[keys[keys.count - 1]] {
        case .string(let text)?: return text
        case .integer(let number)?: return String(number)
        default: return nil
        }
    }
}

/// A command made ready to send: its content (with the broker's value added when it had none),
/// where its correlation value is, and that value.
public struct CorrelatedCommand: Sendable, Equatable {
    public let content: [UInt8]
    public let path: CorrelationPath
    public let value: String
    /// The broker wrote `value` into the content.
    public let generated: Bool

    /// Finds the command's correlation value at `path` (or, with no path, at the first of the
    /// `CorrelationPath.defaults` the content has), or writes `newValue()` there (at
    /// `CorrelationPath.generated` with no path). The content must then be a JSON object; the
    /// value is inserted as text, so the rest of the content stays byte for byte as it was.
    public static func prepare(
        _ content: [UInt8], path: CorrelationPath?, newValue: () -> String = { UUID().uuidString.lowercased() }
    ) throws(WeEventError) -> CorrelatedCommand {
        guard let parsed = JSONValue.parse(content) else {
            throw WeEventError(.correlationInvalid, message: "rest/request needs content that is a JSON object, to carry the correlation value")
        }
        guard case .object(let root) = parsed else {
            throw WeEventError(.correlationInvalid, message: "rest/request needs content that is a JSON object, not another JSON value")
        }
        let candidates = path.map { [$0] } ?? CorrelationPath.defaults
        for candidate in candidates {
            if let value = candidate.value(in: root) {
                return CorrelatedCommand(content: content, path: candidate, value: value, generated: false)
            }
        }
        let target = path ?? CorrelationPath.generated
        // Something at the path that is not a usable value is the caller's mistake, not ours to overwrite.
        var object = root
        for (index, key) in target.keys.enumerated() {
            guard let next = object[key] else { break }
            guard index < target.keys.count - 1, case .object(let inner) = next else {
                throw WeEventError(
                    .correlationInvalid,
                    message:
                        "the content has '\(target.keys[0...index].joined(separator: "."))' but it is not \(index < target.keys.count - 1 ? "an object" : "a string or an integer")"
                )
            }
            object = inner
        }
        let value = newValue()
        guard let inserted = JSONInsertion.insert(value, at: target.keys, into: content) else {
            throw WeEventError(.correlationInvalid, message: "cannot write the correlation value into the content")
        }
        return CorrelatedCommand(content: inserted, path: target, value: value, generated: true)
    }
}

extension CorrelatedCommand {
    /// Whether `content` carries this command's value at its path. Most replies on a busy reply
    /// topic answer other commands: a content in which the value's text does not appear (and
    /// which has no escape that could spell it) is not parsed at all.
    public func isAnswered(by content: [UInt8]) -> Bool {
        let needle = Array(value.utf8)
        guard Self.contains(content, needle) || content.contains(UInt8(ascii: "\\")) else { return false }
        return path.value(in: content) == value
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first else { return true }
        guard haystack.count >= needle.count else { return false }
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }
}

/// A parsed JSON value, as far as correlation needs it (numbers that are not integers, and
/// arrays, are kept only as "something else").
enum JSONValue: Decodable, Equatable {
    case object([String: JSONValue])
    case string(String)
    case integer(Int64)
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let object = try? container.decode([String: JSONValue].self) {
            self = .object(object)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if (try? container.decode(Bool.self)) != nil {
            self = .other
        } else if let number = try? container.decode(Int64.self) {
            self = .integer(number)
        } else {
            self = .other
        }
    }

    /// nil when `bytes` is not JSON.
    static func parse(_ bytes: [UInt8]) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }
}

/// Writes a string member into a JSON document's text without re-encoding the rest.
enum JSONInsertion {
    /// Inserts `value` at `keys` into `document` (a valid JSON object): after the opening brace
    /// of the deepest object on the path that exists, as `"k1":{"k2":"value"}` for the keys not
    /// there yet. nil when the document's text could not be followed.
    static func insert(_ value: String, at keys: [String], into document: [UInt8]) -> [UInt8]? {
        var scanner = Scanner(bytes: document)
        scanner.skipSpace()
        guard scanner.peek == UInt8(ascii: "{") else { return nil }
        var depth = 0
        // The object to insert into: found by following the path's existing objects.
        while depth < keys.count - 1, let inner = scanner.memberObject(named: keys[depth]) {
            scanner.index = inner
            depth += 1
        }
        let braceEnd = scanner.index + 1
        var member = ""
        for key in keys[depth..<(keys.count - 1)] { member += "\"\(key)\":{" }
        member += "\"\(keys[keys.count - 1])\":" + encodeString(value)
        member += String(repeating: "}", count: keys.count - 1 - depth)
        var after = Scanner(bytes: document, index: braceEnd)
        after.skipSpace()
        let isEmpty = after.peek == UInt8(ascii: "}")
        var result = Array(document[..<braceEnd])
        result += Array(member.utf8)
        if !isEmpty { result.append(UInt8(ascii: ",")) }
        result += document[braceEnd...]
        return result
    }

    static func encodeString(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Walks JSON text that is known to be valid.
    struct Scanner {
        let bytes: [UInt8]
        var index = 0

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        /// At an object's `{`: the position of the `{` of member `name`'s value when that value
        /// is an object; nil otherwise. The scanner does not move.
        func memberObject(named name: String) -> Int? {
            var scanner = self
            scanner.index += 1
            while true {
                scanner.skipSpace()
                guard scanner.peek == UInt8(ascii: "\"") else { return nil }
                let keyStart = scanner.index + 1
                scanner.skipString()
                let key = scanner.bytes[keyStart..<(scanner.index - 1)]
                scanner.skipSpace()
                guard scanner.peek == UInt8(ascii: ":") else { return nil }
                scanner.index += 1
                scanner.skipSpace()
                if key.elementsEqual(name.utf8) {
                    return scanner.peek == UInt8(ascii: "{") ? scanner.index : nil
                }
                scanner.skipValue()
                scanner.skipSpace()
                guard scanner.peek == UInt8(ascii: ",") else { return nil }
                scanner.index += 1
            }
        }

        /// At a `"`: moves past the closing quote.
        mutating func skipString() {
            index += 1
            while let byte = peek {
                index += 1
                if byte == UInt8(ascii: "\\") { index += 1 } else if byte == UInt8(ascii: "\"") { return }
            }
        }

        /// Moves past one value (object, array, string or literal).
        mutating func skipValue() {
            guard let first = peek else { return }
            if first == UInt8(ascii: "\"") { skipString(); return }
            if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
                var depth = 0
                while let byte = peek {
                    if byte == UInt8(ascii: "\"") { skipString(); continue }
                    index += 1
                    if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
                    if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                        depth -= 1
                        if depth == 0 { return }
                    }
                }
                return
            }
            while let byte = peek, byte != UInt8(ascii: ","), byte != UInt8(ascii: "}"), byte != UInt8(ascii: "]") { index += 1 }
        }
    }
}
