import WeEvent

/// Removing the content of events (retention and erasure) while every proof keeps holding: a
/// pruned event keeps its id, position, block time, hash and reserved extensions. Only format 2
/// ledgers prune (their event hash covers SHA-256 of the content, not the content).
public protocol LedgerPruning: LedgerReading {
    /// The hashing rules of the ledger (docs/ledger.md).
    var format: LedgerFormat { get }
    /// Every topic of the group, open or closed.
    func topicNames() async throws -> [String]
    /// Prunes the events of `topics` in positions `(after, through]` that still hold their
    /// content, a page (one durable transaction) at a time.
    func prune(topics: [String], after: UInt64, through: UInt64, reason: Pruning.Reason, at time: Int64) async throws -> PruneCount
    /// Content and extension bytes the events of `topics` in `(after, through]` still hold.
    func retainedBytes(topics: [String], after: UInt64, through: UInt64) async throws -> UInt64
    /// Positions and bytes of the events of `topics` in `(after, through]` still holding content, in order, at most `limit`.
    func retainedSizes(topics: [String], after: UInt64, through: UInt64, limit: Int) async throws -> [(position: UInt64, bytes: UInt64)]
    /// Erases one event's content now; the event as it is then. 100303/100304 as `event(id:)`;
    /// 100314 for a format 1 ledger; an event already pruned is answered as it is.
    func erase(id: EventID, at time: Int64) async throws -> Event
    /// Lets the store give back the space pruning freed (bytes given back, when it knows).
    func reclaimSpace() async throws -> Int64
}

/// What one pruning pass removed.
public struct PruneCount: Sendable, Equatable {
    public var events: UInt64 = 0
    public var bytes: UInt64 = 0

    public init(events: UInt64 = 0, bytes: UInt64 = 0) {
        self.events = events
        self.bytes = bytes
    }

    public static func += (lhs: inout PruneCount, rhs: PruneCount) {
        lhs.events += rhs.events
        lhs.bytes += rhs.bytes
    }
}

extension GroupLedger {
    /// Events pruned per transaction: short enough not to hold up the write loop for long.
    static let prunePage = 500

    public func topicNames() async throws -> [String] {
        try await driver.topicNames()
    }

    public func prune(topics: [String], after: UInt64, through: UInt64, reason: Pruning.Reason, at time: Int64) async throws -> PruneCount {
        guard format == .v2 else { throw WeEventError(.contentNotPrunable, detail: "group \(groupID) is a format 1 ledger") }
        // A stored time of 0 means "not pruned".
        let time = max(time, 1)
        var count = PruneCount()
        var from = after
        while from < through, !topics.isEmpty {
            let page = try await driver.prunable(after: from, through: through, topics: topics, limit: Self.prunePage)
            guard let last = page.last else { break }
            let changed = try await driver.prune(
                page.map { PruneChange(position: $0.position, extensions: Pruning.keptExtensions($0.extensions), time: time, reason: reason) })
            count.events += UInt64(changed)
            // Bytes as read; an event someone else pruned meanwhile is counted by them, not here.
            if changed == page.count { count.bytes += page.reduce(0) { $0 + $1.bytes } }
            if page.count < Self.prunePage { break }
            from = last.position
        }
        return count
    }

    public func retainedBytes(topics: [String], after: UInt64, through: UInt64) async throws -> UInt64 {
        try await driver.retainedBytes(after: after, through: through, topics: topics)
    }

    public func retainedSizes(topics: [String], after: UInt64, through: UInt64, limit: Int) async throws -> [(position: UInt64, bytes: UInt64)] {
        try await driver.prunable(after: after, through: through, topics: topics, limit: limit).map { ($0.position, $0.bytes) }
    }

    public func erase(id: EventID, at time: Int64) async throws -> Event {
        let located = try await driver.locate(id)
        if located.event.pruned != nil {
            // Its content is gone from the row already; the store's copies go now if an earlier
            // erasure could not remove them.
            try await driver.scrub()
            return located.event
        }
        guard format == .v2 else { throw WeEventError(.contentNotPrunable, detail: "group \(groupID) is a format 1 ledger") }
        _ = try await driver.prune([
            PruneChange(position: located.position, extensions: Pruning.keptExtensions(located.event.extensions), time: max(time, 1), reason: .erased)
        ])
        try await driver.scrub()
        return try await driver.locate(id).event
    }

    public func reclaimSpace() async throws -> Int64 {
        try await driver.reclaimSpace()
    }
}
