import Logging
import WeEvent

/// One group's ledger, whatever store holds it: the front every caller sees (`EventLedger`),
/// written once over a `LedgerDriver` that knows one store (SQLite, PostgreSQL, memory).
///
/// The front owns what is the same for every store: the write queue and its loop
/// (`LedgerWriter`: publishers enqueue and suspend until their block is durable), the feed of
/// commits live readers follow, topic paging, chain summaries, proofs and `verify` (both built
/// from the driver's rows with `BlockHash` and `ChainCheck`). The driver seals and commits the
/// batches the loop hands it, and reads rows.
public final class GroupLedger: EventLedger, LedgerLoop {
    let core: LedgerCore
    let driver: any LedgerDriver

    public var groupID: String { core.groupID }
    public var ledgerID: String { core.ledgerID }
    /// The hashing rules of this ledger (docs/ledger.md).
    public var format: LedgerFormat { core.format }
    public var commits: CommitFeed { core.commits }

    init(_ driver: any LedgerDriver) {
        self.core = driver.core
        self.driver = driver
    }

    /// The write loop, until `shutdown` and drained (run by `LedgerService`).
    func run() async {
        await driver.runWrites()
    }

    // MARK: writes

    public func open(topic: String, reopening: Bool) async throws -> Bool {
        try await core.writer.submit { .open(topic, reopening, $0) }
    }

    public func close(topic: String) async throws {
        try await core.writer.submit { .close(topic, $0) }
    }

    public func publish(_ event: NewEvent) async throws -> EventID {
        // Fail fast without queueing when the store can tell at once; the sealer checks again.
        if driver.isKnownNotOpen(event.topic) {
            throw WeEventError(.topicNotExist, detail: "topic \(event.topic) in group \(groupID)")
        }
        return try await core.writer.submit { .publish(event, $0) }
    }

    public func publish(_ events: [NewEvent]) async throws -> [Result<EventID, WeEventError>] {
        try await core.writer.publish(events, receipts: nil)
    }

    public func publish(
        _ events: [NewEvent], receipts: [InboundReceipt?], queued: @escaping @Sendable () -> Void
    ) async throws -> [Result<EventID, WeEventError>] {
        try await core.writer.publish(events, receipts: receipts, queued: queued)
    }

    public func receipt(_ receipt: InboundReceipt) async throws -> EventID? {
        try await driver.receipt(receipt)
    }

    public func retire(_ receipts: [InboundReceipt]) async throws {
        guard !receipts.isEmpty else { return }
        try await driver.retire(receipts)
    }

    public func retireAll(session: String) async throws {
        try await driver.retireAll(session: session)
    }

    public func shutdown() async {
        await core.writer.stop()
        core.commits.close()
        await driver.close()
    }

    // MARK: topics and summary

    public func exists(topic: String) async throws -> Bool {
        try await driver.openTopic(topic) != nil
    }

    public func state(topic: String) async throws -> TopicState {
        guard let state = try await driver.openTopic(topic) else {
            throw WeEventError(.topicNotExist, detail: "topic \(topic) in group \(groupID)")
        }
        return state
    }

    public func list(pageIndex: Int, pageSize: Int) async throws -> TopicPage {
        let total = try await driver.openTopicCount()
        // A page far past the end is empty; the product of two request numbers may not fit an Int.
        let (skip, overflow) = pageIndex.multipliedReportingOverflow(by: pageSize)
        guard !overflow, skip < total, pageSize > 0 else { return TopicPage(total: total, pageIndex: pageIndex, pageSize: pageSize, topics: []) }
        let topics = try await driver.openTopics(offset: max(skip, 0), limit: pageSize)
        return TopicPage(total: total, pageIndex: pageIndex, pageSize: pageSize, topics: topics)
    }

    public func chainInfo() async throws -> ChainInfo {
        let head = try await driver.head()
        let open = try await driver.openTopicCount()
        return ChainInfo(groupID: groupID, blockHeight: head.height, lastBlockHash: hexString(head.lastHash), eventCount: head.eventCount, topicCount: open)
    }

    // MARK: reading

    public func event(id: EventID) async throws -> Event {
        try await driver.locate(id).event
    }

    public func position(of id: EventID) async throws -> UInt64 {
        try await driver.locate(id).position
    }

    public func events(after position: UInt64, through: UInt64?, matching filter: TopicFilter, limit: Int) async throws -> EventRange {
        try await driver.events(after: position, through: through, matching: filter, limit: limit)
    }

    public func firstPosition(ofBlock height: UInt64) async throws -> UInt64 {
        try await storedBlock(height).firstPosition
    }

    public func blockHeader(at height: UInt64) async throws -> BlockHeader {
        try await storedBlock(height).header
    }

    public func lastPosition(before timestamp: Int64) async throws -> UInt64 {
        try await driver.lastPosition(before: timestamp)
    }

    /// Block `height` as stored; 100307 when the chain has no such block.
    func storedBlock(_ height: UInt64) async throws -> ChainCheck.StoredBlock {
        if height >= 1, let block = try await driver.blocks(from: height, limit: 1).first, block.height == height { return block }
        let chainHeight = try await driver.head().height
        throw WeEventError(.blockHeightInvalid, detail: "block \(height), chain height \(chainHeight) in group \(groupID)")
    }
}

/// What every store's ledger of one group shares with its front: which ledger, the write queue
/// and loop, the feed of commits, and how large a block may grow.
struct LedgerCore: Sendable {
    let groupID: String
    /// Names the store: positions count in one store only (`TopicLedger.ledgerID`).
    let ledgerID: String
    let writer: LedgerWriter
    let commits: CommitFeed
    let blockMaxEvents: Int
    /// Tagged with the group.
    let logger: Logger
    /// The ledger's format (its hashing rules), fixed when the ledger was made.
    let format: LedgerFormat

    /// `head`: how many events the store holds now (where live readers start).
    init(
        groupID: String, ledgerID: String, format: LedgerFormat, head: UInt64, blockMaxEvents: Int, blockMaxDelay: Duration, logger: Logger
    ) {
        self.groupID = groupID
        self.ledgerID = ledgerID
        self.format = format
        self.writer = LedgerWriter(groupID: groupID, maxEvents: blockMaxEvents, maxDelay: blockMaxDelay)
        self.commits = CommitFeed(head: head)
        self.blockMaxEvents = blockMaxEvents
        var logger = logger
        logger[metadataKey: "group"] = "\(groupID)"
        self.logger = logger
    }
}

/// The head of a stored chain.
struct StoredHead: Sendable, Equatable {
    var height: UInt64
    var lastHash: [UInt8]
    /// The position of the last event.
    var eventCount: UInt64
}

/// A store behind `GroupLedger` (the shape of hummingbird's `PersistDriver`): what differs
/// between SQLite, PostgreSQL and memory. Every read sees committed rows only.
protocol LedgerDriver: TreeHashSource, CheckpointStore {
    var core: LedgerCore { get }

    /// Runs `core.writer`'s loop: seals each batch it hands out with a `BlockSealer` (through a
    /// `WriteRound`), commits it durably, feeds `core.commits`, then answers its callers.
    /// Returns once the writer stopped and drained.
    func runWrites() async
    /// Releases the store once the write loop ended.
    func close() async

    /// True when the topic is certainly not open, known without a read (false when unsure):
    /// a publish to it is refused before it queues.
    func isKnownNotOpen(_ topic: String) -> Bool
    /// The topic when it is open.
    func openTopic(_ name: String) async throws -> TopicState?
    func openTopicCount() async throws -> Int
    /// Open topics in creation order, from `offset`, at most `limit`.
    func openTopics(offset: Int, limit: Int) async throws -> [TopicState]
    func head() async throws -> StoredHead
    /// The group tree's border as of the last commit this instance knows.
    func tree() async throws -> TreeBorder

    /// The stored event named by `id` with its position; 100304 when its block is above the
    /// chain or the topic's event with that sequence is in another block, 100303 when absent.
    func locate(_ id: EventID) async throws -> PositionedEvent
    /// `LedgerReading.events(after:through:matching:limit:)`.
    func events(after position: UInt64, through: UInt64?, matching filter: TopicFilter, limit: Int) async throws -> EventRange
    func lastPosition(before timestamp: Int64) async throws -> UInt64

    /// Blocks from height `from` on, in order, at most `limit`.
    func blocks(from height: UInt64, limit: Int) async throws -> [ChainCheck.StoredBlock]
    /// The events stored in positions `[first, end)`, in order.
    func storedEvents(from first: UInt64, to end: UInt64) async throws -> [ChainCheck.StoredEvent]
    /// The hashes of the events in positions `[first, end)`, in order.
    func eventHashes(from first: UInt64, to end: UInt64) async throws -> [[UInt8]]
    /// How many events are stored at `position` or after it.
    func eventCount(from position: UInt64) async throws -> UInt64

    /// Every topic of the group, open or closed (closed topics keep their events).
    func topicNames() async throws -> [String]
    /// Events of `topics` (nil: of every topic) in positions `(after, through]` that still hold
    /// their content, in order, at most `limit`.
    func prunable(after position: UInt64, through: UInt64, topics: [String]?, limit: Int) async throws -> [PrunableEvent]
    /// Content and extension bytes of those events (all of them, not a page).
    func retainedBytes(after position: UInt64, through: UInt64, topics: [String]?) async throws -> UInt64
    /// Removes the content of each event named that still holds it and keeps only the given
    /// extensions, recording when and why, in one transaction, durable when it returns. How
    /// many events changed (one pruned by someone else meanwhile is not).
    func prune(_ changes: [PruneChange]) async throws -> Int
    /// Lets the store give back the space pruning freed; the bytes given back when it knows.
    func reclaimSpace() async throws -> Int64
    /// After an erasure: leaves no copy of removed content where the store can reach it (old
    /// row versions, the write-ahead log).
    func scrub() async throws

    func receipt(_ receipt: InboundReceipt) async throws -> EventID?
    /// Durable when it returns; never called with no receipts.
    func retire(_ receipts: [InboundReceipt]) async throws
    func retireAll(session: String) async throws
}

/// An event that still holds its content, as the pruner sees it.
struct PrunableEvent: Sendable, Equatable {
    var position: UInt64
    var extensions: [String: String]
    /// Its content and extension bytes.
    var bytes: UInt64
}

/// One event to prune: what it keeps and why it goes.
struct PruneChange: Sendable {
    var position: UInt64
    /// The extensions it keeps (`Pruning.keptExtensions`).
    var extensions: [String: String]
    var time: Int64
    var reason: Pruning.Reason
}

extension LedgerDriver {
    func eventHashes(from first: UInt64, to end: UInt64) async throws -> [[UInt8]] {
        try await storedEvents(from: first, to: end).map(\.hash)
    }
}

extension ChainCheck.StoredBlock {
    var header: BlockHeader {
        BlockHeader(
            height: height, previousHash: previousHash, merkleRoot: merkleRoot, hash: hash, timestamp: timestamp,
            eventCount: UInt32(clamping: eventCount),
            tree: treeRoot.map { TreeHead(size: firstPosition &+ eventCount &- 1, root: $0) }
        )
    }
}
