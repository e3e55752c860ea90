import WeEvent

/// Applies a group's retention policy to its ledger, one pass at a time (the broker's retention
/// service calls `pass` every `ledger.retention.interval-ms`; tests call it directly).
///
/// - Age: for each age limit, the events of the topics it governs in blocks sealed before
///   `now - age` lose their content. Positions already passed are remembered, so a pass reads
///   only what became old since the last one (all of it again when the policy or the topics change).
/// - Bytes: walking back from the head, the prunable topics' events keep their content while
///   their content and extension bytes together stay within `maxBytes`; everything older goes.
///
/// Kept topics (a `keep` rule, and the broker's `$` topics no `$` rule names) are never pruned
/// and do not count against the byte budget. Passes on several instances of a shared store do
/// not conflict (an event is pruned once); each counts only what it pruned itself.
public final class Pruner: @unchecked Sendable {
    // @unchecked: one pass at a time (the retention service's loop, or a test).

    public let ledger: any LedgerPruning
    /// Per age limit: the position through which its topics were pruned.
    private var agedThrough: [Int64: UInt64] = [:]
    /// The topics of each limit when the positions above were reached.
    private var lastPartition: [RetentionPolicy.Treatment: [String]] = [:]
    /// The position through which the byte budget pruned.
    private var bytesThrough: UInt64 = 0
    /// Positions summed per step when walking back for the byte budget.
    static let bytesWindow: UInt64 = 65_536

    public init(ledger: any LedgerPruning) {
        self.ledger = ledger
    }

    /// What one pass did.
    public struct Report: Sendable, Equatable {
        public var byAge = PruneCount()
        public var byBytes = PruneCount()
        /// Bytes the store gave back to the file system (0 when it cannot tell).
        public var reclaimed: Int64 = 0

        public var total: PruneCount {
            var total = byAge
            total += byBytes
            return total
        }
    }

    /// One pass of `policy` at `now` (ms since 1970). A format 1 ledger prunes nothing.
    public func pass(_ policy: RetentionPolicy, now: Int64) async throws -> Report {
        var report = Report()
        guard ledger.format == .v2, !policy.keepsEverything else { return report }
        var partition = policy.partition(try await ledger.topicNames())
        for key in partition.keys { partition[key]?.sort() }
        if partition != lastPartition {
            agedThrough = [:]
            bytesThrough = 0
            lastPartition = partition
        }
        let head = try await ledger.chainInfo().eventCount
        for case (.pruned(let maxAge?), let topics) in partition {
            let (cutoff, overflow) = now.subtractingReportingOverflow(maxAge)
            guard !overflow else { continue }
            let through = try await ledger.lastPosition(before: cutoff)
            let from = agedThrough[maxAge] ?? 0
            guard through > from else { continue }
            report.byAge += try await ledger.prune(topics: topics, after: from, through: through, reason: .retention, at: now)
            agedThrough[maxAge] = through
        }
        if let maxBytes = policy.maxBytes {
            let prunable = partition.filter { if case .pruned = $0.key { true } else { false } }.flatMap(\.value).sorted()
            let cut = try await budgetCut(topics: prunable, head: head, maxBytes: maxBytes)
            if cut > bytesThrough {
                report.byBytes = try await ledger.prune(topics: prunable, after: bytesThrough, through: cut, reason: .retention, at: now)
                bytesThrough = cut
            }
        }
        if report.total.events > 0 { report.reclaimed = try await ledger.reclaimSpace() }
        return report
    }

    /// The highest position whose event must go for the events of `topics` after it to hold at
    /// most `maxBytes`; `bytesThrough` when they all fit.
    private func budgetCut(topics: [String], head: UInt64, maxBytes: UInt64) async throws -> UInt64 {
        var kept: UInt64 = 0
        var upper = head
        while upper > bytesThrough {
            let lower = max(bytesThrough, upper > Self.bytesWindow ? upper - Self.bytesWindow : 0)
            let window = try await ledger.retainedBytes(topics: topics, after: lower, through: upper)
            if kept + window <= maxBytes {
                kept += window
                upper = lower
                continue
            }
            // The budget runs out in this window: keep its newest events while they fit.
            var sizes: [(position: UInt64, bytes: UInt64)] = []
            var from = lower
            while true {
                let page = try await ledger.retainedSizes(topics: topics, after: from, through: upper, limit: 10_000)
                sizes += page
                guard page.count == 10_000, let last = page.last else { break }
                from = last.position
            }
            for entry in sizes.reversed() {
                if kept + entry.bytes > maxBytes { return entry.position }
                kept += entry.bytes
            }
            return lower
        }
        return bytesThrough
    }
}
