import BrokerConfiguration
import Cluster
import Foundation
import Ledger
import Logging
import MQTT
import NIOCore
import ServiceLifecycle
import Synchronization
import WeEvent

/// The bindings as the running bridge sees them; replaced on every store change.
final class BindingSnapshot: Sendable {
    private let current = Mutex<[Binding]>([])

    func replace(_ bindings: [Binding]) { current.withLock { $0 = bindings } }
    func inbound() -> [Binding] { current.withLock { $0.filter { $0.direction == .inbound } } }
}

/// The MQTT bridge (DESIGN §6): while this instance leads, one MQTT connection with a fixed
/// client id and clean session off carries every binding; when leadership ends the
/// connection is closed at once and the next leader takes over from the durable state
/// (the MQTT broker's session, the ledger's QoS 2 receipts, the outbound checkpoints).
public final class MQTTBridge: Service {
    /// The extension an inbound event carries: the MQTT topic the message came from.
    public static let mqttTopicExtension = Validation.mqttTopicExtension

    let configuration: BrokerConfiguration.Configuration
    let ledgers: LedgerSet
    let store: any BindingStore
    let status: BridgeStatusBoard
    let rejected: RejectedMessageLog
    let leadership: any LeadershipSource
    let sharedStatus: ZooKeeperStatus?
    let logger: Logger
    /// Forgets QoS 2 receipts as the broker releases their packets, before PUBCOMP.
    let receipts: ReceiptRetirer
    /// Between attempts to reach the MQTT broker at the start of a term (as the client's own reconnects).
    static let connectBackoff = Backoff(initial: .milliseconds(100), maximum: .seconds(30))

    public init(
        configuration: BrokerConfiguration.Configuration, ledgers: LedgerSet, store: any BindingStore, status: BridgeStatusBoard,
        rejected: RejectedMessageLog, leadership: any LeadershipSource, sharedStatus: ZooKeeperStatus? = nil, logger: Logger
    ) {
        self.sharedStatus = sharedStatus
        self.configuration = configuration
        self.ledgers = ledgers
        self.store = store
        self.status = status
        self.rejected = rejected
        self.leadership = leadership
        var logger = logger
        logger[metadataKey: "component"] = "bridge"
        self.logger = logger
        receipts = ReceiptRetirer(ledgers: ledgers, session: configuration.mqtt.clientID, logger: logger)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.leadership.runTerms(changed: { leading in
                self.status.metrics?.leaderChanges.increment()
                if leading {
                    self.logger.info("leader: starting the bridge")
                } else {
                    self.logger.warning("leadership lost: stopping the bridge")
                }
            }) {
                await self.term()
            }
        }
        logger.info("bridge stopped")
    }

    /// One outbound binding's publisher; restarted from the stored checkpoint after a failure.
    private func startOutbound(_ binding: Binding, client: MQTTClient) -> Task<Void, Never> {
        Task {
            try? await Backoff().retrying(
                {
                    // The newest checkpoint: a restart after a failure must not go back further.
                    let current = try await store.bindings().first { $0.key == binding.key } ?? binding
                    let ledger = try ledgers.ledger(binding.groupId)
                    try await OutboundBridge(
                        client: client, ledger: ledger, binding: current, store: store, status: status, logger: logger
                    ).run()
                },
                failed: { error, failures, _ in
                    status.recordError(binding.key, "\(error)")
                    logger.error(
                        "outbound bridge failed; resuming from its checkpoint",
                        metadata: [
                            "topic": "\(binding.topic)", "error": "\(error)", "attempt": "\(failures)",
                        ])
                })
        }
    }

    func mqttConfiguration() throws -> MQTTConfiguration {
        let tls = MQTTTLSConfiguration(
            caFile: configuration.mqtt.caFile.nonEmpty,
            certificateFile: configuration.mqtt.certFile.nonEmpty,
            privateKeyFile: configuration.mqtt.keyFile.nonEmpty
        )
        var mqtt = try MQTTConfiguration(url: configuration.mqtt.brokerURL, clientID: configuration.mqtt.clientID, tls: tls)
        mqtt.cleanSession = false
        mqtt.keepAlive = TimeAmount(configuration.mqtt.keepAlive)
        mqtt.username = configuration.mqtt.user.nonEmpty
        mqtt.password = configuration.mqtt.password.nonEmpty
        mqtt.connectTimeout = TimeAmount(configuration.mqtt.timeout)
        // A payload above event.content.max-length can never be an event: such a message is not
        // read, only its topic and packet id (acknowledged and kept in the rejected log).
        mqtt.maxPacketSize = Self.maxPacketSize(contentMaxLength: configuration.events.contentMaxLength)
        // A QoS 2 receipt lives from the store to the broker's PUBREL: retired durably before
        // PUBCOMP, since the broker may reuse the packet id after it (ReceiptRetirer).
        let receipts = self.receipts
        mqtt.onInboundRelease = { packetID in await receipts.retire(packetID) }
        mqtt.onSessionLost = { await receipts.forgetSession() }
        return mqtt
    }

    /// The largest PUBLISH the bridge reads whole: the content limit, a topic of the longest
    /// length MQTT allows, a packet id and the fixed header.
    static func maxPacketSize(contentMaxLength: Int) -> Int {
        contentMaxLength + 2 + Int(UInt16.max) + 2 + 5
    }

    /// One leadership term: connect, subscribe, bridge until cancelled, disconnect.
    private func term() async {
        guard let client = await startClient() else { return }
        // Know the bindings before the broker hands over what it queued for this session.
        let snapshot = BindingSnapshot()
        await readBindings(into: snapshot)
        await connect(client)
        if !Task.isCancelled {
            await bridge(client, snapshot: snapshot)
        }
        await client.disconnect()
    }

    /// The term's MQTT client. A client that cannot be made (a TLS file missing or unreadable) is
    /// tried again with backoff while this instance leads, and every binding shows why nothing
    /// flows; nil only when the term ends first.
    private func startClient() async -> MQTTClient? {
        try? await Self.connectBackoff.retrying(
            {
                try MQTTClient(configuration: mqttConfiguration(), logger: logger)
            },
            failed: { error, _, pause in
                logger.critical("bridge cannot start; retrying", metadata: ["error": "\(error)", "retryIn": "\(pause)"])
                if let bindings = try? await store.bindings() {
                    for binding in bindings { status.recordError(binding.key, "bridge cannot start: \(error)") }
                }
            })
    }

    /// Reads the binding store until it answers or the term ends.
    private func readBindings(into snapshot: BindingSnapshot) async {
        try? await Backoff().retrying(
            {
                snapshot.replace(try await store.bindings())
            },
            failed: { error, _, _ in
                logger.error("cannot read the bindings; retrying", metadata: ["error": "\(error)"])
            })
    }

    /// Connects, with backoff, until connected or the term ends.
    private func connect(_ client: MQTTClient) async {
        let url = configuration.mqtt.brokerURL
        try? await Self.connectBackoff.retrying(
            {
                let sessionPresent = try await client.connect()
                logger.info("connected to the MQTT broker", metadata: ["url": "\(url)", "sessionPresent": "\(sessionPresent)"])
            },
            failed: { error, _, pause in
                logger.error(
                    "cannot connect to the MQTT broker; retrying",
                    metadata: [
                        "url": "\(url)", "error": "\(error)", "retryIn": "\(pause)",
                    ])
            })
    }

    /// Inbound, outbound (through `reconcile`), the shared status and connection logging side
    /// by side until the term is cancelled or one of them ends.
    private func bridge(_ client: MQTTClient, snapshot: BindingSnapshot) async {
        let inbound = InboundBridge(
            messages: client.messages, ledgers: ledgers, bindings: snapshot, status: status, rejected: rejected,
            contentMaxLength: configuration.events.contentMaxLength, extensionsMaxLength: configuration.events.extensionsMaxLength,
            session: configuration.mqtt.clientID, logger: logger
        )
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await inbound.run()
                } catch {
                    self.logger.error("inbound bridge stopped", metadata: ["error": "\(error)"])
                }
            }
            group.addTask { await self.reconcile(client: client, snapshot: snapshot) }
            if !configuration.mqtt.checkpointTopicPrefix.isEmpty, configuration.ledger.checkpointInterval > .zero {
                group.addTask {
                    await self.publishCheckpoints(client)
                    // Ends only when the term is cancelled; a `next()` must not see it end before.
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                }
            }
            if let sharedStatus {
                group.addTask { await sharedStatus.publishWhileLeading() }
            }
            group.addTask {
                for await state in client.connectionStates {
                    self.logger.info("MQTT connection", metadata: ["state": "\(state)"])
                    if case .disconnected = state { self.status.metrics?.reconnects.increment() }
                }
            }
            // Close the connection when the term is cancelled; the streams above then end.
            group.addTask {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                await client.disconnect()
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// What makes `reconcile` look at the bindings again.
    private enum Reconcile: Sendable {
        case changed([Binding])
        case retry
    }

    /// Between attempts to subscribe to filters the broker refused or did not answer.
    static let subscribeBackoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))

    /// Keeps subscriptions and outbound publishers in line with the binding store. A filter whose
    /// subscription fails is shown on its bindings and tried again with backoff; the other
    /// bindings go on meanwhile.
    private func reconcile(client: MQTTClient, snapshot: BindingSnapshot) async {
        let (events, sink) = AsyncStream.makeStream(of: Reconcile.self)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await bindings in self.store.changes() { sink.yield(.changed(bindings)) }
                sink.finish()
            }
            var subscriptions = Subscriptions()
            var outbound: [Binding.Key: (binding: Binding, task: Task<Void, Never>)] = [:]
            var latest: [Binding] = []
            var failures = 0
            var retry: Task<Void, Never>?
            for await event in events {
                if case .changed(let bindings) = event {
                    latest = bindings
                    snapshot.replace(bindings)
                    status.track(Set(bindings.map(\.key)))
                    await reconcileOutbound(bindings, workers: &outbound, client: client)
                }
                retry?.cancel()
                if await subscriptions.apply(latest, client: client, bridge: self) {
                    failures = 0
                } else {
                    failures += 1
                    let delay = Self.subscribeBackoff.delay(afterFailures: failures)
                    retry = Task {
                        try? await Task.sleep(for: delay)
                        if !Task.isCancelled { sink.yield(.retry) }
                    }
                }
            }
            retry?.cancel()
            for (_, worker) in outbound { worker.task.cancel() }
            group.cancelAll()
        }
    }

    /// Stops the outbound publishers whose binding went or changed, starts those of new bindings.
    private func reconcileOutbound(
        _ bindings: [Binding], workers outbound: inout [Binding.Key: (binding: Binding, task: Task<Void, Never>)], client: MQTTClient
    ) async {
        let wanted = Dictionary(bindings.filter { $0.direction == .outbound }.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        for (key, worker) in outbound where !(wanted[key].map { $0.sameSettings(as: worker.binding) } ?? false) {
            worker.task.cancel()
            await worker.task.value
            outbound[key] = nil
            logger.info("outbound bridge stopped", metadata: ["topic": "\(key.topic)", "group": "\(key.groupId)"])
        }
        for (key, binding) in wanted where outbound[key] == nil {
            outbound[key] = (binding, startOutbound(binding, client: client))
        }
    }

    /// The filters the bridge holds at the MQTT broker, and how to bring them in line.
    private struct Subscriptions {
        var subscribed: [String: MQTTQoS] = [:]

        /// Subscribes to what the inbound bindings want and unsubscribes from what none wants;
        /// false when something failed (shown on the bindings concerned).
        mutating func apply(_ bindings: [Binding], client: MQTTClient, bridge: MQTTBridge) async -> Bool {
            var wanted: [String: MQTTQoS] = [:]
            for binding in bindings where binding.direction == .inbound {
                let qos = MQTTQoS(rawValue: UInt8(binding.qos)) ?? .exactlyOnce
                wanted[binding.mqttTopic] = max(wanted[binding.mqttTopic] ?? .atMostOnce, qos)
            }
            let toSubscribe = wanted.filter { subscribed[$0.key] != $0.value }
                .map { MQTTSubscription(topicFilter: $0.key, qos: $0.value) }
                .sorted { $0.topicFilter < $1.topicFilter }
            let toUnsubscribe = subscribed.keys.filter { wanted[$0] == nil }.sorted()
            var failed: [String: String] = [:]
            if !toSubscribe.isEmpty {
                do {
                    _ = try await client.subscribe(to: toSubscribe)
                    for s in toSubscribe { subscribed[s.topicFilter] = s.qos }
                    bridge.logger.info("subscribed", metadata: ["filters": "\(toSubscribe.map(\.topicFilter))"])
                } catch let error as MQTTSubscribeError {
                    // The others of the request were granted.
                    for s in toSubscribe where !error.refusedFilters.contains(s.topicFilter) { subscribed[s.topicFilter] = s.qos }
                    for filter in error.refusedFilters { failed[filter] = "subscribe: refused by the MQTT broker (SUBACK 0x80)" }
                } catch {
                    for s in toSubscribe { failed[s.topicFilter] = "subscribe: \(error)" }
                }
            }
            if !toUnsubscribe.isEmpty {
                do {
                    try await client.unsubscribe(from: toUnsubscribe)
                    for f in toUnsubscribe { subscribed[f] = nil }
                    bridge.logger.info("unsubscribed", metadata: ["filters": "\(toUnsubscribe)"])
                } catch {
                    // No binding shows this one: the log does, and the next round tries again.
                    bridge.logger.error("unsubscribing failed; retrying", metadata: ["filters": "\(toUnsubscribe)", "error": "\(error)"])
                    failed[toUnsubscribe[0]] = "unsubscribe: \(error)"
                }
            }
            for binding in bindings where binding.direction == .inbound {
                bridge.status.recordLive(binding.key, filter: subscribed[binding.mqttTopic] != nil ? binding.mqttTopic : nil)
            }
            guard !failed.isEmpty else { return true }
            bridge.logger.error("subscribing failed; retrying with backoff", metadata: ["failed": "\(failed)"])
            for binding in bindings where binding.direction == .inbound {
                if let reason = failed[binding.mqttTopic] { bridge.status.recordError(binding.key, reason) }
            }
            return false
        }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
