import Ledger
import Logging
import MQTT
import NIOCore
import Synchronization
import WeEvent

/// Ledger → devices for one outbound binding: the topic's events, in ledger order from the
/// binding's checkpoint on, are published to its MQTT topic at its QoS. The checkpoint moves
/// only after the broker acknowledged every event up to it (at QoS 0: after they were written),
/// so a restart or a new leader resumes where the last acknowledged batch ended: at least once.
/// The checkpoint counts in one ledger: a new leader whose ledger is another one (embedded
/// ledgers, one per instance) publishes its own events of the topic since the binding was made.
///
/// An event that came in over MQTT from this binding's MQTT topic is not sent back to it, and an
/// event that expired (its `weevent-expiry`, or the binding's TTL after its block time) is not
/// sent at all: it is counted (`expired` in mqtt_list_topic) and passed like a sent one.
struct OutboundBridge: Sendable {
    let client: any MQTTPublishing
    let ledger: any LedgerReading
    let binding: Binding
    let store: any BindingStore
    let status: BridgeStatusBoard
    let logger: Logger

    // Publishing and acknowledging run side by side: the next commit's events go out while
    // the previous ones wait for their PUBACK/PUBCOMP, up to `windowsInFlight` commits; the
    // checkpoint moves in order, after a commit's last acknowledgement. It is written when no
    // later commit is out (the bridge caught up) or `checkpointInterval` after the last write,
    // not once per commit: each write is a ZooKeeper update or an fsynced file, and commits
    // come in thousands per second under load.
    func run() async throws {
        let filter = try TopicFilter.parse(binding.topic)
        let from = try await startPosition()
        let tail = ledger.tail(after: from, matching: filter)
        defer { tail.close() }
        logger.info(
            "outbound bridge started",
            metadata: [
                "topic": "\(binding.topic)", "mqttTopic": "\(binding.mqttTopic)", "from": "\(from)",
            ])
        let (windows, windowSink) = AsyncThrowingStream.makeStream(of: Window.self)
        let (credits, creditSink) = AsyncStream.makeStream(of: Void.self)
        let outstanding = WindowCount()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await publish(tail, into: windowSink, credits: credits, outstanding: outstanding)
                    windowSink.finish()
                } catch {
                    windowSink.finish(throwing: error)
                    throw error
                }
            }
            group.addTask {
                defer { creditSink.finish() }
                try await acknowledge(windows, credits: creditSink, outstanding: outstanding)
            }
            try await group.waitForAllOrFirstFailure()
        }
    }

    /// The binding's checkpoint, or where this ledger was when the binding was made if the
    /// checkpoint counts in another ledger.
    private func startPosition() async throws -> UInt64 {
        guard let owner = binding.checkpointLedger, owner != ledger.ledgerID else { return binding.checkpoint }
        // Taken over from a leader with another ledger: its checkpoint means nothing here.
        let from = try await ledger.lastPosition(before: binding.createdAt)
        logger.notice(
            "outbound binding taken over from another ledger; publishing this ledger's events since the binding was made",
            metadata: [
                "topic": "\(binding.topic)", "from": "\(from)",
            ])
        return from
    }

    /// Hands each commit's events to the client as one window, at most `windowsInFlight`
    /// unacknowledged windows at a time (a credit comes back per acknowledged window).
    private func publish(
        _ tail: EventTail, into windowSink: AsyncThrowingStream<Window, any Error>.Continuation,
        credits: AsyncStream<Void>, outstanding: WindowCount
    ) async throws {
        let qos = MQTTQoS(rawValue: UInt8(binding.qos)) ?? .exactlyOnce
        var credit = credits.makeAsyncIterator()
        var inFlight = 0
        while let events = try await tail.next() {
            guard let last = events.last else { continue }
            if inFlight == windowsInFlight {
                guard await credit.next() != nil else { break }
                inFlight -= 1
            }
            var acks: [EventLoopFuture<Void>] = []
            acks.reserveCapacity(events.count)
            for item in events where item.event.extensions[MQTTBridge.mqttTopicExtension] != binding.mqttTopic {
                // The client does not send a message after its expiry, whether it is due already
                // or passes while the message waits for a connection or a place in flight; a
                // pruned event's content is gone, so it is due at once. `acknowledge` counts them.
                let notAfter = item.event.pruned != nil ? 0 : Expiry.of(item.event, ttl: binding.ttl)
                acks.append(
                    client.startPublish(to: binding.mqttTopic, payload: ByteBuffer(bytes: item.event.content), qos: qos, retain: false, notAfter: notAfter))
            }
            inFlight += 1
            outstanding.added()
            windowSink.yield(Window(last: last.position, acks: acks, started: .now))
        }
    }

    /// Waits for each window's acknowledgements in order, counts them, and moves the checkpoint
    /// (see `run`); what was acknowledged is written also when the bridge stops or fails.
    private func acknowledge(
        _ windows: AsyncThrowingStream<Window, any Error>, credits creditSink: AsyncStream<Void>.Continuation,
        outstanding: WindowCount
    ) async throws {
        var acknowledged: UInt64?
        var written: UInt64?
        var lastWrite = ContinuousClock.now
        func write() async throws {
            guard let position = acknowledged, position != written else { return }
            try await store.advanceCheckpoint(binding.key, to: position, in: ledger.ledgerID)
            written = position
            lastWrite = .now
        }
        do {
            for try await window in windows {
                var expiredUnsent: UInt64 = 0
                for ack in window.acks {
                    do {
                        try await ack.get()
                    } catch let error as MQTTClientError where error.kind == .expired {
                        expiredUnsent += 1
                    }
                }
                if expiredUnsent > 0 {
                    status.recordExpired(binding.key, count: expiredUnsent)
                    logger.info("expired commands not sent", metadata: ["topic": "\(binding.topic)", "count": "\(expiredUnsent)"])
                }
                let sent = UInt64(window.acks.count) - expiredUnsent
                if sent > 0 {
                    status.metrics?.outboundAck.record(ContinuousClock.now - window.started)
                    status.recordBridged(binding.key, count: sent)
                }
                acknowledged = window.last
                let caughtUp = outstanding.acknowledged() == 0
                if caughtUp || ContinuousClock.now - lastWrite >= checkpointInterval { try await write() }
                creditSink.yield()
            }
        } catch {
            try? await write()  // what was acknowledged need not be sent again
            throw error
        }
        try await write()
    }

    /// Commits whose events may wait for acknowledgements at once.
    var windowsInFlight = 16
    /// Longest time an acknowledged position waits for its checkpoint write while commits keep coming.
    var checkpointInterval: Duration = .milliseconds(100)

    /// One commit's events handed to the client, with the position to checkpoint once all are acknowledged.
    private struct Window: Sendable {
        let last: UInt64
        let acks: [EventLoopFuture<Void>]
        let started: ContinuousClock.Instant
    }
}

/// Windows handed to the acknowledging task and not yet acknowledged.
private final class WindowCount: Sendable {
    private let count = Mutex(0)

    func added() { count.withLock { $0 += 1 } }
    /// The windows still out after this one.
    func acknowledged() -> Int {
        count.withLock {
            $0 -= 1; return $0
        }
    }
}

/// Where outbound events go: the MQTT client, or a test's recorder. The future completes when
/// the broker acknowledged the message (PUBACK, PUBCOMP) or, at QoS 0, once it was written.
/// With `notAfter` (ms since 1970), a message still unsent then is not sent, and its future
/// fails with `MQTTClientError(.expired)`.
protocol MQTTPublishing: Sendable {
    func startPublish(to topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, notAfter: Int64?) -> EventLoopFuture<Void>
}

extension MQTTClient: MQTTPublishing {}
