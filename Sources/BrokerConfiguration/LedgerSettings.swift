import Foundation
import WeEvent

/// Where the ledgers live and how blocks are sealed (`ledger.*` but the PostgreSQL keys).
public struct LedgerSettings: Sendable, Equatable {
    public var path = "./data"
    public var groups = ["1"]
    public var blockMaxEvents = 1000
    /// `ledger.block.max-delay-ms`: how long a block's first event may wait for others.
    public var blockMaxDelay: Duration = .zero
    /// `.sqlite` (embedded, one instance) or `.postgresql` (shared by every instance).
    public var store = LedgerStoreKind.sqlite
    /// `ledger.origin`: names this broker's logs; group `G`'s log is `<origin>/G`.
    public var origin = "weevent.localhost"
    /// `ledger.signing-key`: the checkpoint signing key's file; nil: `signing.key` under `path`.
    public var signingKey: String?

    /// `ledger.checkpoint.interval-ms`: a new signed checkpoint at least this often while the
    /// tree grows; zero signs none.
    public var checkpointInterval: Duration = .seconds(1)
    /// `ledger.witnesses`: the witnesses whose cosignatures the broker keeps, as signed-note
    /// verifier keys of type 0x04 (tlog-cosignature), `<name>+<key id>+<base64>`.
    public var witnesses: [String] = []

    /// `ledger.retention.max-age` and `ledger.retention.max-bytes`: every group's retention
    /// (admin/setRetention changes it per group and per topic pattern); none by default.
    public var retention = RetentionPolicy()
    /// `ledger.retention.interval-ms`: how often the pruner looks for content to remove.
    public var retentionInterval: Duration = .seconds(10)

    /// Where the checkpoint signing key is kept.
    public var signingKeyPath: String { signingKey ?? "\(path)/signing.key" }

    public init() {}

    init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        path = try reader.string("ledger.path", default: path, nonEmpty: true)
        groups = try reader.list("ledger.groups", default: groups) { value in
            // No '+': a group's checkpoint key is named `<ledger.origin>/<group>`, and signed-note
            // verifier keys use '+' as their separator.
            value.utf8.count <= 64 && value.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "+") })
                ? nil : "group id '\(value)' must be printable ASCII without '/' or '+', at most 64 bytes"
        }
        if groups.isEmpty {
            throw reader.error("ledger.groups", "at least one group is needed")
        }
        if Set(groups).count != groups.count {
            throw reader.error("ledger.groups", "a group is listed twice")
        }
        blockMaxEvents = try reader.int("ledger.block.max-events", default: blockMaxEvents, in: 1...100_000)
        blockMaxDelay = try reader.milliseconds("ledger.block.max-delay-ms", default: blockMaxDelay, in: 0...1000)
        let kind = try reader.string("ledger.store", default: store.rawValue)
        guard let store = LedgerStoreKind(rawValue: kind) else {
            throw reader.error("ledger.store", "'\(kind)' is not sqlite or postgresql")
        }
        self.store = store
        origin = try reader.string("ledger.origin", default: origin, nonEmpty: true)
        if origin.utf8.count > 200 || origin.unicodeScalars.contains(where: { $0 == "+" || $0.properties.isWhitespace || $0.value < 0x20 }) {
            throw reader.error(
                "ledger.origin", "'\(origin)' must be at most 200 bytes without spaces, control characters or '+' (a name like events.example.com)")
        }
        let key = try reader.string("ledger.signing-key", default: "")
        signingKey = key.isEmpty ? nil : key
        checkpointInterval = try reader.milliseconds("ledger.checkpoint.interval-ms", default: checkpointInterval, in: 0...86_400_000)
        let maxAge = try reader.string("ledger.retention.max-age", default: "none")
        if maxAge != "none" && !maxAge.isEmpty {
            guard let milliseconds = RetentionPolicy.milliseconds(maxAge), milliseconds > 0 else {
                throw reader.error("ledger.retention.max-age", "'\(maxAge)' is not none or a duration like 90s, 15m, 12h, 7d")
            }
            retention.maxAge = milliseconds
        }
        let maxBytes = try reader.string("ledger.retention.max-bytes", default: "none")
        if maxBytes != "none" && !maxBytes.isEmpty {
            guard let bytes = RetentionPolicy.bytes(maxBytes) else {
                throw reader.error("ledger.retention.max-bytes", "'\(maxBytes)' is not none or a size like 500MB, 20GiB, 1048576")
            }
            retention.maxBytes = bytes
        }
        retentionInterval = try reader.milliseconds("ledger.retention.interval-ms", default: retentionInterval, in: 100...86_400_000)
        witnesses = try reader.list("ledger.witnesses", check: Self.witnessKeyProblem)
        if Set(witnesses.map { $0.prefix { $0 != "+" } }).count != witnesses.count {
            throw reader.error("ledger.witnesses", "two witness keys have the same name")
        }
    }

    /// What is wrong with a witness verifier key, judged by its form (the key ID is checked
    /// against the key when the broker starts).
    static func witnessKeyProblem(_ key: String) -> String? {
        let parts = key.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[1].count == 8, UInt32(parts[1], radix: 16) != nil,
            let material = Data(base64Encoded: String(parts[2])), material.count == 33
        else { return "'\(key.prefix(120))' is not a verifier key <name>+<8 hex key id>+<base64 of 33 bytes> (weevent witness prints its key)" }
        guard material.first == 0x04 else { return "'\(parts[0])' is not a witness key (type 0x04, tlog-cosignature)" }
        return nil
    }
}

/// Where ledgers are kept (`ledger.store`).
public enum LedgerStoreKind: String, Sendable, Equatable {
    case sqlite
    case postgresql
}

/// The limits every event is checked against, whichever way it comes (`event.*`).
public struct EventSettings: Sendable, Equatable {
    public var contentMaxLength = 10240
    public var extensionsMaxLength = 1024

    public init() {}

    init(reading reader: ConfigurationReader) throws(ConfigurationError) {
        contentMaxLength = try reader.int("event.content.max-length", default: contentMaxLength, in: 1...16_777_216)
        extensionsMaxLength = try reader.int("event.extensions.max-length", default: extensionsMaxLength, in: 0...1_048_576)
    }
}

/// The shared ledger's PostgreSQL (`ledger.postgresql.*`).
public struct PostgresSettings: Sendable, Equatable {
    /// `ledger.postgresql.url`; set exactly when `ledger.store` is `postgresql`.
    public var url: PostgresURL?
    /// The schema holding the shared ledger's tables (one per deployment).
    public var schema = "weevent"
    public var poolSize = 16
    public var connectTimeout: Duration = .seconds(30)
    /// `ledger.postgresql.timeout-ms`: how long one read or one block's transaction may take.
    public var timeout: Duration = .seconds(5)

    public init() {}

    init(reading reader: ConfigurationReader, store: LedgerStoreKind) throws(ConfigurationError) {
        let url = try reader.string("ledger.postgresql.url", default: "")
        if store == .postgresql {
            guard !url.isEmpty else { throw reader.error("ledger.store", "postgresql needs ledger.postgresql.url") }
            switch PostgresURL.parse(url) {
            case .success(let parsed): self.url = parsed
            case .failure(let problem): throw reader.error("ledger.postgresql.url", "not a postgres:// URL: \(problem)")
            }
        }
        schema = try reader.string("ledger.postgresql.schema", default: schema, nonEmpty: true)
        let lower = schema.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }
        if !lower || schema.utf8.count > 63 || schema.utf8.first.map({ $0 >= 0x30 && $0 <= 0x39 }) == true {
            throw reader.error(
                "ledger.postgresql.schema", "'\(schema)' must be lowercase letters, digits and '_', not starting with a digit, at most 63 bytes"
            )
        }
        poolSize = try reader.int("ledger.postgresql.pool-size", default: poolSize, in: 1...1000)
        connectTimeout = try reader.milliseconds("ledger.postgresql.connect-timeout-ms", default: connectTimeout, in: 0...3_600_000)
        timeout = try reader.milliseconds("ledger.postgresql.timeout-ms", default: timeout, in: 100...600_000)
    }
}
