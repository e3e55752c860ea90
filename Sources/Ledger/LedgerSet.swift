import Logging
import ServiceLifecycle
import WeEvent

/// Every group's ledger, looked up by groupId as the REST API names it.
public struct LedgerSet: Sendable {
    public let ledgers: [String: any EventLedger]
    /// The group used when a request names none: "1" when configured, else the first group.
    public let defaultGroup: String
    public let groups: [String]

    public init(groups: [String], ledgers: [String: any EventLedger]) {
        self.groups = groups
        self.ledgers = ledgers
        self.defaultGroup = groups.contains("1") ? "1" : groups[0]
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
