import BrokerConfiguration
import Logging
import PostgresNIO
import ServiceLifecycle
import WeEvent

/// Every group's ledger, looked up by groupId as the REST API names it.
public struct LedgerSet: Sendable {
    public let ledgers: [String: any EventLedger]
    /// The group used when a request names none: "1" when configured, else the first group.
    public let defaultGroup: String
    public let groups: [String]
    /// The identities of the HTTP API, kept in the same store as the ledgers.
    public let identities: any IdentityStore
    /// What the ledgers of a shared store run besides their write loops.
    let shared: SharedStore?

    /// The background work of a shared store: its connection pool (a service of its own, stopped
    /// after the ledgers), and the loop that follows other instances' commits until cancelled.
    struct SharedStore: Sendable {
        let pool: any Service
        let followCommits: @Sendable () async -> Void
        let isFollowing: @Sendable () -> Bool
        let status: @Sendable () async -> SharedStoreStatus
    }

    /// The shared store's servers as this instance sees them (admin/status); nil for SQLite.
    public func sharedStoreStatus() async -> SharedStoreStatus? {
        await shared?.status()
    }

    /// `ledgers` as they are; those that are `LedgerLoop`s write once the set's services run.
    /// Identities in memory unless given.
    public init(groups: [String], ledgers: [String: any EventLedger], identities: any IdentityStore = MemoryIdentityStore()) {
        self.init(groups: groups, ledgers: ledgers, identities: identities, shared: nil)
    }

    init(groups: [String], ledgers: [String: any EventLedger], identities: any IdentityStore, shared: SharedStore?) {
        self.groups = groups
        self.ledgers = ledgers
        self.defaultGroup = groups.contains("1") ? "1" : groups[0]
        self.identities = identities
        self.shared = shared
    }

    /// Opens the configured store's ledgers: embedded SQLite under `ledger.path`, or the shared
    /// PostgreSQL schema (waiting for the server up to `ledger.postgresql.connect-timeout-ms`).
    public static func open(_ configuration: Configuration, logger: Logger) async throws -> LedgerSet {
        switch configuration.ledger.store {
        case .sqlite:
            return try openEmbedded(
                path: configuration.ledger.path, groups: configuration.ledger.groups, blockMaxEvents: configuration.ledger.blockMaxEvents,
                blockMaxDelay: configuration.ledger.blockMaxDelay, logger: logger
            )
        case .postgresql:
            guard let url = configuration.postgres.url else { throw LedgerStoreError("ledger.postgresql.url is not set") }
            var settings = PostgresLedgerStore.Settings(url: url)
            settings.schema = configuration.postgres.schema
            settings.poolSize = configuration.postgres.poolSize
            settings.connectTimeout = configuration.postgres.connectTimeout
            settings.timeout = configuration.postgres.timeout
            settings.blockMaxEvents = configuration.ledger.blockMaxEvents
            settings.blockMaxDelay = configuration.ledger.blockMaxDelay
            return try await PostgresLedgerStore.open(settings, groups: configuration.ledger.groups, logger: logger)
        }
    }

    /// Opens the embedded SQLite ledger of each group under `path/group-<id>`, and the
    /// identities in `path/identities.sqlite`.
    public static func openEmbedded(
        path: String, groups: [String], blockMaxEvents: Int, blockMaxDelay: Duration, logger: Logger
    ) throws -> LedgerSet {
        var ledgers: [String: any EventLedger] = [:]
        for group in groups {
            ledgers[group] = try GroupLedger.openSQLite(
                groupID: group, directory: "\(path)/group-\(group)",
                blockMaxEvents: blockMaxEvents, blockMaxDelay: blockMaxDelay, logger: logger
            )
        }
        return LedgerSet(groups: groups, ledgers: ledgers, identities: try SQLiteIdentityStore(path: "\(path)/identities.sqlite"))
    }

    /// The ledger of `groupID` (default group when nil or empty); 100305 when unknown.
    public func ledger(_ groupID: String?) throws(WeEventError) -> any EventLedger {
        let id = (groupID?.isEmpty ?? true) ? defaultGroup : groupID!
        guard let ledger = ledgers[id] else { throw WeEventError(.groupIdNotFound, detail: "groupId \(id)") }
        return ledger
    }

    /// Stops every ledger's writes (what is queued is written first) and closes them.
    public func shutdown() async {
        for group in groups { await ledgers[group]?.shutdown() }
    }

    /// What the ledgers run while open, in start order, for a service group that stops them in
    /// reverse: the shared store's connection pool, then `LedgerService` (every write loop, and
    /// the shared store's commit follower). Place them before everything that uses the ledgers.
    public func services(logger: Logger) -> [any Service] {
        var services: [any Service] = []
        if let shared { services.append(shared.pool) }
        services.append(LedgerService(ledgers: self, logger: logger))
        return services
    }

    /// Runs the ledgers' services around `body`, for tools, tests and benchmarks that have no
    /// service group of their own; the ledgers are shut down (drained) after it, whatever it does.
    /// A shared store's commit follower is listening before `body` starts (up to 10 s), so the
    /// body sees other instances' commits from its first step.
    public func withRunning<T>(logger: Logger, _ body: () async throws -> T) async throws -> T {
        let group = ServiceGroup(services: services(logger: logger), gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            if let shared {
                let deadline = ContinuousClock.now + .seconds(10)
                while !shared.isFollowing(), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
            }
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    /// Every ledger's write loop, and the shared store's commit follower until the loops ended.
    func runLoops() async {
        await withDiscardingTaskGroup { background in
            if let follow = shared?.followCommits { background.addTask { await follow() } }
            await withDiscardingTaskGroup { loops in
                for ledger in ledgers.values {
                    guard let loop = ledger as? any LedgerLoop else { continue }
                    loops.addTask { await loop.run() }
                }
            }
            background.cancelAll()
        }
    }
}

/// A ledger with a write loop: it writes while `run` runs, which returns once `shutdown` stopped
/// the loop and everything queued before was written.
protocol LedgerLoop: EventLedger {
    func run() async
}

/// Runs the ledgers' write loops while the service group runs and closes the ledgers cleanly on
/// shutdown. It is placed before the HTTP server in the group, so it shuts down after the server
/// has finished its in-flight requests.
public struct LedgerService: Service {
    public let ledgers: LedgerSet
    let logger: Logger

    public init(ledgers: LedgerSet, logger: Logger) {
        self.ledgers = ledgers
        self.logger = logger
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await ledgers.runLoops() }
            try? await gracefulShutdown()
            logger.info("closing ledgers", metadata: ["groups": "\(ledgers.groups.joined(separator: ","))"])
            await ledgers.shutdown()
        }
        logger.info("ledgers closed")
    }
}

/// The shared store's PostgreSQL servers as one instance sees them (admin/status).
public struct SharedStoreStatus: Sendable, Equatable {
    /// A standby streaming from the primary, as the primary reports it (`pg_stat_replication`).
    public struct Standby: Sendable, Equatable, Encodable {
        /// Its `application_name` (Patroni: the member's name).
        public var name: String
        public var address: String?
        /// `streaming`, `catchup`, ...; nil when the role may not see it (needs `pg_monitor`).
        public var state: String?
        /// `sync` (a COMMIT waits for it), `async`, `potential` or `quorum`.
        public var syncState: String?
        /// How far its replay is behind the primary's WAL, in bytes and as PostgreSQL measured it.
        public var lagBytes: Int64?
        public var lagSeconds: Double?
    }

    /// The server this instance writes to, and every configured one.
    public var primary: String
    public var servers: [String]
    /// Whether the primary answered the last check.
    public var reachable: Bool
    /// How many times this instance moved to another primary, and how long ago it last did.
    public var switches: Int
    public var sinceSwitch: Duration?
    public var standbys: [Standby] = []
    /// The primary's `synchronous_standby_names` (empty: commits wait for no standby).
    public var synchronousStandbyNames: String?
    /// Why the standbys could not be read, when they could not.
    public var error: String?
}
