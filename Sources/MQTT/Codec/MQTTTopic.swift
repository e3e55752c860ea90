/// Topic name and filter rules (section 4.7).
public enum MQTTTopic {
    /// A topic name one may publish to: not empty, no wildcard, no U+0000, at most 65535 bytes.
    public static func isValidName(_ name: String) -> Bool {
        let utf8 = name.utf8
        return !utf8.isEmpty && utf8.count <= 65535
            && !utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") || $0 == 0 })
    }

    /// A filter one may subscribe to: `+` alone in a level, `#` alone in the last level.
    public static func isValidFilter(_ filter: String) -> Bool {
        let utf8 = filter.utf8
        guard !utf8.isEmpty, utf8.count <= 65535, !utf8.contains(0) else { return false }
        let levels = utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains(UInt8(ascii: "#")) {
                guard level.count == 1, index == levels.count - 1 else { return false }
            }
            if level.contains(UInt8(ascii: "+")) {
                guard level.count == 1 else { return false }
            }
        }
        return true
    }

    /// Whether `topic` matches `filter` (used to route messages in tests and the CLI).
    public static func matches(filter: String, topic: String) -> Bool {
        let f = filter.split(separator: "/", omittingEmptySubsequences: false)
        let t = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$") && (f.first == "#" || f.first == "+") { return false }
        var i = 0
        while i < f.count {
            if f[i] == "#" { return true }
            guard i < t.count else { return false }
            if f[i] != "+" && f[i] != t[i] { return false }
            i += 1
        }
        return i == t.count
    }
}
