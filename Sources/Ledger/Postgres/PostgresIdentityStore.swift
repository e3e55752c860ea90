import Foundation
import Logging
import PostgresNIO
import WeEvent

/// The identities of a cluster: the `identities` table of the shared schema (migration 7). Every
/// change bumps `identity_revision` in its transaction, which each instance polls.
final class PostgresIdentityStore: IdentityStore {
    let pool: PrimaryPool
    var client: PostgresClient { pool.client }
    let timeout: Duration
    let logger: Logger

    init(pool: PrimaryPool, timeout: Duration, logger: Logger) {
        self.pool = pool
        self.timeout = timeout
        self.logger = logger
    }

    /// One query, no transaction: every instance asks this several times a second.
    func revision() async throws -> Int64 {
        let client = self.client, logger = self.logger
        do {
            return try await withStoreDeadline(timeout, "reading the identities' revision") {
                var revision: Int64 = 0
                for try await value in try await client.query("SELECT revision FROM identity_revision", logger: logger).decode(Int64.self) {
                    revision = value
                }
                return revision
            }
        } catch let error as LedgerStoreError {
            throw error
        } catch {
            throw LedgerStoreError("reading the identities' revision in PostgreSQL failed: \(PostgresBlockWriter.describe(error))")
        }
    }

    func load() async throws -> (revision: Int64, identities: [Identity]) {
        try await transaction("reading the identities") { connection, logger in
            // One snapshot for both (REPEATABLE READ), so the revision is that of the rows.
            try await connection.perform("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
            let revision = try await Self.revision(connection, logger: logger)
            var identities: [Identity] = []
            for try await row in try await connection.query(
                "SELECT name, token_digest, rights, created, changed, public_key, signatures_required, rate_per_second, rate_burst FROM identities ORDER BY name",
                logger: logger)
            {
                identities.append(try Self.identity(row))
            }
            return (revision, identities)
        }
    }

    func add(_ identity: Identity) async throws -> Bool {
        let rights = try identity.rightsJSON()
        return try await transaction("adding an identity") { connection, logger in
            var added = false
            for try await _ in try await connection.query(
                """
                INSERT INTO identities(name, token_digest, rights, created, changed, public_key, signatures_required, rate_per_second, rate_burst)
                VALUES (\(identity.name), \(ByteBuffer(bytes: identity.tokenDigest)), \(rights), \(identity.created), \(identity.changed),
                \(identity.publicKey.map { ByteBuffer(bytes: $0) }), \(identity.signaturesRequired), \(identity.rateLimit.map { Int32($0.perSecond) }),
                \(identity.rateLimit.map { Int32($0.burst) }))
                ON CONFLICT (name) DO NOTHING RETURNING name
                """, logger: logger)
            {
                added = true
            }
            if added { try await Self.bump(connection, logger: logger) }
            return added
        }
    }

    func update(name: String, _ change: @escaping @Sendable (inout Identity) throws -> Void) async throws -> Identity? {
        try await transaction("changing an identity") { connection, logger in
            var found: Identity?
            for try await row in try await connection.query(
                "SELECT name, token_digest, rights, created, changed, public_key, signatures_required, rate_per_second, rate_burst FROM identities WHERE name = \(name) FOR UPDATE",
                logger: logger)
            {
                found = try Self.identity(row)
            }
            guard var identity = found else { return nil }
            try change(&identity)
            try await connection.perform(
                """
                UPDATE identities SET token_digest = \(ByteBuffer(bytes: identity.tokenDigest)), rights = \(try identity.rightsJSON()),
                changed = \(identity.changed), public_key = \(identity.publicKey.map { ByteBuffer(bytes: $0) }),
                signatures_required = \(identity.signaturesRequired), rate_per_second = \(identity.rateLimit.map { Int32($0.perSecond) }),
                rate_burst = \(identity.rateLimit.map { Int32($0.burst) }) WHERE name = \(name)
                """, logger: logger)
            try await Self.bump(connection, logger: logger)
            return identity
        }
    }

    func remove(name: String) async throws -> Bool {
        try await transaction("removing an identity") { connection, logger in
            var removed = false
            for try await _ in try await connection.query("DELETE FROM identities WHERE name = \(name) RETURNING name", logger: logger) {
                removed = true
            }
            if removed { try await Self.bump(connection, logger: logger) }
            return removed
        }
    }

    /// `body` in one transaction, answered within `timeout` (200500 otherwise). Errors of the
    /// body's own (a refused change) come out as they are.
    private func transaction<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws -> T {
        let client = self.client, logger = self.logger
        do {
            return try await withStoreDeadline(timeout, what) {
                try await client.withTransaction(logger: logger) { connection in try await body(connection, logger) }
            }
        } catch let error as LedgerStoreError {
            throw error
        } catch let error as PostgresTransactionError where error.closureError is WeEventError {
            throw error.closureError!
        } catch {
            throw LedgerStoreError("\(what) in PostgreSQL failed: \(PostgresBlockWriter.describe(error))")
        }
    }

    private static func revision(_ connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        var revision: Int64 = 0
        for try await value in try await connection.query("SELECT revision FROM identity_revision", logger: logger).decode(Int64.self) {
            revision = value
        }
        return revision
    }

    private static func bump(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.perform("UPDATE identity_revision SET revision = revision + 1", logger: logger)
    }

    private static func identity(_ row: PostgresRow) throws -> Identity {
        let (name, digest, rights, created, changed, key, required, rate, burst) = try row.decode(
            (String, ByteBuffer, String, Int64, Int64, ByteBuffer?, Bool, Int32?, Int32?).self)
        return Identity(
            name: name, tokenDigest: Array(digest.readableBytesView), rights: try Identity.rights(json: rights), created: created,
            changed: changed, publicKey: key.map { Array($0.readableBytesView) }, signaturesRequired: required,
            rateLimit: rate.map { RateLimit(perSecond: Int($0), burst: burst.map(Int.init)) })
    }
}
