#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import WeEvent

/// The broker's settings, read from conf/weevent.properties (DESIGN §3, docs/configuration.md),
/// one part per area, each read by its own reader (`init(reading:)`). Durations are `Duration`s;
/// the keys keep the source documents' units (`-ms`, seconds).
public struct Configuration: Sendable, Equatable {
    public var server = ServerSettings()
    public var rest = RestSettings()
    public var request = RequestSettings()
    public var ledger = LedgerSettings()
    public var events = EventSettings()
    public var postgres = PostgresSettings()
    public var subscriptions = SubscriptionSettings()
    public var mqtt = MQTTSettings()
    public var zookeeper = ZooKeeperSettings()

    /// Keys that were present but are not known; start-up logs them as warnings.
    public var unknownKeys: [Properties.Entry] = []

    public init() {}

    /// Reads and validates a properties file; a malformed value throws an error naming key and line.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> Configuration
    {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError(source: path, line: nil, key: "(file)", message: "cannot read: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1) else {
            throw ConfigurationError(source: path, line: nil, key: "(file)", message: "not text")
        }
        return try Configuration(properties: Properties(parsing: text, source: path, environment: environment))
    }

    public init(properties: Properties) throws(ConfigurationError) {
        let reader = ConfigurationReader(properties: properties)
        server = try ServerSettings(reading: reader)
        ledger = try LedgerSettings(reading: reader)
        postgres = try PostgresSettings(reading: reader, store: ledger.store)
        events = try EventSettings(reading: reader)
        rest = try RestSettings(reading: reader)
        request = try RequestSettings(reading: reader)
        subscriptions = try SubscriptionSettings(reading: reader)
        mqtt = try MQTTSettings(reading: reader)
        zookeeper = try ZooKeeperSettings(reading: reader)
        // Known keys are the keys read above: the list cannot miss one the configuration uses.
        unknownKeys = properties.entries.filter { !reader.read.contains($0.key) }
    }
}

/// Reads typed values, remembering where each came from for error messages, and which keys
/// were asked for (every other key of the file is unknown).
final class ConfigurationReader {
    let properties: Properties
    let values: [String: Properties.Entry]
    private(set) var read: Set<String> = []

    init(properties: Properties) {
        self.properties = properties
        self.values = properties.values
    }

    func error(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(source: properties.source, line: values[key]?.line, key: key, message: message)
    }

    func string(_ key: String, default value: String, nonEmpty: Bool = false) throws(ConfigurationError) -> String {
        read.insert(key)
        guard let entry = values[key] else { return value }
        if nonEmpty && entry.value.isEmpty { throw error(key, "must not be empty") }
        return entry.value
    }

    func bool(_ key: String, default value: Bool) throws(ConfigurationError) -> Bool {
        read.insert(key)
        guard let entry = values[key] else { return value }
        switch entry.value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw error(key, "'\(entry.value)' is not true or false")
        }
    }

    func int(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        read.insert(key)
        guard let entry = values[key] else { return value }
        guard let parsed = Int(entry.value), range.contains(parsed) else {
            throw error(key, "'\(entry.value)' is not an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    /// A duration given in milliseconds, within `range` (milliseconds).
    func milliseconds(_ key: String, default value: Duration, in range: ClosedRange<Int>) throws(ConfigurationError) -> Duration {
        .milliseconds(try int(key, default: Self.wholeMilliseconds(value), in: range))
    }

    /// A duration given in seconds, within `range` (seconds).
    func seconds(_ key: String, default value: Duration, in range: ClosedRange<Int>) throws(ConfigurationError) -> Duration {
        .seconds(try int(key, default: Int(value.components.seconds), in: range))
    }

    static func wholeMilliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }

    /// A comma-separated list of addresses and CIDR ranges.
    func ranges(_ key: String) throws(ConfigurationError) -> [IPRange] {
        try list(key) { value in
            IPRange(value) == nil ? "'\(value)' is not an IPv4 or IPv6 address or CIDR range (like 10.0.0.0/8)" : nil
        }.compactMap { IPRange($0) }
    }

    func list(_ key: String, default value: [String] = [], check: (String) -> String?) throws(ConfigurationError) -> [String] {
        read.insert(key)
        guard let entry = values[key] else { return value }
        let items = entry.value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for item in items {
            if let problem = check(item) { throw error(key, problem) }
        }
        return items
    }
}

extension Duration {
    /// Whole milliseconds (what the `-ms` keys give), for APIs that count in them.
    public var wholeMilliseconds: Int { ConfigurationReader.wholeMilliseconds(self) }
}
