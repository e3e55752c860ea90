import Bridge
import Foundation
import Ledger
import Subscriptions
import WeEvent

// The JSON bodies of the HTTP API, one type per answer shape (docs/api.md).

struct TopicInfo: Encodable {
    let topicName: String
    let createdTimestamp: Int64
    let sequenceNumber: UInt64
    let blockNumber: UInt64
    let lastTimestamp: Int64

    init(_ state: TopicState) {
        topicName = state.name
        createdTimestamp = state.createdTimestamp
        sequenceNumber = state.sequenceNumber
        blockNumber = state.blockNumber
        lastTimestamp = state.lastTimestamp
    }
}

struct TopicPageBody: Encodable {
    let total: Int
    let pageIndex: Int
    let pageSize: Int
    let topicInfoList: [TopicInfo]
}

struct PublishBody: Encodable {
    let status: String
    let topic: String
    let eventId: String
}

struct ChainInfoBody: Encodable {
    let groupId: String
    let blockHeight: UInt64
    let lastBlockHash: String
    let eventCount: UInt64
    let topicCount: Int
}

struct SubscriptionBody: Encodable {
    let subscriptionId: String
    let groupId: String
    let topic: String
    let url: String
    let position: UInt64
    let delivered: UInt64
    let failedAttempts: UInt64
    let lastError: String?
    let lastEventId: String?
    let createdTimestamp: Int64

    init(_ status: CallbackSubscriptions.Status) {
        subscriptionId = status.subscription.id
        groupId = status.subscription.groupID
        topic = status.subscription.topic
        url = status.subscription.url
        position = status.subscription.position
        delivered = status.subscription.delivered
        failedAttempts = status.failedAttempts
        lastError = status.lastError
        lastEventId = status.lastEventID
        createdTimestamp = status.subscription.createdTimestamp
    }
}

/// `rest/proof`: byte strings as lowercase hex, content as base64 (as getEvent); see docs/ledger.md.
struct ProofBody: Encodable {
    struct EventFields: Encodable {
        struct Pruned: Encodable {
            let reason: String
            let time: Int64
        }

        let topic: String
        let sequence: UInt64
        let timestamp: Int64
        let content: String
        let extensions: [String: String]
        /// Only for an event whose content was pruned or erased: `content` is then empty and
        /// the leaf is `eventHash` (docs/ledger.md "Retention").
        let pruned: Pruned?

        init(_ event: Event) {
            topic = event.topic
            sequence = event.id.sequence
            timestamp = event.timestamp
            content = Data(event.content).base64EncodedString()
            extensions = event.extensions
            pruned = event.pruned.map { Pruned(reason: $0.reason.name, time: $0.time) }
        }
    }

    struct Step: Encodable {
        let sibling: String
        /// Where the sibling sits: "left" means hash(sibling ‖ current).
        let side: String
    }

    struct Header: Encodable {
        let height: UInt64
        let previousHash: String
        let merkleRoot: String
        let timestamp: Int64
        let eventCount: UInt32
        let hash: String
        /// Format 2: the group tree after the block, which the hash covers too.
        let treeSize: UInt64?
        let treeRoot: String?

        init(_ header: BlockHeader) {
            height = header.height
            previousHash = hexString(header.previousHash)
            merkleRoot = hexString(header.merkleRoot)
            timestamp = header.timestamp
            eventCount = header.eventCount
            hash = hexString(header.hash)
            treeSize = header.tree?.size
            treeRoot = header.tree.map { hexString($0.root) }
        }
    }

    struct Head: Encodable {
        let height: UInt64
        let hash: String
    }

    let groupId: String
    let eventId: String
    /// The ledger format whose rules the hashes follow (docs/ledger.md).
    let format: Int
    let event: EventFields
    let eventHash: String
    let index: Int
    let merklePath: [Step]
    let block: Header
    let links: [Header]
    let head: Head

    init(_ proof: EventProof) {
        groupId = proof.groupID
        eventId = proof.event.id.description
        format = proof.block.format.rawValue
        event = EventFields(proof.event)
        eventHash = hexString(proof.eventHash)
        index = proof.index
        merklePath = proof.path.map { Step(sibling: hexString($0.sibling), side: $0.siblingIsLeft ? "left" : "right") }
        block = Header(proof.block)
        links = proof.links.map(Header.init)
        head = Head(height: proof.head.height, hash: hexString(proof.head.hash))
    }
}

/// `rest/proof` (the default form `tree`): the event, its leaf and an RFC 9162 inclusion proof
/// to the tree of `treeSize` events, with that tree's signed checkpoint when there is one.
struct TreeProofBody: Encodable {
    let groupId: String
    let eventId: String
    /// The ledger format whose rules the event hash follows (docs/ledger.md).
    let format: Int
    let event: ProofBody.EventFields
    let eventHash: String
    let leafIndex: UInt64
    let treeSize: UInt64
    let rootHash: String
    let inclusionProof: [String]
    let checkpoint: String?

    init(groupId: String, _ proof: TreeProof) {
        self.groupId = groupId
        eventId = proof.event.id.description
        format = proof.format.rawValue
        event = ProofBody.EventFields(proof.event)
        eventHash = hexString(proof.leafHash)
        leafIndex = proof.leafIndex
        treeSize = proof.treeSize
        rootHash = hexString(proof.rootHash)
        inclusionProof = proof.inclusionProof.map(hexString)
        checkpoint = proof.checkpoint
    }
}

/// `rest/consistency`: an RFC 9162 consistency proof between two tree sizes, with both roots.
struct ConsistencyBody: Encodable {
    let groupId: String
    let from: UInt64
    let to: UInt64
    let fromRoot: String
    let toRoot: String
    let proof: [String]

    init(groupId: String, _ consistency: TreeConsistency) {
        self.groupId = groupId
        from = consistency.from
        to = consistency.to
        fromRoot = hexString(consistency.fromRoot)
        toRoot = hexString(consistency.toRoot)
        proof = consistency.proof.map(hexString)
    }
}

struct BindingRow: Encodable {
    let direction: String
    let topic: String
    let groupId: String
    let mqttTopic: String
    let qos: Int
    let checkpoint: UInt64?
    let instance: String?
    let bridged: UInt64
    let rejected: UInt64
    /// Outbound: events not sent because they had expired (or their content was pruned).
    let expired: UInt64
    /// Outbound: the binding's TTL, when it has one.
    let ttl: String?
    let lastError: String?
    let live: Bool

    init(_ row: (binding: Binding, status: BindingStatus)) {
        let (binding, status) = row
        direction = binding.direction.rawValue
        topic = binding.topic
        groupId = binding.groupId
        mqttTopic = binding.mqttTopic
        qos = binding.qos
        checkpoint = binding.direction == .outbound ? binding.checkpoint : nil
        instance = status.instance
        bridged = status.bridged
        rejected = status.rejected
        expired = status.expired
        ttl = binding.ttl.map(RetentionPolicy.describe(milliseconds:))
        lastError = status.lastError
        live = status.isLive(binding)
    }
}

/// rest/block: one block's header (as rest/proof writes headers) and (the first 1000 of) its events.
struct BlockBody: Encodable {
    struct Entry: Encodable {
        let eventId: String
        let topic: String
    }

    let groupId: String
    let header: ProofBody.Header
    let events: [Entry]
    let eventsTruncated: Bool

    enum CodingKeys: String, CodingKey {
        case groupId, events, eventsTruncated
    }

    /// The header's fields and these, side by side in one object.
    func encode(to encoder: any Encoder) throws {
        try header.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(groupId, forKey: .groupId)
        try container.encode(events, forKey: .events)
        try container.encode(eventsTruncated, forKey: .eventsTruncated)
    }
}
