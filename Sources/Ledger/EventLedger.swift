import WeEvent

/// One group's ledger: topics and the hash-chained blocks of their events, in the roles its
/// callers play (each role a protocol, so a caller names only what it uses):
///
/// - `TopicLedger`: which ledger, its topics and the chain's summary (every role builds on it);
/// - `EventPublishing`: appending events;
/// - `LedgerReading`: reading in ledger order and following commits (streams, history,
///   callbacks, the outbound bridge, rest/request);
/// - `LedgerProving`: Merkle proofs and `verify`;
/// - `BridgeReceipts`: the inbound bridge's exactly-once receipts;
/// - `LedgerPruning`: removing old or erased content while proofs still hold.
///
/// Callers (HTTP routes, the MQTT bridge) see only these protocols, so a shared store
/// (PostgreSQL, for several broker instances) can stand beside the embedded SQLite one.
/// Every method that writes returns only after the change is durable.
/// Failures a client caused are thrown as `WeEventError`; anything else is a store failure.
public protocol EventLedger: EventPublishing, LedgerAuditing, BridgeReceipts, LedgerPruning {
    /// Finishes pending writes and closes the store. Later writes fail with 200002.
    func shutdown() async
}

/// Which ledger, its topics, and the chain's summary.
public protocol TopicLedger: Sendable {
    var groupID: String { get }
    /// Names this store: positions count in one store only. Every instance on a shared store
    /// sees the same id; each embedded ledger has its own (made when its file is created).
    var ledgerID: String { get }

    /// Creates the topic, or reopens a closed one when `reopening` (100704 otherwise). `true`
    /// also when it was already open. A new topic whose event id prefix (the first 8 hex of
    /// SHA-256 of its name) another topic of the group has is refused with 100108.
    func open(topic: String, reopening: Bool) async throws -> Bool
    /// Closes an open topic: it keeps its events but takes no more. 100101 if not open.
    func close(topic: String) async throws
    func exists(topic: String) async throws -> Bool
    /// 100101 if the topic does not exist.
    func state(topic: String) async throws -> TopicState
    func list(pageIndex: Int, pageSize: Int) async throws -> TopicPage
    func chainInfo() async throws -> ChainInfo
}

/// Appending events.
public protocol EventPublishing: TopicLedger {
    /// Appends one event; returns its id once the block holding it is durable.
    func publish(_ event: NewEvent) async throws -> EventID
    /// Appends several events in order, all in the same or consecutive blocks; one result per event.
    func publish(_ events: [NewEvent]) async throws -> [Result<EventID, WeEventError>]
}

/// Reading in ledger order (streams, history, callbacks, the outbound bridge, rest/request).
public protocol LedgerReading: TopicLedger {
    /// 100304 if the id's block is above the chain height or the event is not in that block; 100303 if absent.
    func event(id: EventID) async throws -> Event
    /// Durable events with a position in `(after, through]` (`through` nil: up to the head)
    /// whose topic matches `filter`, in ledger order, at most `limit`.
    func events(after position: UInt64, through: UInt64?, matching filter: TopicFilter, limit: Int) async throws -> EventRange
    /// The position of an event; the same errors as `event(id:)`.
    func position(of id: EventID) async throws -> UInt64
    /// The position of the first event of block `height`; 100307 when there is no such block.
    func firstPosition(ofBlock height: UInt64) async throws -> UInt64
    /// The header of block `height` (1...chain height); 100307 for any other height.
    func blockHeader(at height: UInt64) async throws -> BlockHeader
    /// The position of the last event in a block sealed before `timestamp` (ms since 1970), 0 if none.
    func lastPosition(before timestamp: Int64) async throws -> UInt64
    /// Fired after every durable commit, so readers follow the ledger without polling.
    var commits: CommitFeed { get }
}

/// Proofs: checking an event against the chain, and the chain as a whole.
public protocol LedgerProving: LedgerReading {
    /// The event's Merkle path, its block and the headers after it through height `head`
    /// (at most the chain's height); errors as `event(id:)`. Callers bound `head`: the answer
    /// holds one header per block between the event and it.
    func proof(of id: EventID, through head: UInt64) async throws -> EventProof
    /// Recomputes every event hash, Merkle root and block link, and the group tree at every
    /// stored checkpoint (whose signature must verify under `checkpointKey` when given) and at
    /// each checkpoint of `holding` (ones the caller kept, such as a witness's).
    func verify(checkpointKey: NoteVerifier?, holding: [Checkpoint]) async throws -> VerificationReport
}

/// The group tree (RFC 9162) over every event in position order: signed checkpoints, O(log n)
/// inclusion and consistency proofs, and the cosignatures witnesses hand back.
public protocol LedgerAuditing: LedgerProving {
    /// The tree's size and root as of the last commit this instance knows.
    func treeHead() async throws -> (size: UInt64, root: [UInt8])
    /// The inclusion proof of an event in the tree of `treeSize` events (the latest checkpoint's
    /// when nil and it holds the event, else the tree now); 100312 for a size out of range.
    func treeProof(of id: EventID, treeSize: UInt64?) async throws -> TreeProof
    /// The consistency proof from `from` events to `to` (the latest checkpoint's size when nil).
    func consistency(from: UInt64, to: UInt64?) async throws -> TreeConsistency
    /// The signed checkpoint of tree size `size` (the latest when nil) with its cosignatures.
    func checkpoint(size: UInt64?) async throws -> (size: UInt64, note: String)?
    /// Stored checkpoints from tree size `size` on, smallest first.
    func storedCheckpoints(from size: UInt64, limit: Int) async throws -> [StoredCheckpoint]
    /// Signs and stores a checkpoint of the tree now, never one inconsistent with the last signed.
    func signCheckpoint(with signer: NoteSigner) async throws -> StoredCheckpoint?
    /// Keeps the valid cosignatures of known witnesses on a checkpoint this ledger signed.
    func addCosignatures(_ note: String, witnesses: [NoteVerifier]) async throws -> [String]
}

/// The inbound MQTT bridge's exactly-once receipts.
public protocol BridgeReceipts: EventPublishing, LedgerReading {
    /// Appends events like `publish(_:)`, and in the same transaction records, for each stored
    /// event whose receipt slot is not nil, that this MQTT packet was stored as that event.
    /// This is how the bridge stores an inbound QoS 2 message exactly once across crashes.
    ///
    /// `queued` is called as soon as the events have their place in the ledger's order, before
    /// they are durable: a caller may then send its next batch without waiting for this one's
    /// fsync and still keep the order of the two (the bridge's inbound pipeline does).
    func publish(
        _ events: [NewEvent], receipts: [InboundReceipt?], queued: @escaping @Sendable () -> Void
    ) async throws -> [Result<EventID, WeEventError>]
    /// The event a recorded MQTT packet became, if its receipt is still held.
    func receipt(_ receipt: InboundReceipt) async throws -> EventID?
    /// Forgets receipts durably: the MQTT broker released those packets (PUBREL), so their ids
    /// may name new messages once PUBCOMP is sent, which the caller does only after this returns.
    func retire(_ receipts: [InboundReceipt]) async throws
    /// Forgets every receipt of an MQTT session durably: the broker lost that session, so none
    /// of its packets can come again.
    func retireAll(session: String) async throws
}

/// An inbound MQTT QoS 2 packet: the MQTT session (client id) and its packet identifier.
public struct InboundReceipt: Sendable, Hashable {
    public var session: String
    public var packetID: UInt16

    public init(session: String, packetID: UInt16) {
        self.session = session
        self.packetID = packetID
    }
}

/// The outcome of recomputing a chain.
public struct VerificationReport: Sendable, Equatable, CustomStringConvertible {
    public var groupID: String
    public var blocksChecked: UInt64
    public var eventsChecked: UInt64
    /// Stored checkpoints whose root the recomputed tree gave.
    public var checkpointsChecked: UInt64 = 0
    /// Events whose content was pruned: their stored hash is checked as a leaf (Merkle root,
    /// group tree, block hash), not recomputed from content they no longer have.
    public var eventsPruned: UInt64 = 0
    /// The first block that does not match, with why; nil when the chain is intact.
    public var firstBadBlock: UInt64?
    public var problem: String?

    public var isIntact: Bool { firstBadBlock == nil }

    public init(groupID: String, blocksChecked: UInt64, eventsChecked: UInt64, firstBadBlock: UInt64? = nil, problem: String? = nil) {
        self.groupID = groupID
        self.blocksChecked = blocksChecked
        self.eventsChecked = eventsChecked
        self.firstBadBlock = firstBadBlock
        self.problem = problem
    }

    public var description: String {
        if let firstBadBlock {
            return "group \(groupID): block \(firstBadBlock) does not match: \(problem ?? "")"
        }
        let pruned = eventsPruned > 0 ? " (\(eventsPruned) pruned)" : ""
        return "group \(groupID): \(blocksChecked) blocks, \(eventsChecked) events\(pruned), \(checkpointsChecked) checkpoints, chain intact"
    }
}

extension BridgeReceipts {
    /// `publish(_:receipts:queued:)` for a caller that waits for durability before anything else.
    public func publish(_ events: [NewEvent], receipts: [InboundReceipt?]) async throws -> [Result<EventID, WeEventError>] {
        try await publish(events, receipts: receipts, queued: {})
    }
}

extension LedgerProving {
    /// `verify(checkpointKey:holding:)` without checking the checkpoints' signatures.
    public func verify() async throws -> VerificationReport {
        try await verify(checkpointKey: nil, holding: [])
    }

    /// `verify(checkpointKey:holding:)` with the stored checkpoints only.
    public func verify(checkpointKey: NoteVerifier?) async throws -> VerificationReport {
        try await verify(checkpointKey: checkpointKey, holding: [])
    }
}

extension TopicLedger {
    /// Creates the topic, or reopens a closed one.
    public func open(topic: String) async throws -> Bool {
        try await open(topic: topic, reopening: true)
    }
}
