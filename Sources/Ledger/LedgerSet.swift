import Logging
import ServiceLifecycle
import WeEvent

/// Every group's ledger, looked up by groupId as the REST API names it.
public struct LedgerSet: Sendable {
    public let ledgers: [String: any EventLedger]
    /// The group used when a request names none: "1" when configured, else the first group.
    public let defaultGroup: String
    public let groups: [String]
    /// Closes what the ledgers share (a PostgreSQL client), after every ledger shut down.
    let closeShared: @Sendable () async -> Void

    public init(groups: [String], ledgers: [String: any EventLedger], closeShared: @escaping @Sendable () async -> Void = {}) {
        self.groups = groups
        self.ledgers = ledgers
        self.defaultGroup = groups.contains("1") ? "1" : groups[0]
        self.closeShared = closeShared
    }

    /// Opens the configured store's ledgers: embedded SQLite under `ledger.path`, or the shared
    /// PostgreSQL schema (waiting for the server up to `ledger.postgresql.connect-timeout-ms`).
    public static func open(_ configuration: Configuration, logger: Logger) async throws -> LedgerSet {
        switch configuration.ledgerStore {
        case .sqlite:
            return try openEmbedded(
                path: configuration.ledgerPath, groups: configuration.ledgerGroups, blockMaxEvents: configuration.blockMaxEvents,
                blockMaxDelayMilliseconds: configuration.blockMaxDelayMilliseconds, logger: logger
            )
        case .postgresql:
            guard let url = configuration.postgresURL else { throw LedgerStoreError("ledger.postgresql.url is not set") }
            var settings = PostgresLedgerStore.Settings(url: url)
            settings.schema = configuration.postgresSchema
            settings.poolSize = configuration.postgresPoolSize
            settings.connectTimeout = .milliseconds(configuration.postgresConnectTimeoutMilliseconds)
            settings.timeout = .milliseconds(configuration.postgresTimeoutMilliseconds)
            settings.blockMaxEvents = configuration.blockMaxEvents
            settings.blockMaxDelayMilliseconds = configuration.blockMaxDelayMilliseconds
            return try await PostgresLedgerStore.open(settings, groups: configuration.ledgerGroups, logger: logger)
        }
    }

    /// Opens the embedded SQLite ledger of each group under `path/group-<id>`.
    public static func openEmbedded(
        path: String, groups: [String], blockMaxEvents: Int, blockMaxDelayMilliseconds: Int, logger: Logger
    ) throws -> LedgerSet {
        var ledgers: [String: any EventLedger] = [:]
        for group in groups {
            ledgers[group] = try SQLiteLedger.open(
                groupID: group, directory: "\(path)/group-\(group)",
                blockMaxEvents: blockMaxEvents, blockMaxDelayMilliseconds: blockMaxDelayMilliseconds, logger: logger
            )
        }
        return LedgerSet(groups: groups, ledgers: ledgers)
    }

    /// The ledger of `groupID` (default group when nil or empty); 100305 when unknown.
    public func ledger(_ groupID: String?) throws(WeEventError) -> any EventLedger {
        let id = (groupID?.isEmpty ?? true) ? defaultGroup : groupID!
        guard let ledger = ledgers[id] else { throw WeEventError(.groupIdNotFound, detail: "groupId \(id)") }
        return ledger
    }

    public func shutdown() async {
        for group in groups { await ledgers[group]?.shutdown() }
        await closeShared()
    }
}

/// Keeps the ledgers open while the service group runs and closes them cleanly on
/// shutdown. It is placed before the HTTP server in the group, so it shuts down
/// after the server has finished its in-flight requests.
public struct LedgerService: Service {
    public let ledgers: LedgerSet
    let logger: Logger

    public init(ledgers: LedgerSet, logger: Logger) {
        self.ledgers = ledgers
        self.logger = logger
    }

    public func run() async throws {
        try? await gracefulShutdown()
        logger.info("closing ledgers", metadata: ["groups": "\(ledgers.groups.joined(separator: ","))"])
        await ledgers.shutdown()
        logger.info("ledgers closed")
    }
}
