/// How long a group's events keep their content (docs/ledger.md "Retention"): by age, by the
/// bytes the group holds, and per topic pattern. The pruner removes the content of what falls
/// outside it; every event keeps its place and hash, so proofs still hold.
public struct RetentionPolicy: Sendable, Equatable {
    /// A topic pattern's own age limit, or none ("keep").
    public struct Rule: Sendable, Equatable {
        /// An MQTT pattern (`+`, `#`) or a topic name. Matches `$` topics only when it starts with `$`.
        public var pattern: String
        /// Milliseconds; nil: the pattern's events are kept whatever their age and size.
        public var maxAge: Int64?

        public init(pattern: String, maxAge: Int64?) {
            self.pattern = pattern
            self.maxAge = maxAge
        }
    }

    /// Milliseconds; nil: no age limit for topics no rule names.
    public var maxAge: Int64?
    /// Content and extension bytes the group may hold (its prunable topics' events); nil: no limit.
    public var maxBytes: UInt64?
    /// Checked in order: the first whose pattern matches a topic governs it.
    public var rules: [Rule]

    public init(maxAge: Int64? = nil, maxBytes: UInt64? = nil, rules: [Rule] = []) {
        self.maxAge = maxAge
        self.maxBytes = maxBytes
        self.rules = rules
    }

    /// Whether this policy prunes nothing at all.
    public var keepsEverything: Bool {
        maxAge == nil && maxBytes == nil && rules.allSatisfy { $0.maxAge == nil }
    }

    /// How the policy treats a topic's events.
    public enum Treatment: Sendable, Equatable, Hashable {
        /// Never pruned (a rule says keep, or a `$` topic no `$` rule names).
        case kept
        /// Pruned once older than the age (nil: no age limit) or past the group's byte budget.
        case pruned(maxAge: Int64?)
    }

    public func treatment(of topic: String) -> Treatment {
        treatment(of: topic, filters: filters())
    }

    /// The topics by how the policy treats them, each rule's pattern parsed once.
    public func partition(_ topics: [String]) -> [Treatment: [String]] {
        let filters = filters()
        var partition: [Treatment: [String]] = [:]
        for topic in topics { partition[treatment(of: topic, filters: filters), default: []].append(topic) }
        return partition
    }

    private func filters() -> [(rule: Rule, filter: TopicFilter?)] {
        rules.map { ($0, try? TopicFilter.parse($0.pattern)) }
    }

    private func treatment(of topic: String, filters: [(rule: Rule, filter: TopicFilter?)]) -> Treatment {
        // The stored settings themselves are never pruned.
        if topic == RetentionSettings.topic { return .kept }
        let system = topic.hasPrefix("$")
        for (rule, filter) in filters where rule.pattern.hasPrefix("$") == system {
            guard let filter, filter.matches(topic) else { continue }
            return rule.maxAge.map { .pruned(maxAge: $0) } ?? .kept
        }
        // The broker's own topics (the audit trail, this policy) are kept unless a rule names them.
        return system ? .kept : .pruned(maxAge: maxAge)
    }

    // MARK: values as operators write them

    /// `500ms`, `90s`, `15m`, `12h`, `7d` (a whole number and a unit) in milliseconds, at most
    /// 100 years; nil for anything else.
    public static func milliseconds(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (unit, factor) in units where text.hasSuffix(unit) {
            let digits = text.dropLast(unit.count)
            guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = Int64(digits), value >= 0,
                value <= 100 * 365 * 86_400_000 / factor
            else { continue }
            return value * factor
        }
        return nil
    }

    /// A duration as `milliseconds` reads it, in the largest unit that divides it.
    public static func describe(milliseconds value: Int64) -> String {
        for (unit, factor) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where value > 0 && value % factor == 0 {
            return "\(value / factor)\(unit)"
        }
        return "\(value)ms"
    }

    /// Bytes: a whole number, alone or with `KB`/`MB`/`GB`/`TB` (powers of 1000) or
    /// `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024), at most 2^62; nil for anything else.
    public static func bytes(_ text: String) -> UInt64? {
        let units: [(String, UInt64)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
            ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("B", 1), ("", 1),
        ]
        for (unit, factor) in units where text.hasSuffix(unit) {
            let digits = text.dropLast(unit.count)
            guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = UInt64(digits), value <= (1 << 62) / factor else { continue }
            return value * factor
        }
        return nil
    }
}

/// What an operator set for one group through admin/setRetention, kept as the latest event of
/// the group's `$weevent/retention` topic (so every instance of a cluster reads the same, and
/// the ledger proves each change). Fields not set follow the configuration.
public struct RetentionSettings: Sendable, Equatable, Codable {
    /// "none" (no age limit), a duration (`RetentionPolicy.milliseconds`), or nil: as configured.
    public var maxAge: String?
    /// "none", a size (`RetentionPolicy.bytes`), or nil: as configured.
    public var maxBytes: String?
    public var topics: [TopicSetting]

    public struct TopicSetting: Sendable, Equatable, Codable {
        public var pattern: String
        /// A duration, or "keep".
        public var maxAge: String

        public init(pattern: String, maxAge: String) {
            self.pattern = pattern
            self.maxAge = maxAge
        }
    }

    public static let topic = "$weevent/retention"

    public init(maxAge: String? = nil, maxBytes: String? = nil, topics: [TopicSetting] = []) {
        self.maxAge = maxAge
        self.maxBytes = maxBytes
        self.topics = topics
    }

    /// The policy these settings give over the configured one (`configured`: its age and bytes).
    public func applied(to configured: RetentionPolicy) -> RetentionPolicy {
        var policy = configured
        if let maxAge { policy.maxAge = maxAge == "none" ? nil : RetentionPolicy.milliseconds(maxAge) }
        if let maxBytes { policy.maxBytes = maxBytes == "none" ? nil : RetentionPolicy.bytes(maxBytes) }
        policy.rules = topics.map { RetentionPolicy.Rule(pattern: $0.pattern, maxAge: $0.maxAge == "keep" ? nil : RetentionPolicy.milliseconds($0.maxAge)) }
        return policy
    }
}
