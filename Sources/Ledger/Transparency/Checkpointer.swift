import Logging
import ServiceLifecycle
import WeEvent

/// Signs every group's checkpoints while the broker runs (`ledger.checkpoint.interval-ms`): a
/// group whose tree grew past its latest checkpoint gets a new one as soon as this instance
/// learns of the commit (it looks every 50 ms at most), and then at most once per interval, so
/// while events come a checkpoint covers each of them within one interval.
///
/// Every instance of a cluster runs one; the store's checkpoint lock keeps their checkpoints in
/// one consistent sequence. A refusal (the tree no longer extends the last signed checkpoint)
/// is logged as an error, and the group gets no checkpoint until the store is repaired.
public struct Checkpointer: Service {
    let ledgers: LedgerSet
    let key: CheckpointKey
    let interval: Duration
    let logger: Logger
    /// Called after each checkpoint this instance stored (the MQTT bridge publishes them).
    let signed: @Sendable (String, StoredCheckpoint) -> Void

    public init(
        ledgers: LedgerSet, key: CheckpointKey, interval: Duration, logger: Logger,
        signed: @escaping @Sendable (String, StoredCheckpoint) -> Void = { _, _ in }
    ) {
        self.ledgers = ledgers
        self.key = key
        self.interval = interval
        self.logger = logger
        self.signed = signed
    }

    public func run() async throws {
        guard interval > .zero else { return }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for (groupID, ledger) in ledgers.ledgers {
                    group.addTask { await follow(groupID, ledger) }
                }
            }
        }
    }

    private func follow(_ groupID: String, _ ledger: any EventLedger) async {
        let signer = key.signer(group: groupID)
        var logger = self.logger
        logger[metadataKey: "group"] = "\(groupID)"
        let tick = min(interval, .milliseconds(50))
        var covered: UInt64?
        var lastProblem: String?
        var next = ContinuousClock.now
        while !Task.isCancelled {
            if ContinuousClock.now >= next, covered.map({ ledger.commits.head > $0 }) ?? true {
                next = ContinuousClock.now + interval
                do {
                    if let stored = try await ledger.signCheckpoint(with: signer) {
                        covered = stored.size
                        signed(groupID, stored)
                        logger.debug("checkpoint signed", metadata: ["size": "\(stored.size)"])
                    } else {
                        covered = try await ledger.checkpoint(size: nil)?.size ?? covered
                    }
                    if lastProblem != nil { logger.notice("checkpoints signed again") }
                    lastProblem = nil
                } catch {
                    let problem = "\(error)"
                    if problem != lastProblem {
                        if error is CheckpointRefusal {
                            logger.error("checkpoint refused: not signing", metadata: ["reason": "\(problem)"])
                        } else {
                            logger.warning("checkpoint not signed, retrying", metadata: ["error": "\(problem)"])
                        }
                    }
                    lastProblem = problem
                }
            }
            try? await Task.sleep(for: tick)
        }
    }
}
