import Ledger
import Logging
import MQTT
import NIOCore
import WeEvent

/// Ledger → devices for one outbound binding: the topic's events, in ledger order from the
/// binding's checkpoint on, are published to its MQTT topic at its QoS. The checkpoint moves
/// only after the broker acknowledged every event up to it (at QoS 0: after they were written),
/// so a restart or a new leader resumes where the last acknowledged batch ended: at least once.
/// The checkpoint counts in one ledger: a new leader whose ledger is another one (embedded
/// ledgers, one per instance) publishes its own events of the topic since the binding was made.
///
/// An event that came in over MQTT from this binding's MQTT topic is not sent back to it.
struct OutboundBridge: Sendable {
    let client: MQTTClient
    let ledger: any EventLedger
    let binding: Binding
    let store: any BindingStore
    let status: BridgeStatusBoard
    let logger: Logger

    func run() async throws {
        let filter = try TopicFilter.parse(binding.topic)
        let qos = MQTTQoS(rawValue: UInt8(binding.qos)) ?? .exactlyOnce
        var from = binding.checkpoint
        if let owner = binding.checkpointLedger, owner != ledger.ledgerID {
            // Taken over from a leader with another ledger: its checkpoint means nothing here.
            from = try await ledger.lastPosition(before: binding.createdAt)
            logger.notice("outbound binding taken over from another ledger; publishing this ledger's events since the binding was made", metadata: [
                "topic": "\(binding.topic)", "from": "\(from)",
            ])
        }
        let tail = ledger.tail(after: from, matching: filter)
        defer { tail.close() }
        logger.info("outbound bridge started", metadata: [
            "topic": "\(binding.topic)", "mqttTopic": "\(binding.mqttTopic)", "from": "\(from)",
        ])
        // Publishing and acknowledging run side by side: the next commit's events go out while
        // the previous ones wait for their PUBACK/PUBCOMP, up to `windowsInFlight` commits; the
        // checkpoint still moves in order, after each commit's last acknowledgement.
        let (windows, windowSink) = AsyncThrowingStream.makeStream(of: Window.self)
        let (credits, creditSink) = AsyncStream.makeStream(of: Void.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
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
                            acks.append(client.startPublish(to: binding.mqttTopic, payload: ByteBuffer(bytes: item.event.content), qos: qos))
                        }
                        inFlight += 1
                        windowSink.yield(Window(last: last.position, acks: acks, started: .now))
                    }
                    windowSink.finish()
                } catch {
                    windowSink.finish(throwing: error)
                    throw error
                }
            }
            group.addTask {
                defer { creditSink.finish() }
                for try await window in windows {
                    for ack in window.acks { try await ack.get() }
                    if !window.acks.isEmpty {
                        status.metrics?.outboundAck.record(ContinuousClock.now - window.started)
                        status.recordBridged(binding.key, count: UInt64(window.acks.count))
                    }
                    try await store.advanceCheckpoint(binding.key, to: window.last, in: ledger.ledgerID)
                    creditSink.yield()
                }
            }
            try await group.waitForAll()
        }
    }

    /// Commits whose events may wait for acknowledgements at once.
    var windowsInFlight = 16

    /// One commit's events handed to the client, with the position to checkpoint once all are acknowledged.
    private struct Window: Sendable {
        let last: UInt64
        let acks: [EventLoopFuture<Void>]
        let started: ContinuousClock.Instant
    }
}
