import Cluster
import Ledger
import Logging
import WeEvent

/// Retires QoS 2 receipts when the MQTT broker releases their packets (PUBREL), durably and
/// before the client sends PUBCOMP (`MQTTConfiguration.onInboundRelease`).
///
/// Why: after PUBCOMP the broker may give the packet id to a new message. A receipt that outlived
/// its release would make a redelivered (DUP) new message with the same id, topic and payload (a
/// sensor repeating its reading) look stored when it was not, and it would be dropped. Retired
/// at release, a receipt exists exactly while its packet id names the stored message, so a
/// redelivery that finds one is a duplicate, and one that finds none is stored.
///
/// Releases that arrive while a retirement is being written go together in the next one (one
/// durable write per round, like the ledger's group commit).
actor ReceiptRetirer {
    private let ledgers: LedgerSet
    private let session: String
    private let logger: Logger
    private var pending: [UInt16] = []
    private var waiting: [CheckedContinuation<Bool, Never>] = []
    private var writing = false

    init(ledgers: LedgerSet, session: String, logger: Logger) {
        self.ledgers = ledgers
        self.session = session
        self.logger = logger
    }

    /// True once the receipt of `packetID` is gone from every ledger of this instance; false
    /// when that could not be written (the broker then sends PUBREL again after a reconnect).
    func retire(_ packetID: UInt16) async -> Bool {
        await withCheckedContinuation { continuation in
            pending.append(packetID)
            waiting.append(continuation)
            if !writing {
                writing = true
                Task { await writeRounds() }
            }
        }
    }

    /// The broker has no session for the bridge (the first connection, or one after the broker
    /// lost its state): every receipt of the session goes, before anything is subscribed, since
    /// no packet of the old session can come again and its ids will be given anew.
    func forgetSession() async -> Bool {
        do {
            for group in ledgers.groups { try await ledgers.ledger(group).retireAll(session: session) }
            logger.info("the MQTT broker has no session for the bridge: its QoS 2 receipts are forgotten")
            return true
        } catch {
            logger.error("forgetting the QoS 2 receipts of a lost session failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func writeRounds() async {
        while !pending.isEmpty {
            let receipts = pending.map { InboundReceipt(session: session, packetID: $0) }
            let waiters = waiting
            pending = []
            waiting = []
            let done = await write(receipts)
            for waiter in waiters { waiter.resume(returning: done) }
        }
        writing = false
    }

    /// A few attempts with backoff: a ledger briefly unreachable (PostgreSQL failing over) should
    /// not make the broker wait for a reconnect; a store that stays down does.
    private func write(_ receipts: [InboundReceipt]) async -> Bool {
        do {
            try await Backoff(initial: .milliseconds(100)).retrying(
                {
                    for group in ledgers.groups { try await ledgers.ledger(group).retire(receipts) }
                },
                failed: { error, failures, _ in
                    if case LedgerError.shuttingDown = error { throw error }
                    logger.error("retiring QoS 2 receipts failed", metadata: ["error": "\(error)", "attempt": "\(failures)"])
                    if failures >= 5 { throw error }
                })
            return true
        } catch {
            return false
        }
    }
}
