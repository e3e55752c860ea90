/// An event as a publisher hands it in, before the ledger assigns its place.
public struct NewEvent: Sendable, Equatable {
    public var topic: String
    public var content: [UInt8]
    /// `weevent-*` keys and their values.
    public var extensions: [String: String]

    public init(topic: String, content: [UInt8], extensions: [String: String] = [:]) {
        self.topic = topic
        self.content = content
        self.extensions = extensions
    }
}

/// An event as stored in a ledger.
public struct Event: Sendable, Equatable {
    public var id: EventID
    public var topic: String
    public var content: [UInt8]
    public var extensions: [String: String]
    /// Milliseconds since 1970 when the event's block was sealed.
    public var timestamp: Int64
    /// Set when the content was removed (retention or erasure): `content` is then empty and
    /// `extensions` holds only the broker's reserved ones.
    public var pruned: Pruning?

    public init(id: EventID, topic: String, content: [UInt8], extensions: [String: String], timestamp: Int64, pruned: Pruning? = nil) {
        self.id = id
        self.topic = topic
        self.content = content
        self.extensions = extensions
        self.timestamp = timestamp
        self.pruned = pruned
    }
}

/// What `rest/state` reports about a topic.
public struct TopicState: Sendable, Equatable {
    public var name: String
    public var createdTimestamp: Int64
    /// Sequence number of the last event (0 before the first).
    public var sequenceNumber: UInt64
    /// Height of the block holding the last event (0 before the first).
    public var blockNumber: UInt64
    /// Milliseconds of the last event, or the creation time before the first.
    public var lastTimestamp: Int64

    public init(name: String, createdTimestamp: Int64, sequenceNumber: UInt64, blockNumber: UInt64, lastTimestamp: Int64) {
        self.name = name
        self.createdTimestamp = createdTimestamp
        self.sequenceNumber = sequenceNumber
        self.blockNumber = blockNumber
        self.lastTimestamp = lastTimestamp
    }
}

/// A page of `rest/list`.
public struct TopicPage: Sendable, Equatable {
    public var total: Int
    public var pageIndex: Int
    public var pageSize: Int
    public var topics: [TopicState]

    public init(total: Int, pageIndex: Int, pageSize: Int, topics: [TopicState]) {
        self.total = total
        self.pageIndex = pageIndex
        self.pageSize = pageSize
        self.topics = topics
    }
}

/// What `admin/blockchaininfo` reports about a group's chain.
public struct ChainInfo: Sendable, Equatable {
    public var groupID: String
    public var blockHeight: UInt64
    /// Hex of the last block's hash; 64 zeros before the first block.
    public var lastBlockHash: String
    public var eventCount: UInt64
    public var topicCount: Int

    public init(groupID: String, blockHeight: UInt64, lastBlockHash: String, eventCount: UInt64, topicCount: Int) {
        self.groupID = groupID
        self.blockHeight = blockHeight
        self.lastBlockHash = lastBlockHash
        self.eventCount = eventCount
        self.topicCount = topicCount
    }
}
