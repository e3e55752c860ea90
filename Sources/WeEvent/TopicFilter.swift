/// Which topics a reader wants: one topic, a comma-separated list, or MQTT-style
/// patterns where `+` is exactly one `/`-separated level and `#` (last level only)
/// is any number of levels, none included (`a/#` matches `a`, `a/b`, `a/b/c`).
///
/// A topic whose name contains a comma cannot be named in a list; name it by a pattern.
public struct TopicFilter: Sendable, Hashable, CustomStringConvertible {
    /// Concrete topic names.
    public let topics: Set<String>
    /// Patterns, split into levels.
    let patterns: [[Substring]]
    /// As the caller wrote it, for listings and logs.
    public let description: String

    /// Every topic of the ledger.
    public static let all = TopicFilter(topics: [], patterns: [["#"]], description: "#")

    init(topics: Set<String>, patterns: [[Substring]], description: String) {
        self.topics = topics
        self.patterns = patterns
        self.description = description
    }

    /// True when only concrete names are given (no `+`/`#`): a store can select them by name.
    public var isConcrete: Bool { patterns.isEmpty }

    public func matches(_ topic: String) -> Bool {
        if topics.contains(topic) { return true }
        if patterns.isEmpty { return false }
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        return patterns.contains { TopicFilter.match(levels: levels[...], pattern: $0[...]) }
    }

    private static func match(levels: ArraySlice<Substring>, pattern: ArraySlice<Substring>) -> Bool {
        var levels = levels
        var pattern = pattern
        while let head = pattern.first {
            if head == "#" { return true }
            guard let level = levels.first else { return false }
            if head != "+" && head != level { return false }
            levels = levels.dropFirst()
            pattern = pattern.dropFirst()
        }
        return levels.isEmpty
    }

    /// `rest.filter.max-items` by default.
    public static let defaultMaxItems = 100

    /// Parses `topic` as the stream and subscribe endpoints take it. A blank value is 100103;
    /// a concrete name follows the topic rules (100102, 100106); a misplaced wildcard is 100109;
    /// more than `maxItems` items (repeated ones counted once) is 100110. Repeated items are
    /// kept once.
    public static func parse(_ raw: String?, maxItems: Int = defaultMaxItems) throws(WeEventError) -> TopicFilter {
        guard let raw, !raw.allSatisfy({ $0.isWhitespace }) else { throw WeEventError(.topicIsBlank) }
        var topics: Set<String> = []
        var patterns: [[Substring]] = []
        var seenPatterns: Set<Substring> = []
        for item in raw.split(separator: ",", omittingEmptySubsequences: true) {
            if topics.count + patterns.count >= maxItems, !topics.contains(String(item)), !seenPatterns.contains(item) {
                throw WeEventError(
                    .filterTooLong, message: "topic filter has more than \(maxItems) topics and patterns (rest.filter.max-items)"
                )
            }
            let name = String(item)
            guard name.contains("+") || name.contains("#") else {
                topics.insert(try Validation.topic(name))
                continue
            }
            if name.utf8.count > Validation.maxTopicLength { throw WeEventError(.topicExceedMaxLength) }
            if name.utf8.contains(where: { $0 < 32 || $0 > 127 }) {
                throw WeEventError(.topicContainInvalidChar, detail: "pattern \(name)")
            }
            guard seenPatterns.insert(item).inserted else { continue }
            let levels = item.split(separator: "/", omittingEmptySubsequences: false)
            for (index, level) in levels.enumerated() where level.contains("+") || level.contains("#") {
                let wholeLevel = level == "+" || level == "#"
                if !wholeLevel || (level == "#" && index != levels.count - 1) {
                    throw WeEventError(.patternInvalid, detail: "pattern \(name): '+' and '#' must be whole levels, '#' only last")
                }
            }
            patterns.append(levels)
        }
        if topics.isEmpty && patterns.isEmpty { throw WeEventError(.topicIsBlank) }
        return TopicFilter(topics: topics, patterns: patterns, description: raw)
    }
}

/// Where a reader starts, as the `offset` parameter names it.
public enum Offset: Sendable, Equatable {
    /// From the first event of the ledger.
    case first
    /// Only events committed from now on.
    case last
    /// Right after this event (in ledger order, whatever its topic).
    case after(EventID)
    /// From the first event of this block.
    case block(UInt64)

    /// `OFFSET_FIRST`, `OFFSET_LAST`, an event id or a block height; nil is `defaultOffset`,
    /// an empty value 100500, a malformed one 100302, height 0 100307.
    public static func parse(_ raw: String?, default defaultOffset: Offset) throws(WeEventError) -> Offset {
        guard let raw else { return defaultOffset }
        let text = raw.trimmingBlanks()
        if text.isEmpty { throw WeEventError(.offsetIsBlank) }
        switch text {
        case "OFFSET_FIRST": return .first
        case "OFFSET_LAST": return .last
        default: break
        }
        if text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let height = UInt64(text), (1...EventID.maxNumber).contains(height) else { throw WeEventError(.blockHeightInvalid, detail: text) }
            return .block(height)
        }
        return .after(try EventID.parse(text))
    }
}

extension String {
    func trimmingBlanks() -> String {
        String(self.drop(while: { $0.isWhitespace }).reversed().drop(while: { $0.isWhitespace }).reversed())
    }
}
