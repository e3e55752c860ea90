import Foundation

/// What an identity may do (docs/api.md "Access control").
public enum Action: String, Sendable, Hashable, CaseIterable, Codable, Comparable {
    /// rest/publish, and rest/open of a topic that does not exist yet.
    case publish
    /// rest/getEvent, events, stream, proof, block, exist, state, list; the reply of rest/request.
    case read
    /// rest/request's command.
    case request
    /// rest/open (also of a closed topic), rest/close, the MQTT bindings, callback subscriptions.
    case manage
    /// /weevent/admin/*, identities, metrics. Not tied to groups or topics.
    case admin

    public static func < (a: Action, b: Action) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One grant: some actions, in some groups (nil: every group), on the topics some MQTT-style
/// patterns match (`+` one level, `#` the rest, `a/#` matching `a` too).
///
/// Written as text (configuration, `weevent identity`) as `ACTIONS[@GROUPS][:TOPICS]`, each a
/// comma-separated list, groups `*` for every group, topics `#` by default:
/// `publish,read@1:sensors/#,alerts`.
public struct Right: Sendable, Hashable, Codable, CustomStringConvertible {
    public var actions: Set<Action>
    /// nil: every group.
    public var groups: [String]?
    public var topics: [String] { didSet { levels = Self.levels(topics) } }
    /// The topics split into levels once: a right is checked on every request.
    private var levels: [[Substring]]

    public init(actions: Set<Action>, groups: [String]? = nil, topics: [String] = ["#"]) {
        self.actions = actions
        self.groups = groups
        self.topics = topics
        self.levels = Self.levels(topics)
    }

    private static func levels(_ topics: [String]) -> [[Substring]] {
        topics.map { $0.split(separator: "/", omittingEmptySubsequences: false) }
    }

    /// Every action on every topic of every group.
    public static let everything = Right(actions: Set(Action.allCases))

    public var description: String {
        let actions = self.actions.sorted().map(\.rawValue).joined(separator: ",")
        return "\(actions)@\(groups?.joined(separator: ",") ?? "*"):\(topics.joined(separator: ","))"
    }

    /// Parses the text form; 100708 naming what is wrong.
    public static func parse(_ text: String) throws(WeEventError) -> Right {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw invalid(text, "it is blank") }
        let colon = trimmed.firstIndex(of: ":")
        let head = colon.map { trimmed[..<$0] } ?? trimmed[...]
        let topicText = colon.map { trimmed[trimmed.index(after: $0)...] } ?? "#"
        let at = head.firstIndex(of: "@")
        let actionText = at.map { head[..<$0] } ?? head
        var actions: Set<Action> = []
        for name in actionText.split(separator: ",", omittingEmptySubsequences: false) {
            guard let action = Action(rawValue: name.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw invalid(text, "'\(name.prefix(20))' is not an action (publish, read, request, manage, admin)")
            }
            actions.insert(action)
        }
        var groups: [String]?
        if let at {
            let list = head[head.index(after: at)...].split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if list != ["*"] {
                for group in list where group.isEmpty || group.count > 64 || group.contains("*") {
                    throw invalid(text, "'\(group.prefix(20))' is not a group id (or * alone for every group)")
                }
                groups = list
            }
        }
        var topics: [String] = []
        for topic in topicText.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            do {
                _ = try TopicFilter.parse(topic, maxItems: 1)
            } catch {
                throw invalid(text, "'\(topic.prefix(70))' is not a topic or pattern: \(error.message)")
            }
            if !topics.contains(topic) { topics.append(topic) }
        }
        return Right(actions: actions, groups: groups, topics: topics)
    }

    private static func invalid(_ text: String, _ why: String) -> WeEventError {
        WeEventError(.rightInvalid, message: "invalid right '\(text.prefix(100))': \(why); write ACTIONS[@GROUPS][:TOPICS]")
    }

    func applies(to action: Action, group: String) -> Bool {
        actions.contains(action) && (groups?.contains(group) ?? true)
    }

    /// One of the patterns matches every topic `item` (a topic or a pattern, split into levels) matches.
    func covers(_ item: [Substring]) -> Bool {
        levels.contains { Self.covers(pattern: $0[...], item: item[...]) }
    }

    /// `pattern` matches every topic `item` matches. Level by level: `#` covers whatever is left
    /// (nothing included, since `a/#` matches `a`); `+` covers one level that is not `#`; a name
    /// covers only itself. An item that ends first is covered only by a pattern whose rest is `#`.
    static func covers(pattern: ArraySlice<Substring>, item: ArraySlice<Substring>) -> Bool {
        var pattern = pattern
        var item = item
        while let head = pattern.first {
            if head == "#" { return true }
            guard let level = item.first, level != "#" else { return false }
            if head != "+" && (level == "+" || head != level) { return false }
            pattern = pattern.dropFirst()
            item = item.dropFirst()
        }
        return item.isEmpty
    }
}

/// The rights an identity holds: an action is allowed on a topic when one right allows it.
public struct Rights: Sendable, Hashable, Codable, CustomStringConvertible {
    public var list: [Right]

    public init(_ list: [Right]) {
        self.list = list
    }

    public static let everything = Rights([.everything])
    public static let none = Rights([])

    public var description: String { list.isEmpty ? "none" : list.map(\.description).joined(separator: " ") }

    /// Parses whitespace-separated rights (configuration); `none` or blank is no right.
    public static func parse(list text: String) throws(WeEventError) -> Rights {
        let items = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if items.isEmpty || items == ["none"] { return .none }
        var rights: [Right] = []
        for item in items { rights.append(try Right.parse(String(item))) }
        return Rights(rights)
    }

    /// `action` on `topic` of `group`.
    public func allow(_ action: Action, group: String, topic: String) -> Bool {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        return list.contains { $0.applies(to: action, group: group) && $0.covers(levels) }
    }

    /// `action` on every topic `filter` can match: each of its items is covered by one right.
    public func allow(_ action: Action, group: String, covering filter: TopicFilter) -> Bool {
        let granted = list.filter { $0.applies(to: action, group: group) }
        if granted.isEmpty { return false }
        for item in filter.items where !granted.contains(where: { $0.covers(item) }) { return false }
        return true
    }

    /// `action` somewhere (any group, any topic): for admin, and for listings that show only
    /// what the caller may see.
    public func allow(_ action: Action) -> Bool {
        list.contains { $0.actions.contains(action) }
    }

    /// Some action on `topic` of `group`.
    public func allowAny(group: String, topic: String) -> Bool {
        Action.allCases.contains { allow($0, group: group, topic: topic) }
    }
}

extension TopicFilter {
    /// Every topic and pattern, split into levels.
    var items: [[Substring]] {
        topics.map { $0.split(separator: "/", omittingEmptySubsequences: false) } + patterns
    }
}

extension Right {
    enum CodingKeys: String, CodingKey { case actions, groups, topics }

    /// `{"actions":[...],"groups":[...] or absent for every group,"topics":[...]}`, actions in
    /// their documented order.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(actions.sorted(), forKey: .actions)
        try container.encodeIfPresent(groups, forKey: .groups)
        try container.encode(topics, forKey: .topics)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            actions: Set(try container.decode([Action].self, forKey: .actions)),
            groups: try container.decodeIfPresent([String].self, forKey: .groups),
            topics: try container.decode([String].self, forKey: .topics))
    }
}

extension Rights {
    /// A plain array of rights.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(list)
    }

    public init(from decoder: any Decoder) throws {
        list = try decoder.singleValueContainer().decode([Right].self)
    }
}
