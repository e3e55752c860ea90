import BrokerConfiguration
import CoreMetrics
import Foundation
import Ledger
import Logging
import ServiceLifecycle
import Synchronization
import WeEvent

/// Runs every group's pruner while the broker runs (docs/ledger.md "Retention"): every
/// `ledger.retention.interval-ms`, the group's policy (the configured one, changed by what
/// admin/setRetention stored on the group's `$weevent/retention`) is applied by a `Pruner`.
///
/// Every instance of a cluster runs one; their passes do not conflict (an event is pruned
/// once). Failures are logged and counted (`weevent_retention_failures_total`), and the next
/// pass tries again. Counted per group: `weevent_retention_pruned_events_total{reason}`,
/// `weevent_retention_pruned_bytes_total`, `weevent_retention_pass_seconds`.
public final class RetentionService: Service, Sendable {
    /// What admin/getRetention reports about a group's passes on this instance.
    struct GroupStatus: Sendable {
        var lastPass: Int64?
        var lastPassMilliseconds: Int64?
        var lastPruned = PruneCount()
        var prunedSinceStart = PruneCount()
        var lastError: String?
    }

    let ledgers: LedgerSet
    /// `ledger.retention.max-age` / `max-bytes`.
    let configured: RetentionPolicy
    let interval: Duration
    let logger: Logger
    let metrics: (any MetricsFactory)?
    private let statuses = Mutex<[String: GroupStatus]>([:])

    init(
        ledgers: LedgerSet, configured: RetentionPolicy, interval: Duration, metrics: (any MetricsFactory)?, logger: Logger = Logger(label: "weevent.retention")
    ) {
        self.ledgers = ledgers
        self.configured = configured
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for groupID in self.ledgers.groups {
                    guard let ledger = self.ledgers.ledgers[groupID] else { continue }
                    group.addTask { await self.follow(groupID, ledger) }
                }
            }
        }
        // A service that returns before shutdown ends the broker: with no group to prune (format
        // 1 ledgers only), this one still waits for it.
        try? await gracefulShutdown()
    }

    private func follow(_ groupID: String, _ ledger: any EventLedger) async {
        var logger = self.logger
        logger[metadataKey: "group"] = "\(groupID)"
        if ledger.format == .v1 {
            logger.notice("group is a format 1 ledger: its content is kept whatever the retention (copy it to a new ledger to prune)")
            return
        }
        let pruner = Pruner(ledger: ledger)
        var lastError: String?
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { break }
            do {
                try await pass(groupID, ledger, pruner, logger: logger)
                if lastError != nil { logger.notice("retention passes work again") }
                lastError = nil
            } catch {
                let problem = "\(error)"
                if problem != lastError { logger.warning("retention pass failed; trying again next interval", metadata: ["error": "\(problem)"]) }
                lastError = problem
                statuses.withLock { $0[groupID, default: GroupStatus()].lastError = problem }
                if let metrics { Counter(label: "weevent_retention_failures_total", dimensions: [("group", groupID)], factory: metrics).increment() }
            }
        }
    }

    private func pass(_ groupID: String, _ ledger: any EventLedger, _ pruner: Pruner, logger: Logger) async throws {
        let policy = try await Self.policy(of: ledger, configured: configured).policy
        let started = ContinuousClock.now
        let report = try await pruner.pass(policy, now: Expiry.now())
        let elapsed = ContinuousClock.now - started
        let milliseconds = Int64(elapsed.wholeMilliseconds)
        let total = report.total
        statuses.withLock { statuses in
            var status = statuses[groupID, default: GroupStatus()]
            status.lastPass = Expiry.now()
            status.lastPassMilliseconds = milliseconds
            status.lastPruned = total
            status.prunedSinceStart += total
            status.lastError = nil
            statuses[groupID] = status
        }
        if let metrics {
            Counter(label: "weevent_retention_pruned_events_total", dimensions: [("group", groupID), ("reason", "retention")], factory: metrics)
                .increment(by: Int64(clamping: total.events))
            Counter(label: "weevent_retention_pruned_bytes_total", dimensions: [("group", groupID)], factory: metrics).increment(
                by: Int64(clamping: total.bytes))
            Gauge(label: "weevent_retention_pass_seconds", dimensions: [("group", groupID)], factory: metrics).record(elapsed / .seconds(1))
        }
        if total.events > 0 {
            logger.info(
                "retention pass pruned events",
                metadata: [
                    "byAge": "\(report.byAge.events)", "byBytes": "\(report.byBytes.events)", "bytes": "\(total.bytes)",
                    "reclaimed": "\(report.reclaimed)", "ms": "\(milliseconds)",
                ])
        }
    }

    /// Counts an erasure (admin/eraseEvent) with the group's pruned events.
    func countErasure(group: String) {
        if let metrics {
            Counter(label: "weevent_retention_pruned_events_total", dimensions: [("group", group), ("reason", "erased")], factory: metrics).increment()
        }
    }

    func status(of group: String) -> GroupStatus {
        statuses.withLock { $0[group] ?? GroupStatus() }
    }

    /// The group's policy: the configured one changed by the settings stored on its
    /// `$weevent/retention` (the latest event there), with those settings.
    static func policy(of ledger: any EventLedger, configured: RetentionPolicy) async throws -> (policy: RetentionPolicy, settings: RetentionSettings?) {
        guard let settings = try await storedSettings(of: ledger) else { return (configured, nil) }
        return (settings.applied(to: configured), settings)
    }

    static func storedSettings(of ledger: any EventLedger) async throws -> RetentionSettings? {
        guard try await ledger.exists(topic: RetentionSettings.topic) else { return nil }
        let state = try await ledger.state(topic: RetentionSettings.topic)
        guard state.sequenceNumber > 0 else { return nil }
        let event = try await ledger.event(id: EventID(topic: RetentionSettings.topic, sequence: state.sequenceNumber, blockHeight: state.blockNumber))
        return try JSONDecoder().decode(RetentionSettings.self, from: Data(event.content))
    }
}
