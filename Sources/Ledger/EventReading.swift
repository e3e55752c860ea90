import WeEvent

/// An event with its place in the ledger: `position` numbers a group's events 1, 2, 3, ...
/// in ledger order (block by block, in order within a block), without gaps.
public struct PositionedEvent: Sendable, Equatable {
    public var position: UInt64
    public var event: Event

    public init(position: UInt64, event: Event) {
        self.position = position
        self.event = event
    }
}

/// A slice of the ledger read in order.
public struct EventRange: Sendable, Equatable {
    /// The matching events, by position.
    public var events: [PositionedEvent]
    /// Every event up to this position was looked at: the next read starts after it,
    /// also when no event matched.
    public var scannedThrough: UInt64

    public init(events: [PositionedEvent], scannedThrough: UInt64) {
        self.events = events
        self.scannedThrough = scannedThrough
    }
}

/// Everything needed to check, without trusting the broker, that an event is in a block
/// and that the block is linked to the chain's head (docs/ledger.md, scripts/check-proof.py).
public struct EventProof: Sendable, Equatable {
    public var groupID: String
    public var event: Event
    public var eventHash: [UInt8]
    /// Index of the event in its block (0-based, ledger order).
    public var index: Int
    /// Siblings from the event's hash up to the block's Merkle root.
    public var path: [BlockHash.PathStep]
    public var block: BlockHeader
    /// Headers of the blocks after the event's block, up to and including the head, in order.
    public var links: [BlockHeader]

    public init(groupID: String, event: Event, eventHash: [UInt8], index: Int, path: [BlockHash.PathStep], block: BlockHeader, links: [BlockHeader]) {
        self.groupID = groupID
        self.event = event
        self.eventHash = eventHash
        self.index = index
        self.path = path
        self.block = block
        self.links = links
    }

    /// The chain head the proof ties the event to.
    public var head: BlockHeader { links.last ?? block }
}

extension LedgerReading {
    /// The position a reader starting at `offset` has already passed: it gets the events after it.
    /// 100303/100304 for an unknown event id, 100307 for a block above the chain.
    public func position(for offset: Offset) async throws -> UInt64 {
        switch offset {
        case .first: 0
        case .last: try await chainInfo().eventCount
        case .after(let id): try await position(of: id)
        case .block(let height): try await firstPosition(ofBlock: height) - 1
        }
    }

    /// Follows the ledger from `position` on: first what is stored, then each commit as it
    /// happens. See `EventTail`.
    public func tail(after position: UInt64, matching filter: TopicFilter, bufferBytes: Int = EventTail.defaultBufferBytes) -> EventTail {
        EventTail(ledger: self, after: position, matching: filter, bufferBytes: bufferBytes)
    }
}
