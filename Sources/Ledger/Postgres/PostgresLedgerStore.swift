import BrokerConfiguration
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization
import WeEvent

/// The shared ledger (`ledger.store=postgresql`): every group's chain in one PostgreSQL schema,
/// written and read by every broker instance.
///
/// One pooled client carries reads and each group's block transactions; one more connection
/// LISTENs for the commits of every instance (`PostgresDriver.commitChannel`), so live readers
/// here follow events sealed anywhere without polling. Start-up (reaching the server, the
/// schema, the groups' head rows) uses a connection of its own; the pool (`client`, a service)
/// and the LISTEN loop (`followCommits`) run in the ledgers' services (`LedgerSet.services`).
public final class PostgresLedgerStore: Sendable {
    /// The pool of the writable primary (`PrimaryPool`: with several servers it follows failovers).
    let pool: PrimaryPool
    var client: PostgresClient { pool.client }
    /// The connection settings for one server, for the LISTEN connection and the primary's search.
    let connectionConfiguration: @Sendable (PostgresURL.Endpoint) -> PostgresConnection.Configuration
    let schema: String
    /// Names this process's commits in their NOTIFY, so it tells them from other instances' ones.
    let writerID = NoticeKey.newWriterID()
    /// Seals this instance's commit notices and opens every instance's, once the schema's notice
    /// key is read (at start-up, before any ledger opens).
    private let notices = Mutex<(sealer: NoticeSealer, opener: NoticeOpener)?>(nil)
    /// Notices refused (not sealed with the schema's key): how many, and when one was last logged.
    private let refusals = Mutex<(count: Int, lastLogged: ContinuousClock.Instant?)>((0, nil))
    /// How long one read or one block's transaction may take before it fails with 200500.
    let timeout: Duration
    let logger: Logger
    private let ledgers = Mutex<[String: PostgresDriver]>([:])
    /// The LISTEN connection is up and every ledger caught up after it connected: from here on
    /// no commit of another instance is missed.
    private let following = Mutex(false)
    var isFollowingCommits: Bool { following.withLock { $0 } }
    /// The LISTEN connection while it is open, closed when the primary changes.
    private let listening = Mutex<PostgresConnection?>(nil)

    /// What `open` needs to know.
    public struct Settings: Sendable {
        public var url: PostgresURL
        public var schema = "weevent"
        public var poolSize = 16
        /// How long start-up keeps trying to reach the server.
        public var connectTimeout: Duration = .seconds(30)
        /// How long one read or one block's transaction may take (`ledger.postgresql.timeout-ms`).
        public var timeout: Duration = .seconds(5)
        public var blockMaxEvents = 1000
        public var blockMaxDelay: Duration = .zero

        public init(url: PostgresURL) {
            self.url = url
        }
    }

    /// Reaches the server (retrying with a logged reason until `connectTimeout`), creates or
    /// migrates the schema and opens each group's ledger, on one start-up connection. The ledgers
    /// write and read once their services run (`LedgerSet.services`).
    public static func open(_ settings: Settings, groups: [String], logger: Logger) async throws -> LedgerSet {
        var logger = logger
        logger[metadataKey: "store"] = "postgresql"
        do {
            let connect = try connectionConfigurations(settings)
            let (primary, connection) = try await PrimaryPool.connectToPrimary(
                settings.url, within: settings.connectTimeout, logger: logger, configuration: connect)
            let store: PostgresLedgerStore
            do {
                store = try PostgresLedgerStore(settings, primary: primary, connectionConfiguration: connect, logger: logger)
            } catch {
                try? await connection.close()
                throw error
            }
            do {
                try await PostgresSchema.migrate(connection, schema: settings.schema, logger: logger)
                let key = try await PostgresSchema.noticeKey(connection, schema: settings.schema, logger: logger)
                store.notices.withLock {
                    $0 = (NoticeSealer(schema: settings.schema, key: key, writer: store.writerID), NoticeOpener(schema: settings.schema, key: key))
                }
                var opened: [String: any EventLedger] = [:]
                for group in groups {
                    let driver = try await PostgresDriver.open(
                        groupID: group, store: store, connection: connection, blockMaxEvents: settings.blockMaxEvents,
                        blockMaxDelay: settings.blockMaxDelay, logger: logger
                    )
                    store.ledgers.withLock { $0[group] = driver }
                    opened[group] = GroupLedger(driver)
                }
                try? await connection.close()
                return LedgerSet(
                    groups: groups, ledgers: opened,
                    identities: PostgresIdentityStore(pool: store.pool, timeout: settings.timeout, logger: logger),
                    shared: .init(
                        pool: store.pool, followCommits: { await store.followCommits() }, isFollowing: { store.isFollowingCommits },
                        status: { await store.status() }
                    ))
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw error as? LedgerStoreError
                ?? LedgerStoreError("opening the ledger in PostgreSQL at \(settings.url) failed: \(PostgresBlockWriter.describe(error))")
        }
    }

    /// The startup parameters of every connection.
    private static func parameters(_ settings: Settings) -> [(String, String)] {
        [
            ("search_path", settings.schema),
            // Durable means committed with synchronous commit, whatever the server's default: with
            // a synchronous standby (Patroni's synchronous mode) a COMMIT returns once the standby
            // has flushed it too.
            ("synchronous_commit", "on"),
            ("application_name", "weevent"),
        ]
    }

    /// How to open a single connection (LISTEN, start-up, the primary's search) to one server.
    private static func connectionConfigurations(_ settings: Settings) throws -> @Sendable (PostgresURL.Endpoint) -> PostgresConnection.Configuration {
        let url = settings.url, parameters = parameters(settings)
        let tls = try connectionTLS(url.tls)
        return { endpoint in
            var configuration = PostgresConnection.Configuration(
                host: endpoint.host, port: endpoint.port, username: url.user, password: url.password, database: url.database, tls: tls
            )
            configuration.options.additionalStartupParameters = parameters
            configuration.options.connectTimeout = .seconds(5)
            return configuration
        }
    }

    private init(
        _ settings: Settings, primary: PostgresURL.Endpoint,
        connectionConfiguration: @escaping @Sendable (PostgresURL.Endpoint) -> PostgresConnection.Configuration, logger: Logger
    ) throws {
        let url = settings.url, parameters = Self.parameters(settings)
        let tls = try Self.clientTLS(url.tls)
        let poolSize = settings.poolSize
        pool = PrimaryPool(
            url: url, primary: primary, logger: logger,
            makeClient: { endpoint in
                var configuration = PostgresClient.Configuration(
                    host: endpoint.host, port: endpoint.port, username: url.user, password: url.password, database: url.database, tls: tls
                )
                configuration.options.maximumConnections = poolSize
                configuration.options.additionalStartupParameters = parameters
                configuration.options.connectTimeout = .seconds(5)
                return PostgresClient(configuration: configuration, backgroundLogger: logger)
            },
            connectionConfiguration: connectionConfiguration)
        self.connectionConfiguration = connectionConfiguration
        schema = settings.schema
        timeout = settings.timeout
        self.logger = logger
        pool.onSwitch { [weak self] in
            // The follower's connection to the old primary may hang rather than fail: close it,
            // and the follower listens on the new one and catches up.
            if let connection = self?.listening.withLock({ $0 }) { _ = connection.close() as EventLoopFuture<Void> }
        }
    }

    /// Between attempts to reach the server, at start-up and for the LISTEN connection.
    static let reconnecting = Backoff(initial: .milliseconds(200), maximum: .seconds(2))

    /// Follows every instance's commits on a dedicated connection, reconnecting when it drops.
    /// After each (re)connect every ledger catches up with the stored head, since notifications
    /// sent while nobody listened are gone. Runs until cancelled.
    func followCommits() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let primary = pool.current
                let connection = try await PostgresConnection.connect(configuration: connectionConfiguration(primary.endpoint), id: 1, logger: logger)
                listening.withLock { $0 = connection }
                defer { listening.withLock { $0 = nil } }
                // A switch while this connected found nothing to close: listen on the new primary.
                if pool.current.generation != primary.generation { _ = connection.close() as EventLoopFuture<Void> }
                do {
                    try await connection.listen(on: PostgresDriver.commitChannel) { notifications in
                        for ledger in ledgers.withLock({ Array($0.values) }) { try await ledger.catchUp() }
                        failures = 0
                        following.withLock { $0 = true }
                        for try await notification in notifications { notified(notification.payload) }
                    }
                } catch {
                    following.withLock { $0 = false }
                    try? await connection.close()
                    throw error
                }
                following.withLock { $0 = false }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                failures += 1
                logger.warning(
                    "following ledger commits failed; listening again",
                    metadata: [
                        "error": "\(String(reflecting: error))", "attempt": "\(failures)",
                    ])
                await Self.reconnecting.pause(afterFailures: failures)
            }
        }
    }

    /// The NOTIFY payload of a commit of `blocks` reaching `head` in `group` (`NoticeSealer`).
    func noticePayload(group: String, head: UInt64, blocks: [SealedBlock]) throws -> String {
        guard let sealer = notices.withLock({ $0?.sealer }) else { throw LedgerStoreError("the notice key is not read yet") }
        return sealer.payload(group: group, head: head, blocks: blocks)
    }

    /// A NOTIFY on the commit channel. Only a `CommitNotice` sealed with the schema's key is
    /// believed; anything else (any role may NOTIFY) is dropped, counted and logged, at most
    /// every ten seconds.
    func notified(_ payload: String) {
        guard let opener = notices.withLock({ $0?.opener }) else { return }
        switch opener.open(payload, skippingEventsOf: writerID) {
        case .otherSchema:
            return
        case .refused(let reason):
            let (count, log) = refusals.withLock { state -> (Int, Bool) in
                state.count += 1
                let now = ContinuousClock.now
                guard state.lastLogged.map({ now - $0 >= .seconds(10) }) ?? true else { return (state.count, false) }
                state.lastLogged = now
                return (state.count, true)
            }
            if log {
                logger.warning(
                    "ignored a NOTIFY on the commit channel that is not a sealed commit notice (another database role?)",
                    metadata: [
                        "reason": "\(reason)", "refusedSoFar": "\(count)", "bytes": "\(payload.utf8.count)",
                    ])
            }
        case .notice(let notice):
            guard let ledger = ledgers.withLock({ $0[notice.group] }) else { return }
            if notice.writer == writerID {
                ledger.committedHere(through: notice.head)
            } else {
                ledger.committedElsewhere(through: notice.head, events: notice.events)
            }
        }
    }

    /// The primary this instance writes to, its standbys as the primary reports them
    /// (`pg_stat_replication`: the role needs `pg_monitor` to see their lag) and the pool's switches.
    func status() async -> SharedStoreStatus {
        let logger = self.logger
        var standbys: [SharedStoreStatus.Standby] = []
        var names: String?
        var failure: String?
        for attempt in 1...2 {
            let current = pool.current
            do {
                (names, standbys) = try await withStoreDeadline(timeout, "reading the primary's standbys") {
                    try await Self.replication(current.client, logger: logger)
                }
                failure = nil
                break
            } catch {
                failure = PostgresBlockWriter.describe(error)
                // Asked on the pool a failover just retired: ask the new primary.
                if attempt == 1, pool.current.generation != current.generation { continue }
                break
            }
        }
        var status = pool.status
        status.synchronousStandbyNames = names
        status.standbys = standbys
        status.error = failure
        return status
    }

    /// The primary's `synchronous_standby_names` and `pg_stat_replication`.
    private static func replication(_ client: PostgresClient, logger: Logger) async throws -> (String, [SharedStoreStatus.Standby]) {
        var names = ""
        for try await value in try await client.query("SELECT current_setting('synchronous_standby_names')", logger: logger).decode(String.self) {
            names = value
        }
        var standbys: [SharedStoreStatus.Standby] = []
        let rows = try await client.query(
            """
            SELECT application_name, host(client_addr), client_port, state, sync_state,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, extract(epoch FROM replay_lag)::float8
            FROM pg_stat_replication ORDER BY application_name
            """, logger: logger)
        for try await row in rows.decode((String, String?, Int32?, String?, String?, Int64?, Double?).self) {
            standbys.append(
                .init(
                    name: row.0, address: row.1.map { host in row.2.map { "\(host):\($0)" } ?? host }, state: row.3, syncState: row.4,
                    lagBytes: row.5, lagSeconds: row.6
                ))
        }
        return (names, standbys)
    }

    /// How many NOTIFYs were refused since start-up.
    var refusedNotices: Int { refusals.withLock { $0.count } }

    private static func clientTLS(_ mode: PostgresURL.TLSMode) throws -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    private static func connectionTLS(_ mode: PostgresURL.TLSMode) throws -> PostgresConnection.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }
}
