import WeEvent

/// Where a group's chain stands before a batch is sealed onto it: what a `BlockSealer` starts from.
///
/// The SQLite ledger takes it from its in-memory view (only its write loop moves the chain);
/// a shared store reads it under the lock of the chain head, in the transaction that writes the batch.
struct ChainHead: Sendable, Equatable {
    /// Height of the last block; 0 for an empty chain.
    var height: UInt64
    /// Hash of the last block; `BlockHash.zero` for an empty chain.
    var lastHash: [UInt8]
    /// How many events the chain holds: the position of the last one.
    var eventCount: UInt64
    /// Every topic ever opened, closed ones included (their sequences go on when reopened).
    var topics: [String: TopicRecord]
    /// The creation order the next new topic gets.
    var nextOrder: Int
    /// The right border of the group's tree over every event (`tree.size == eventCount`).
    var tree = TreeBorder()
    /// The ledger's format: the hashing rules its blocks are sealed with.
    var format = LedgerFormat.current
}

/// A topic as the ledger keeps it.
struct TopicRecord: Sendable, Equatable {
    var created: Int64
    var sequence: UInt64
    var lastBlock: UInt64
    var lastTimestamp: Int64
    var isOpen: Bool
    /// Creation order, for stable paging in `rest/list`.
    var order: Int
    /// The first part of the topic's event ids, computed once.
    var idPrefix: String

    func state(name: String) -> TopicState {
        TopicState(
            name: name, createdTimestamp: created, sequenceNumber: sequence,
            blockNumber: lastBlock, lastTimestamp: lastTimestamp
        )
    }
}

extension ChainHead {
    /// The head once `sealed` is written on top of this one.
    func advanced(by sealed: BlockSealer.Sealed) -> ChainHead {
        var next = self
        if let last = sealed.blocks.last {
            next.height = last.header.height
            next.lastHash = last.header.hash
            next.eventCount = last.lastPosition
        }
        next.tree = sealed.tree
        next.topics.merge(sealed.topics) { _, changed in changed }
        next.nextOrder = max(nextOrder, sealed.nextOrder)
        return next
    }
}
