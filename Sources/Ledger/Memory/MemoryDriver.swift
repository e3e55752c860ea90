import Foundation
import Logging
import Synchronization
import WeEvent

/// Where in-memory ledgers keep their rows, one set per group: what a database file is to the
/// embedded store. A ledger opened again on the same store finds what it held; nothing survives
/// the process. For unit tests and tools that need a ledger without a file or a server: the
/// same front (`GroupLedger`), sealer and checks as the durable stores, with commits that are
/// "durable" as soon as they are in memory.
public final class MemoryLedgerStore: Sendable {
    let groups = Mutex<[String: MemoryRows]>([:])
    /// Commits (with events) still to answer with a failure after storing them.
    let answersToLose = Mutex(0)
    /// Reads of events still to fail, as reads of an unreachable shared store do.
    let readsToFail = Mutex(0)

    public init() {}

    /// The next `count` commits that store events are kept but answered with a store failure
    /// (200500), as a PostgreSQL commit whose answer a timeout lost: for tests of the callers'
    /// retries.
    public func loseAnswers(ofNext count: Int) {
        answersToLose.withLock { $0 = max(0, count) }
    }

    /// The next `count` reads of events (`events(after:...)`, what a tail reads, and
    /// `lastPosition(before:)`) fail with a store failure, as they do while a shared store fails
    /// over: for tests of the readers.
    public func failReads(ofNext count: Int) {
        readsToFail.withLock { $0 = max(0, count) }
    }
}

/// One group's rows in a `MemoryLedgerStore`.
struct MemoryRows: Sendable {
    struct TopicSequence: Hashable {
        var topic: String
        var sequence: UInt64
    }

    let ledgerID = UUID().uuidString.lowercased()
    var format = LedgerFormat.current
    var topics: [String: TopicRecord] = [:]
    var topicsByHash: [String: [String]] = [:]
    var blocks: [ChainCheck.StoredBlock] = []
    /// In position order (rows may be missing only when a test took them out).
    var events: [ChainCheck.StoredEvent] = []
    var positions: [TopicSequence: UInt64] = [:]
    var receipts: [InboundReceipt: String] = [:]
    var tree = TreeBorder()
    /// Full subtrees at the stored levels, by level and index.
    var treeNodes: [Int: [UInt64: [UInt8]]] = [:]
    /// Signed checkpoints, smallest size first, and cosignature lines by size and witness.
    var checkpoints: [StoredCheckpoint] = []
    var cosignatures: [UInt64: [String: String]] = [:]

    var head: StoredHead {
        guard let last = blocks.last else { return StoredHead(height: 0, lastHash: BlockHash.zero, eventCount: 0) }
        return StoredHead(height: last.height, lastHash: last.hash, eventCount: last.firstPosition &+ last.eventCount &- 1)
    }

    /// The index of the first event stored at `position` or after it.
    func firstIndex(atOrAfter position: UInt64) -> Int {
        Self.firstIndex(in: events) { $0.position < position }
    }

    /// The index of the first element of `rows` (ordered) that is not `before` the one sought.
    static func firstIndex<Row>(in rows: [Row], _ before: (Row) -> Bool) -> Int {
        var low = 0, high = rows.count
        while low < high {
            let middle = (low + high) / 2
            if before(rows[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The events in positions `[first, end)`.
    func events(from first: UInt64, to end: UInt64) -> ArraySlice<ChainCheck.StoredEvent> {
        let start = firstIndex(atOrAfter: first)
        return events[start..<max(start, firstIndex(atOrAfter: end))]
    }

    mutating func store(_ sealed: BlockSealer.Sealed, receipts: [(InboundReceipt, String)]) {
        for (name, record) in sealed.topics {
            if topics.updateValue(record, forKey: name) == nil { topicsByHash[record.idPrefix, default: []].append(name) }
        }
        for block in sealed.blocks {
            let header = block.header
            blocks.append(
                ChainCheck.StoredBlock(
                    height: header.height, previousHash: header.previousHash, merkleRoot: header.merkleRoot, hash: header.hash,
                    timestamp: header.timestamp, eventCount: UInt64(header.eventCount), firstPosition: block.firstPosition,
                    treeRoot: header.tree?.root
                ))
            var position = block.firstPosition
            for event in block.events {
                events.append(
                    ChainCheck.StoredEvent(
                        position: position, block: header.height, topic: event.topic, sequence: event.sequence, timestamp: header.timestamp,
                        content: event.content, extensions: event.extensions, hash: event.hash
                    ))
                positions[TopicSequence(topic: event.topic, sequence: event.sequence)] = position
                position += 1
            }
        }
        for (receipt, id) in receipts { self.receipts[receipt] = id }
        tree = sealed.tree
        for node in sealed.treeNodes { treeNodes[node.subtree.level, default: [:]][node.subtree.index] = node.hash }
    }
}

/// A group's ledger held in a `MemoryLedgerStore`.
final class MemoryDriver: LedgerDriver {
    let core: LedgerCore
    let store: MemoryLedgerStore

    init(core: LedgerCore, store: MemoryLedgerStore) {
        self.core = core
        self.store = store
    }

    /// This group's rows, under the store's lock.
    func rows<T>(_ body: (inout MemoryRows) throws -> T) rethrows -> T {
        try store.groups.withLock { groups in try body(&groups[core.groupID, default: MemoryRows()]) }
    }

    func runWrites() async {
        await core.writer.run(writing: commit)
    }

    /// Seals the batch on the stored head, stores it, feeds live readers, answers the callers.
    private func commit(_ batch: [WriteOp]) async {
        let head = rows { rows in
            let head = rows.head
            return ChainHead(
                height: head.height, lastHash: head.lastHash, eventCount: head.eventCount, topics: rows.topics, nextOrder: rows.topics.count,
                tree: rows.tree, format: rows.format
            )
        }
        var sealer = BlockSealer(
            head: head, timestamp: Int64(Date().timeIntervalSince1970 * 1000), maxEvents: core.blockMaxEvents, groupID: core.groupID
        )
        var round = WriteRound()
        for op in batch { round.take(op, into: &sealer) }
        let sealed = sealer.finish()
        guard !sealed.isEmpty else { return round.finish(.success(())) }
        rows { $0.store(sealed, receipts: round.receiptsToStore) }
        if let last = sealed.blocks.last {
            core.commits.committed(through: last.lastPosition) { SealedBlock.positioned(sealed.blocks) }
        }
        let lose =
            !sealed.blocks.isEmpty
            && store.answersToLose.withLock { count in
                guard count > 0 else { return false }
                count -= 1
                return true
            }
        round.finish(lose ? .failure(LedgerStoreError("the answer of a commit of group \(core.groupID) was lost (as set by the test)")) : .success(()))
    }

    func close() async {}

    func isKnownNotOpen(_ topic: String) -> Bool {
        !rows { $0.topics[topic]?.isOpen ?? false }
    }

    func openTopic(_ name: String) async throws -> TopicState? {
        rows { rows in rows.topics[name].flatMap { $0.isOpen ? $0.state(name: name) : nil } }
    }

    func openTopicCount() async throws -> Int {
        rows { $0.topics.values.filter(\.isOpen).count }
    }

    func openTopics(offset: Int, limit: Int) async throws -> [TopicState] {
        let open = rows { $0.topics.filter(\.value.isOpen).sorted { $0.value.order < $1.value.order } }
        return open.dropFirst(offset).prefix(limit).map { $0.value.state(name: $0.key) }
    }

    func head() async throws -> StoredHead {
        rows { $0.head }
    }

    func tree() async throws -> TreeBorder {
        rows { $0.tree }
    }

    func locate(_ id: EventID) async throws -> PositionedEvent {
        try rows { rows in
            let height = rows.head.height
            if id.blockHeight > height {
                throw WeEventError(.eventIdIsMismatch, detail: "block \(id.blockHeight) above height \(height) in group \(core.groupID)")
            }
            for topic in rows.topicsByHash[id.topicHash] ?? [] {
                guard let position = rows.positions[MemoryRows.TopicSequence(topic: topic, sequence: id.sequence)],
                    let event = rows.events(from: position, to: position + 1).first
                else { continue }
                if event.block != id.blockHeight { throw WeEventError(.eventIdIsMismatch, detail: "\(id) is in block \(event.block)") }
                return PositionedEvent(position: position, event: event.event)
            }
            throw WeEventError(.eventIdNotExist, detail: "\(id) in group \(core.groupID)")
        }
    }

    /// Throws when the test asked this read to fail (`MemoryLedgerStore.failReads(ofNext:)`).
    private func failIfAsked() throws {
        let fail = store.readsToFail.withLock { count -> Bool in
            guard count > 0 else { return false }
            count -= 1
            return true
        }
        if fail { throw LedgerStoreError("a read of group \(core.groupID) failed (as set by the test)") }
    }

    func events(after position: UInt64, through: UInt64?, matching filter: TopicFilter, limit: Int) async throws -> EventRange {
        try failIfAsked()
        return rows { rows in
            let head = rows.head.eventCount
            let upper = min(through ?? head, head)
            if position >= upper || limit <= 0 { return EventRange(events: [], scannedThrough: max(position, upper)) }
            var found: [PositionedEvent] = []
            for stored in rows.events(from: position + 1, to: upper + 1) where filter.matches(stored.topic) {
                found.append(PositionedEvent(position: stored.position, event: stored.event))
                if found.count == limit { return EventRange(events: found, scannedThrough: stored.position) }
            }
            return EventRange(events: found, scannedThrough: upper)
        }
    }

    func lastPosition(before timestamp: Int64) async throws -> UInt64 {
        try failIfAsked()
        return rows { rows in
            rows.blocks.filter { $0.timestamp < timestamp }.map { $0.firstPosition &+ $0.eventCount &- 1 }.max() ?? 0
        }
    }

    func blocks(from height: UInt64, limit: Int) async throws -> [ChainCheck.StoredBlock] {
        rows { rows in
            Array(rows.blocks[MemoryRows.firstIndex(in: rows.blocks) { $0.height < height }...].prefix(max(0, limit)))
        }
    }

    func storedEvents(from first: UInt64, to end: UInt64) async throws -> [ChainCheck.StoredEvent] {
        rows { Array($0.events(from: first, to: end)) }
    }

    func storedHashes(level: Int, indexes: Range<UInt64>) async throws -> [[UInt8]] {
        rows { rows in
            if level == 0 { return rows.events(from: indexes.lowerBound + 1, to: indexes.upperBound + 1).map(\.hash) }
            let stored = rows.treeNodes[level] ?? [:]
            var found: [[UInt8]] = []
            for index in indexes {
                guard let hash = stored[index] else { break }
                found.append(hash)
            }
            return found
        }
    }

    func eventCount(from position: UInt64) async throws -> UInt64 {
        rows { UInt64($0.events.count - $0.firstIndex(atOrAfter: position)) }
    }

    func topicNames() async throws -> [String] {
        rows { Array($0.topics.keys) }
    }

    func prunable(after position: UInt64, through: UInt64, topics: [String]?, limit: Int) async throws -> [PrunableEvent] {
        guard position < through else { return [] }
        let names = topics.map(Set.init)
        return rows { rows in
            Array(
                rows.events(from: position + 1, to: through + 1).lazy
                    .filter { $0.pruned == nil && names?.contains($0.topic) != false }
                    .prefix(max(0, limit))
                    .map { PrunableEvent(position: $0.position, extensions: $0.extensions, bytes: $0.storedBytes) })
        }
    }

    func retainedBytes(after position: UInt64, through: UInt64, topics: [String]?) async throws -> UInt64 {
        guard position < through else { return 0 }
        let names = topics.map(Set.init)
        return rows { rows in
            rows.events(from: position + 1, to: through + 1)
                .filter { $0.pruned == nil && names?.contains($0.topic) != false }
                .reduce(0) { $0 + $1.storedBytes }
        }
    }

    func prune(_ changes: [PruneChange]) async throws -> Int {
        rows { rows in
            var changed = 0
            for change in changes {
                let index = rows.firstIndex(atOrAfter: change.position)
                guard index < rows.events.count, rows.events[index].position == change.position, rows.events[index].pruned == nil else { continue }
                rows.events[index].content = []
                rows.events[index].extensions = change.extensions
                rows.events[index].pruned = Pruning(time: change.time, reason: change.reason, eventHash: rows.events[index].hash)
                changed += 1
            }
            return changed
        }
    }

    func reclaimSpace() async throws -> Int64 { 0 }

    func scrub() async throws {}

    func receipt(_ receipt: InboundReceipt) async throws -> EventID? {
        rows { $0.receipts[receipt].flatMap(EventID.init) }
    }

    func retire(_ receipts: [InboundReceipt]) async throws {
        rows { rows in for receipt in receipts { rows.receipts[receipt] = nil } }
    }

    func retireAll(session: String) async throws {
        rows { rows in rows.receipts = rows.receipts.filter { $0.key.session != session } }
    }
}

extension GroupLedger {
    /// The ledger of `groupID` in `store`: an in-memory ledger (see `MemoryLedgerStore`), with
    /// whatever that store holds for the group. Writes wait until its write loop runs
    /// (`LedgerSet.services`, or `LedgerSet.withRunning`).
    public static func inMemory(
        groupID: String, store: MemoryLedgerStore = MemoryLedgerStore(), blockMaxEvents: Int = 1000, blockMaxDelay: Duration = .zero,
        logger: Logger = Logger(label: "weevent.ledger")
    ) -> GroupLedger {
        let (ledgerID, format, head) = store.groups.withLock { groups in
            let rows = groups[groupID, default: MemoryRows()]
            groups[groupID] = rows
            return (rows.ledgerID, rows.format, rows.head.eventCount)
        }
        let core = LedgerCore(
            groupID: groupID, ledgerID: ledgerID, format: format, head: head, blockMaxEvents: blockMaxEvents, blockMaxDelay: blockMaxDelay, logger: logger
        )
        return GroupLedger(MemoryDriver(core: core, store: store))
    }
}
