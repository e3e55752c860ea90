import Foundation
import GRDB
import Logging
import Synchronization
import WeEvent

/// The embedded ledger of one group: SQLite in WAL mode with `synchronous=FULL`,
/// written by one async loop (`run`) that seals pending events into blocks (group commit).
///
/// Publishers enqueue and suspend; the writer takes everything queued, assigns
/// per-topic sequence numbers, seals a block every `blockMaxEvents` events, writes
/// all of it in one transaction, and resumes the publishers only after the commit
/// (and its fsync) returned. Readers use SQLite's WAL snapshots and an in-memory
/// view of the topics that changes only after a commit, so nobody sees a write
/// that is not durable.
public final class SQLiteLedger: EventLedger {
    public let groupID: String
    public let ledgerID: String
    let pool: DatabasePool
    let writer: LedgerWriter
    let view: Mutex<LedgerView>
    let blockMaxEvents: Int
    let logger: Logger
    public let commits: CommitFeed

    /// Opens (creating if needed) the ledger of `groupID` under `directory`. Writes wait until its
    /// write loop runs (`LedgerSet.services`, or `LedgerSet.withRunning` for tools and tests).
    public static func open(
        groupID: String,
        directory: String,
        blockMaxEvents: Int = 1000,
        blockMaxDelay: Duration = .zero,
        logger: Logger = Logger(label: "weevent.ledger")
    ) throws -> SQLiteLedger {
        let file = try PrivateFiles.file("ledger.sqlite", in: directory)
        var config = GRDB.Configuration()
        config.label = "ledger-\(groupID)"
        config.prepareDatabase { db in
            // WAL (DatabasePool's default) with FULL: every commit fsyncs the WAL before returning.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        let pool = try DatabasePool(path: file, configuration: config)
        let ledgerID = try pool.write { db in try LedgerSchema.create(db, groupID: groupID) }
        let view = try pool.read { db in try LedgerView.load(db) }
        let ledger = SQLiteLedger(
            groupID: groupID, ledgerID: ledgerID, pool: pool, view: view,
            blockMaxEvents: blockMaxEvents, blockMaxDelay: blockMaxDelay,
            logger: logger
        )
        return ledger
    }

    private init(
        groupID: String, ledgerID: String, pool: DatabasePool, view: LedgerView,
        blockMaxEvents: Int, blockMaxDelay: Duration, logger: Logger
    ) {
        self.groupID = groupID
        self.ledgerID = ledgerID
        self.pool = pool
        self.view = Mutex(view)
        self.commits = CommitFeed(head: view.eventCount)
        self.blockMaxEvents = blockMaxEvents
        self.writer = LedgerWriter(groupID: groupID, maxEvents: blockMaxEvents, maxDelay: blockMaxDelay)
        var logger = logger
        logger[metadataKey: "group"] = "\(groupID)"
        self.logger = logger
    }

    /// The write loop, until `shutdown` and drained.
    func run() async {
        let blocks = BlockWriter(ledger: self)
        await writer.run(submitting: blocks.submit)
    }

    // MARK: writes

    public func open(topic: String, reopening: Bool) async throws -> Bool {
        try await writer.submit { .open(topic, reopening, $0) }
    }

    public func close(topic: String) async throws {
        try await writer.submit { .close(topic, $0) }
    }

    public func publish(_ event: NewEvent) async throws -> EventID {
        // Fail fast without queueing; the writer checks again when it seals the block.
        guard view.withLock({ $0.topics[event.topic]?.isOpen ?? false }) else {
            throw WeEventError(.topicNotExist, detail: "topic \(event.topic) in group \(groupID)")
        }
        return try await writer.submit { .publish(event, $0) }
    }

    public func publish(_ events: [NewEvent]) async throws -> [Result<EventID, WeEventError>] {
        try await writer.publish(events, receipts: nil)
    }

    public func publish(
        _ events: [NewEvent], receipts: [InboundReceipt?], queued: @escaping @Sendable () -> Void
    ) async throws -> [Result<EventID, WeEventError>] {
        try await writer.publish(events, receipts: receipts, queued: queued)
    }

    public func receipt(_ receipt: InboundReceipt) async throws -> EventID? {
        try await pool.read { db in
            try String.fetchOne(
                db, sql: "SELECT event_id FROM mqtt_receipts WHERE session = ? AND packet_id = ?",
                arguments: [receipt.session, Int64(receipt.packetID)]
            ).flatMap(EventID.init)
        }
    }

    public func retire(_ receipts: [InboundReceipt]) async throws {
        guard !receipts.isEmpty else { return }
        try await pool.write { db in
            let delete = try db.cachedStatement(sql: "DELETE FROM mqtt_receipts WHERE session = ? AND packet_id = ?")
            for receipt in receipts { try delete.execute(arguments: [receipt.session, Int64(receipt.packetID)]) }
        }
    }

    public func retireAll(session: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM mqtt_receipts WHERE session = ?", arguments: [session])
        }
    }

    public func shutdown() async {
        await writer.stop()
        commits.close()
        do {
            try pool.close()
        } catch {
            logger.warning("closing ledger store failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: reads

    public func exists(topic: String) async throws -> Bool {
        view.withLock { $0.topics[topic]?.isOpen ?? false }
    }

    public func state(topic: String) async throws -> TopicState {
        guard let record = view.withLock({ $0.topics[topic] }), record.isOpen else {
            throw WeEventError(.topicNotExist, detail: "topic \(topic) in group \(groupID)")
        }
        return record.state(name: topic)
    }

    public func list(pageIndex: Int, pageSize: Int) async throws -> TopicPage {
        let open = view.withLock { view in
            view.topics.filter { $0.value.isOpen }.sorted { $0.value.order < $1.value.order }
        }
        // A page far past the end is empty; the product of two request numbers may not fit an Int.
        let (skip, overflow) = pageIndex.multipliedReportingOverflow(by: pageSize)
        let start = overflow ? open.count : min(max(skip, 0), open.count)
        let end = min(start + pageSize, open.count)
        let page = open[start..<end].map { $0.value.state(name: $0.key) }
        return TopicPage(total: open.count, pageIndex: pageIndex, pageSize: pageSize, topics: page)
    }

    public func chainInfo() async throws -> ChainInfo {
        view.withLock { view in
            ChainInfo(
                groupID: groupID, blockHeight: view.height, lastBlockHash: hexString(view.lastHash),
                eventCount: view.eventCount, topicCount: view.topics.values.filter(\.isOpen).count
            )
        }
    }

    public func event(id: EventID) async throws -> Event {
        try await locate(id).event
    }

    public func verify() async throws -> VerificationReport {
        try await pool.read { db in try ChainVerifier.verify(db, groupID: self.groupID) }
    }
}

/// What readers see: the durable state as of the last commit.
struct LedgerView: Sendable {
    var topics: [String: TopicRecord] = [:]
    var topicsByHash: [String: [String]] = [:]
    var height: UInt64 = 0
    var lastHash: [UInt8] = BlockHash.zero
    var eventCount: UInt64 = 0

    static func load(_ db: Database) throws -> LedgerView {
        var view = LedgerView()
        for row in try Row.fetchAll(db, sql: "SELECT * FROM topics") {
            let name: String = row["name"]
            view.add(
                name,
                TopicRecord(
                    created: row["created"], sequence: UInt64(clamping: row["seq"] as Int64),
                    lastBlock: UInt64(clamping: row["last_block"] as Int64), lastTimestamp: row["last_timestamp"],
                    isOpen: (row["open"] as Int64) != 0, order: Int(row["ord"] as Int64),
                    idPrefix: EventID.topicHash(name)
                ))
        }
        if let row = try Row.fetchOne(db, sql: "SELECT height, hash, first_position, event_count FROM blocks ORDER BY height DESC LIMIT 1") {
            view.height = UInt64(clamping: row["height"] as Int64)
            view.lastHash = Array(row["hash"] as Data)
            view.eventCount = UInt64(clamping: (row["first_position"] as Int64) &+ (row["event_count"] as Int64) &- 1)
        }
        return view
    }

    mutating func add(_ name: String, _ record: TopicRecord) {
        if topics.updateValue(record, forKey: name) == nil {
            topicsByHash[record.idPrefix, default: []].append(name)
        }
    }
}

/// Extensions as stored: a JSON object with sorted keys.
enum ExtensionCoding {
    static func encode(_ extensions: [String: String]) -> String {
        if extensions.isEmpty { return "{}" }
        let data = (try? JSONSerialization.data(withJSONObject: extensions, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func decode(_ text: String) -> [String: String] {
        if text == "{}" { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] else { return [:] }
        return object
    }
}
