import BrokerConfiguration
import Foundation
import Logging
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
    let client: PostgresClient
    let listenConfiguration: PostgresConnection.Configuration
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
            let store = try PostgresLedgerStore(settings, logger: logger)
            let connection = try await store.waitForServer(settings)
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
                    identities: PostgresIdentityStore(client: store.client, timeout: settings.timeout, logger: logger),
                    shared: .init(
                        client: store.client, followCommits: { await store.followCommits() }, isFollowing: { store.isFollowingCommits }
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

    private init(_ settings: Settings, logger: Logger) throws {
        let url = settings.url
        let parameters = [
            ("search_path", settings.schema),
            // Durable means committed with synchronous commit, whatever the server's default.
            ("synchronous_commit", "on"),
            ("application_name", "weevent"),
        ]
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: try Self.clientTLS(url.tls)
        )
        configuration.options.maximumConnections = settings.poolSize
        configuration.options.additionalStartupParameters = parameters
        configuration.options.connectTimeout = .seconds(5)
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        var listen = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: try Self.connectionTLS(url.tls)
        )
        listen.options.additionalStartupParameters = parameters
        listenConfiguration = listen
        schema = settings.schema
        timeout = settings.timeout
        self.logger = logger
    }

    /// Start-up: one connection attempt after another until one succeeds or the time is up.
    private func waitForServer(_ settings: Settings) async throws -> PostgresConnection {
        let deadline = ContinuousClock.now + settings.connectTimeout
        var failed = false
        let connection = try await Self.reconnecting.retrying(
            {
                try await PostgresConnection.connect(configuration: listenConfiguration, id: 0, logger: logger)
            },
            failed: { error, failures, _ in
                failed = true
                let reason = String(reflecting: error)
                guard ContinuousClock.now < deadline else {
                    throw LedgerStoreError("cannot reach PostgreSQL at \(settings.url) within \(settings.connectTimeout): \(reason)")
                }
                logger.warning(
                    "PostgreSQL not reachable yet; retrying",
                    metadata: [
                        "url": "\(settings.url)", "attempt": "\(failures)", "error": "\(reason)",
                    ])
            })
        if failed { logger.info("PostgreSQL reachable", metadata: ["url": "\(settings.url)"]) }
        return connection
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
                let connection = try await PostgresConnection.connect(configuration: listenConfiguration, id: 1, logger: logger)
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
