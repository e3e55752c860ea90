import Logging
import NIOCore
import PostgresNIO

/// The shared ledger's tables, one schema per deployment, created and migrated at start-up.
///
/// Migrations are numbered and applied in order inside one transaction holding an advisory
/// lock (one per schema), so instances starting together apply each exactly once; `schema_migrations` records
/// what was applied. A migration is never edited once released: a change is a new one.
enum PostgresSchema {

    static let migrations: [(version: Int, statements: [String])] = [
        (
            1,
            [
                """
                CREATE TABLE ledgers(
                    group_id text PRIMARY KEY,
                    ledger_id text NOT NULL,
                    height bigint NOT NULL,
                    last_hash bytea NOT NULL,
                    event_count bigint NOT NULL,
                    topic_count integer NOT NULL)
                """,
                """
                CREATE TABLE topics(
                    group_id text NOT NULL,
                    name text NOT NULL,
                    id_prefix text NOT NULL,
                    created bigint NOT NULL,
                    seq bigint NOT NULL,
                    last_block bigint NOT NULL,
                    last_timestamp bigint NOT NULL,
                    open boolean NOT NULL,
                    ord integer NOT NULL,
                    PRIMARY KEY (group_id, name))
                """,
                "CREATE INDEX topics_by_prefix ON topics(group_id, id_prefix)",
                "CREATE INDEX topics_by_order ON topics(group_id, ord)",
                """
                CREATE TABLE blocks(
                    group_id text NOT NULL,
                    height bigint NOT NULL,
                    prev_hash bytea NOT NULL,
                    merkle_root bytea NOT NULL,
                    hash bytea NOT NULL,
                    timestamp bigint NOT NULL,
                    event_count bigint NOT NULL,
                    first_position bigint NOT NULL,
                    PRIMARY KEY (group_id, height))
                """,
                "CREATE INDEX blocks_by_time ON blocks(group_id, timestamp)",
                """
                CREATE TABLE events(
                    group_id text NOT NULL,
                    position bigint NOT NULL,
                    block bigint NOT NULL,
                    topic text NOT NULL,
                    seq bigint NOT NULL,
                    timestamp bigint NOT NULL,
                    content bytea NOT NULL,
                    extensions text NOT NULL,
                    hash bytea NOT NULL,
                    PRIMARY KEY (group_id, position),
                    UNIQUE (group_id, topic, seq))
                """,
                """
                CREATE TABLE mqtt_receipts(
                    group_id text NOT NULL,
                    session text NOT NULL,
                    packet_id integer NOT NULL,
                    event_id text NOT NULL,
                    PRIMARY KEY (group_id, session, packet_id))
                """,
            ]
        ),
        // Every write bumps the head row's version: a writer that sealed a batch on the head it
        // knows writes it only if nobody wrote since (one statement, no lock round trips).
        (2, ["ALTER TABLE ledgers ADD COLUMN version bigint NOT NULL DEFAULT 0"]),
        // The key that seals commit notices (`NoticeSealer`): NOTIFY needs no privilege, so only a
        // notice sealed with a key that other roles cannot read is believed. One row.
        (
            3,
            [
                """
                CREATE TABLE notice_key(
                    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
                    key bytea NOT NULL CHECK (length(key) = 32))
                """,
                "REVOKE ALL ON notice_key FROM PUBLIC",
            ]
        ),
        // The group tree (RFC 9162) over every event: the right border in the head row (NULL
        // until built from the events, at the next start), full subtrees at levels 8, 16, ...
        (
            4,
            [
                "ALTER TABLE ledgers ADD COLUMN tree_border bytea",
                """
                CREATE TABLE tree_nodes(
                    group_id text NOT NULL REFERENCES ledgers(group_id),
                    level int4 NOT NULL,
                    idx bigint NOT NULL,
                    hash bytea NOT NULL,
                    PRIMARY KEY (group_id, level, idx))
                """,
            ]
        ),
        // Signed checkpoints of each group's tree, and the cosignatures witnesses hand back.
        (
            5,
            [
                """
                CREATE TABLE checkpoints(
                    group_id text NOT NULL REFERENCES ledgers(group_id),
                    size bigint NOT NULL,
                    note text NOT NULL,
                    signed_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (group_id, size))
                """,
                """
                CREATE TABLE cosignatures(
                    group_id text NOT NULL,
                    size bigint NOT NULL,
                    witness text NOT NULL,
                    line text NOT NULL,
                    PRIMARY KEY (group_id, size, witness),
                    FOREIGN KEY (group_id, size) REFERENCES checkpoints(group_id, size))
                """,
            ]
        ),
        // Ledger format 2: each ledger records its format (chains made before are format 1); a
        // v2 block's header commits to the group tree's root after it.
        (
            6,
            [
                "ALTER TABLE ledgers ADD COLUMN format integer NOT NULL DEFAULT 1",
                "ALTER TABLE blocks ADD COLUMN tree_root bytea",
            ]
        ),
        // Identities of the HTTP API (docs/api.md "Access control"), shared by every instance;
        // instances poll the revision to notice each other's changes.
        (
            7,
            [
                """
                CREATE TABLE identities(
                    name text PRIMARY KEY,
                    token_digest bytea NOT NULL UNIQUE,
                    rights text NOT NULL,
                    created bigint NOT NULL,
                    changed bigint NOT NULL)
                """,
                "CREATE TABLE identity_revision(id integer PRIMARY KEY CHECK (id = 1), revision bigint NOT NULL)",
                "INSERT INTO identity_revision(id, revision) VALUES (1, 0)",
            ]
        ),
        // An identity may sign its events (its Ed25519 public key, and whether it must), and
        // have a limit of its own (calls per second and burst; NULL: the configured one).
        (
            8,
            [
                "ALTER TABLE identities ADD COLUMN public_key bytea",
                "ALTER TABLE identities ADD COLUMN signatures_required boolean NOT NULL DEFAULT false",
                "ALTER TABLE identities ADD COLUMN rate_per_second integer",
                "ALTER TABLE identities ADD COLUMN rate_burst integer",
            ]
        ),
        // Retention: an event whose content was removed says when (ms, 0: never) and why
        // (1 retention, 2 erased); its hash stays, the leaf every proof is built on.
        (
            9,
            [
                "ALTER TABLE events ADD COLUMN pruned_at bigint NOT NULL DEFAULT 0",
                "ALTER TABLE events ADD COLUMN pruned_reason integer NOT NULL DEFAULT 0",
            ]
        ),
    ]

    /// The schema's notice key: created (32 bytes from the system's secure generator) by the
    /// first instance that needs it, read by every other.
    static func noticeKey(_ connection: PostgresConnection, schema: String, logger: Logger) async throws -> NoticeKey {
        var generator = SystemRandomNumberGenerator()
        let candidate = (0..<NoticeKey.byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for try await _ in try await connection.query(
            "INSERT INTO \(unescaped: schema).notice_key(key) VALUES (\(ByteBuffer(bytes: candidate))) ON CONFLICT DO NOTHING",
            logger: logger
        ) {}
        var stored: [UInt8]?
        for try await key in try await connection.query("SELECT key FROM \(unescaped: schema).notice_key", logger: logger).decode(ByteBuffer.self) {
            stored = Array(key.readableBytesView)
        }
        guard let stored, stored.count == NoticeKey.byteCount else {
            throw LedgerStoreError("schema \(schema) has no valid notice_key row")
        }
        return NoticeKey(stored)
    }

    /// Creates the schema if needed and applies every migration not applied yet.
    static func migrate(_ connection: PostgresConnection, schema: String, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            // One lock per schema: instances of one deployment migrate one after the other,
            // deployments in other schemas of the same database do not wait for each other.
            try await connection.perform("SELECT pg_advisory_xact_lock(hashtext(\("weevent migrations " + schema)))", logger: logger)
            try await connection.perform("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger)
            try await connection.perform(
                "CREATE TABLE IF NOT EXISTS \(unescaped: schema).schema_migrations(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger
            )
            try await connection.perform("SET LOCAL search_path TO \(unescaped: schema)", logger: logger)
            var applied: Set<Int> = []
            for try await version in try await connection.query(
                "SELECT version FROM \(unescaped: schema).schema_migrations", logger: logger
            ).decode(Int.self) {
                applied.insert(version)
            }
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.perform(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.perform(
                    "INSERT INTO \(unescaped: schema).schema_migrations(version) VALUES (\(migration.version))", logger: logger
                )
                logger.info("ledger schema migrated", metadata: ["schema": "\(schema)", "version": "\(migration.version)"])
            }
        }
    }
}
