import WeEvent

/// An event with its place in a sealed block.
struct SealedEvent: Sendable, Equatable {
    var topic: String
    var sequence: UInt64
    var content: [UInt8]
    var extensions: [String: String]
    /// `BlockHash.event` of the fields above and the block's timestamp.
    var hash: [UInt8]
}

/// A block as sealed: its header, the position of its first event and its events in order.
struct SealedBlock: Sendable, Equatable {
    var header: BlockHeader
    var firstPosition: UInt64
    var events: [SealedEvent]

    var lastPosition: UInt64 { firstPosition + UInt64(events.count) - 1 }

    /// The committed events of `blocks` as live readers get them (`CommitFeed`).
    static func positioned(_ blocks: [SealedBlock]) -> [PositionedEvent] {
        var topicHashes: [String: String] = [:]
        var result: [PositionedEvent] = []
        result.reserveCapacity(blocks.reduce(0) { $0 + $1.events.count })
        for block in blocks {
            var position = block.firstPosition
            for event in block.events {
                let topicHash = topicHashes[event.topic] ?? EventID.topicHash(event.topic)
                topicHashes[event.topic] = topicHash
                let id = EventID(topicHash: topicHash, sequence: event.sequence, blockHeight: block.header.height)
                result.append(
                    PositionedEvent(
                        position: position,
                        event: Event(
                            id: id, topic: event.topic, content: event.content, extensions: event.extensions, timestamp: block.header.timestamp
                        )))
                position += 1
            }
        }
        return result
    }
}

/// Turns a batch of writes into blocks and event ids, with no store behind it.
///
/// Starts from a `ChainHead` and one timestamp (the blocks' and the events'), takes topic
/// opens and closes and event appends in the order the ledger took them, and seals a block
/// every `maxEvents` events. A store writes what `finish()` returns in one transaction and
/// only then answers the callers; the hashing rules are `BlockHash`'s.
struct BlockSealer {
    /// What a batch came to: the blocks to write and the topic records it changed.
    struct Sealed: Sendable, Equatable {
        var blocks: [SealedBlock]
        var topics: [String: TopicRecord]
        /// The creation order the next new topic gets after this batch.
        var nextOrder: Int
        /// The group tree's border after the batch, and the stored-level subtrees it completed.
        var tree: TreeBorder
        var treeNodes: [TreeBorder.Node]

        /// Nothing to write: no events, and no topic opened, reopened or closed.
        var isEmpty: Bool { blocks.isEmpty && topics.isEmpty }
    }

    private let head: ChainHead
    private let timestamp: Int64
    private let maxEvents: Int
    private let groupID: String
    private var nextOrder: Int
    private var tree: TreeBorder
    private var treeNodes: [TreeBorder.Node] = []
    private var changed: [String: TopicRecord] = [:]
    private var blocks: [SealedBlock] = []
    private var current: [SealedEvent] = []

    /// `groupID` only names the group in refusals.
    init(head: ChainHead, timestamp: Int64, maxEvents: Int, groupID: String) {
        self.head = head
        self.timestamp = timestamp
        self.maxEvents = maxEvents
        self.groupID = groupID
        self.nextOrder = head.nextOrder
        self.tree = head.tree
    }

    /// Creates the topic, or reopens a closed one; an open topic stays as it is.
    /// Reopening a closed topic needs `reopening` (100704). A new topic is refused (100108) when
    /// another topic of the group, open or closed, has its event id prefix: ids would not say
    /// which topic an event is of.
    @discardableResult
    mutating func open(topic: String, reopening: Bool = true) -> Result<Void, WeEventError> {
        if var record = record(topic) {
            guard !record.isOpen else { return .success(()) }
            guard reopening else {
                return .failure(
                    WeEventError(
                        .actionNotAllowed, message: "topic \(topic) is closed: reopening it needs manage",
                        detail: "group \(groupID)"
                    ))
            }
            record.isOpen = true
            changed[topic] = record
            return .success(())
        }
        let prefix = EventID.topicHash(topic)
        if let other = changed.first(where: { $0.value.idPrefix == prefix })?.key
            ?? head.topics.first(where: { $0.value.idPrefix == prefix })?.key
        {
            return .failure(
                WeEventError(
                    .topicPrefixTaken, message: "topic \(topic) has the event id prefix \(prefix) of topic \(other)", detail: "group \(groupID)"
                ))
        }
        changed[topic] = TopicRecord(
            created: timestamp, sequence: 0, lastBlock: 0, lastTimestamp: timestamp, isOpen: true,
            order: nextOrder, idPrefix: prefix
        )
        nextOrder += 1
        return .success(())
    }

    /// Closes an open topic; 100101 when it is not open.
    mutating func close(topic: String) -> Result<Void, WeEventError> {
        guard var record = record(topic), record.isOpen else { return .failure(notOpen(topic)) }
        record.isOpen = false
        changed[topic] = record
        return .success(())
    }

    /// Gives the event the next sequence of its topic and a place in the block being filled,
    /// sealing that block first when it is full. 100101 when the topic is not open; a refused
    /// event uses no sequence.
    mutating func append(_ event: NewEvent) -> Result<EventID, WeEventError> {
        // One hash lookup per event once a topic is in `changed` (the common case under load).
        var index = changed.index(forKey: event.topic)
        if index == nil {
            guard let record = head.topics[event.topic], record.isOpen else { return .failure(notOpen(event.topic)) }
            changed[event.topic] = record
            index = changed.index(forKey: event.topic)
        }
        guard let index, changed.values[index].isOpen else { return .failure(notOpen(event.topic)) }
        if current.count >= maxEvents { seal() }
        let height = nextHeight
        let sequence = changed.values[index].sequence + 1
        changed.values[index].sequence = sequence
        changed.values[index].lastBlock = height
        changed.values[index].lastTimestamp = timestamp
        let hash = BlockHash.event(
            format: head.format, topic: event.topic, sequence: sequence, timestamp: timestamp, content: event.content, extensions: event.extensions)
        current.append(SealedEvent(topic: event.topic, sequence: sequence, content: event.content, extensions: event.extensions, hash: hash))
        treeNodes += tree.append(hash)
        return .success(EventID(topicHash: changed.values[index].idPrefix, sequence: sequence, blockHeight: height))
    }

    /// Seals the block being filled, if it holds any event, and returns the batch.
    mutating func finish() -> Sealed {
        seal()
        return Sealed(blocks: blocks, topics: changed, nextOrder: nextOrder, tree: tree, treeNodes: treeNodes)
    }

    /// The height of the block being filled.
    private var nextHeight: UInt64 { head.height + UInt64(blocks.count) + 1 }

    private mutating func seal() {
        guard !current.isEmpty else { return }
        let height = nextHeight
        let previous = blocks.last?.header.hash ?? head.lastHash
        let root = BlockHash.merkleRoot(current.map(\.hash))
        let count = UInt32(current.count)
        // The events were appended to `tree` as they came: it is the tree after this block.
        let treeHead = head.format == .v2 ? TreeHead(size: tree.size, root: tree.root) : nil
        let hash = BlockHash.block(height: height, previousHash: previous, merkleRoot: root, timestamp: timestamp, eventCount: count, tree: treeHead)
        blocks.append(
            SealedBlock(
                header: BlockHeader(
                    height: height, previousHash: previous, merkleRoot: root, hash: hash, timestamp: timestamp, eventCount: count, tree: treeHead),
                firstPosition: blocks.last.map { $0.lastPosition + 1 } ?? head.eventCount + 1,
                events: current
            ))
        current = []
    }

    private func record(_ topic: String) -> TopicRecord? {
        changed[topic] ?? head.topics[topic]
    }

    private func notOpen(_ topic: String) -> WeEventError {
        WeEventError(.topicNotExist, detail: "topic \(topic) in group \(groupID)")
    }
}
