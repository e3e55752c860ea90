import Foundation
import GRDB
import WeEvent

/// The identities of a broker with the embedded store: `identities.sqlite` under `ledger.path`,
/// written with `synchronous = FULL` like the ledgers, readable only by the broker's user.
public final class SQLiteIdentityStore: IdentityStore {
    private let queue: DatabaseQueue

    public init(path: String) throws {
        try PrivateFiles.directory((path as NSString).deletingLastPathComponent)
        try PrivateFiles.file(path)
        var config = GRDB.Configuration()
        config.label = "identities"
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        queue = try DatabaseQueue(path: path, configuration: config)
        try queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS identities(
                        name TEXT PRIMARY KEY,
                        token_digest BLOB NOT NULL UNIQUE,
                        rights TEXT NOT NULL,
                        created INTEGER NOT NULL,
                        changed INTEGER NOT NULL);
                    CREATE TABLE IF NOT EXISTS identity_revision(
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        revision INTEGER NOT NULL);
                    INSERT OR IGNORE INTO identity_revision(id, revision) VALUES (1, 0);
                    """)
            // Files made before identities could sign their events.
            if try !db.columns(in: "identities").contains(where: { $0.name == "public_key" }) {
                try db.execute(sql: "ALTER TABLE identities ADD COLUMN public_key BLOB")
                try db.execute(sql: "ALTER TABLE identities ADD COLUMN signatures_required INTEGER NOT NULL DEFAULT 0")
            }
            // ... and had limits of their own.
            if try !db.columns(in: "identities").contains(where: { $0.name == "rate_per_second" }) {
                try db.execute(sql: "ALTER TABLE identities ADD COLUMN rate_per_second INTEGER")
                try db.execute(sql: "ALTER TABLE identities ADD COLUMN rate_burst INTEGER")
            }
        }
    }

    public func revision() async throws -> Int64 {
        try await queue.read { db in try Int64.fetchOne(db, sql: "SELECT revision FROM identity_revision") ?? 0 }
    }

    public func load() async throws -> (revision: Int64, identities: [Identity]) {
        try await queue.read { db in
            let revision = try Int64.fetchOne(db, sql: "SELECT revision FROM identity_revision") ?? 0
            let identities = try Row.fetchAll(db, sql: "SELECT * FROM identities ORDER BY name").map(Self.identity)
            return (revision, identities)
        }
    }

    public func add(_ identity: Identity) async throws -> Bool {
        let rights = try identity.rightsJSON()
        return try await queue.write { db in
            guard try Int.fetchOne(db, sql: "SELECT count(*) FROM identities WHERE name = ?", arguments: [identity.name]) == 0 else {
                return false
            }
            try db.execute(
                sql: """
                    INSERT INTO identities(name, token_digest, rights, created, changed, public_key, signatures_required, rate_per_second, rate_burst)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    identity.name, Data(identity.tokenDigest), rights, identity.created, identity.changed, identity.publicKey.map { Data($0) },
                    identity.signaturesRequired, identity.rateLimit?.perSecond, identity.rateLimit?.burst,
                ])
            try Self.bump(db)
            return true
        }
    }

    public func update(name: String, _ change: @escaping @Sendable (inout Identity) throws -> Void) async throws -> Identity? {
        try await queue.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM identities WHERE name = ?", arguments: [name]) else { return nil }
            var identity = try Self.identity(row)
            try change(&identity)
            try db.execute(
                sql: """
                    UPDATE identities SET token_digest = ?, rights = ?, changed = ?, public_key = ?, signatures_required = ?,
                    rate_per_second = ?, rate_burst = ?
                    WHERE name = ?
                    """,
                arguments: [
                    Data(identity.tokenDigest), try identity.rightsJSON(), identity.changed, identity.publicKey.map { Data($0) },
                    identity.signaturesRequired, identity.rateLimit?.perSecond, identity.rateLimit?.burst, name,
                ])
            try Self.bump(db)
            return identity
        }
    }

    public func remove(name: String) async throws -> Bool {
        try await queue.write { db in
            try db.execute(sql: "DELETE FROM identities WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { return false }
            try Self.bump(db)
            return true
        }
    }

    private static func bump(_ db: Database) throws {
        try db.execute(sql: "UPDATE identity_revision SET revision = revision + 1")
    }

    private static func identity(_ row: Row) throws -> Identity {
        Identity(
            name: row["name"], tokenDigest: Array(row["token_digest"] as Data), rights: try Identity.rights(json: row["rights"]),
            created: row["created"], changed: row["changed"], publicKey: (row["public_key"] as Data?).map { Array($0) },
            signaturesRequired: row["signatures_required"],
            rateLimit: (row["rate_per_second"] as Int?).map { RateLimit(perSecond: $0, burst: row["rate_burst"] as Int?) })
    }
}
