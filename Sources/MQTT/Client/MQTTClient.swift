import Logging
import NIOCore
import NIOPosix
import Synchronization

/// An MQTT 3.1.1 client.
///
/// ```swift
/// let client = try MQTTClient(configuration: .init(url: "tcp://127.0.0.1:1883", clientID: "bridge"))
/// try await client.connect()
/// try await client.subscribe(to: [MQTTSubscription(topicFilter: "sensors/+", qos: .exactlyOnce)])
/// for await message in client.messages {
///     try await store(message)
///     message.ack()
/// }
/// ```
///
/// All state lives on one event loop of `eventLoopGroup`; every method may be called from any task.
/// After the first successful `connect()`, a lost connection is re-established by the reconnect
/// supervisor (`MQTTConfiguration.reconnect`) until `disconnect()` is called.
public final class MQTTClient: Sendable {
    public let configuration: MQTTConfiguration
    public let eventLoop: any EventLoop
    private let core: NIOLoopBoundBox<MQTTClientCore>
    /// Inbound messages, in order of arrival. One consumer. Ends when the client is closed.
    /// Bounded: a consumer that falls behind by `inboundHighWatermark` messages stops the client
    /// reading from the socket until it catches up, so memory stays bounded whatever the broker sends.
    public let messages: MQTTMessageSequence
    /// Connection state changes. One consumer; keeps the newest 64 when nobody reads. Ends after `.closed`.
    public let connectionStates: AsyncStream<MQTTConnectionState>

    /// - Parameter session: a session saved from `sessionState()`, to continue it.
    public init(
        configuration: MQTTConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        session: MQTTSessionState? = nil,
        logger: Logger = Logger(label: "weevent.mqtt")
    ) throws {
        guard !configuration.clientID.isEmpty || configuration.cleanSession else {
            throw MQTTClientError(.invalidConfiguration, "an empty client id needs clean session on")
        }
        if let will = configuration.will, !MQTTTopic.isValidName(will.topic) {
            throw MQTTClientError(.invalidTopic, "will topic '\(will.topic)'")
        }
        self.configuration = configuration
        let eventLoop = eventLoopGroup.next()
        self.eventLoop = eventLoop
        let demand = MQTTInboundDemand()
        let produced = NIOAsyncSequenceProducer.makeSequence(
            elementType: MQTTMessage.self,
            backPressureStrategy: NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark(
                lowWatermark: max(0, configuration.inboundLowWatermark),
                highWatermark: max(1, configuration.inboundHighWatermark, configuration.inboundLowWatermark + 1)
            ),
            finishOnDeinit: true,
            delegate: demand
        )
        let (states, stateContinuation) = AsyncStream.makeStream(of: MQTTConnectionState.self, bufferingPolicy: .bufferingNewest(64))
        self.messages = MQTTMessageSequence(base: produced.sequence)
        self.connectionStates = states
        let core = try MQTTClientCore(
            configuration: configuration, eventLoop: eventLoop, session: session, logger: logger,
            messages: produced.source, states: stateContinuation
        )
        let box = NIOLoopBoundBox.makeBoxSendingValue(core, eventLoop: eventLoop)
        self.core = box
        demand.attach(box, eventLoop: eventLoop)
        let acknowledger = MQTTAcknowledger(core: box, eventLoop: eventLoop)
        eventLoop.execute { box.value.acknowledger = acknowledger }
    }

    /// Connects and returns whether the broker had a session for this client id.
    /// Throws `MQTTConnectError` when the broker refuses, or the network error; does not retry.
    @discardableResult
    public func connect() async throws -> Bool {
        let promise = eventLoop.makePromise(of: Bool.self)
        let core = self.core
        eventLoop.execute { core.value.connect(promise: promise) }
        return try await promise.futureResult.get()
    }

    /// Publishes and returns when the broker has acknowledged: when written at QoS 0, on PUBACK at
    /// QoS 1, on PUBCOMP at QoS 2. A QoS 1/2 message survives reconnects (resent with DUP) and
    /// fails only when the client is closed.
    public func publish(to topic: String, payload: ByteBuffer, qos: MQTTQoS = .atLeastOnce, retain: Bool = false) async throws {
        guard MQTTTopic.isValidName(topic) else {
            throw MQTTClientError(.invalidTopic, "'\(topic)' (empty, wildcard or NUL)")
        }
        let promise = eventLoop.makePromise(of: Void.self)
        let packet = PublishPacket(topic: topic, payload: payload, qos: qos, retain: retain)
        let core = self.core
        eventLoop.execute { core.value.publish(packet, promise: promise) }
        try await promise.futureResult.get()
    }

    /// Queues a publish without waiting: publishes queued from one task go out in call order.
    /// The future completes as `publish(to:payload:qos:retain:)` returns. With `notAfter`
    /// (milliseconds since 1970), a message not yet on the wire by then is never sent and its
    /// future fails with `.expired`; one sent before is resent after a reconnect as any other.
    public func startPublish(
        to topic: String, payload: ByteBuffer, qos: MQTTQoS = .atLeastOnce, retain: Bool = false, notAfter: Int64? = nil
    ) -> EventLoopFuture<Void> {
        guard MQTTTopic.isValidName(topic) else {
            return eventLoop.makeFailedFuture(MQTTClientError(.invalidTopic, "'\(topic)' (empty, wildcard or NUL)"))
        }
        let promise = eventLoop.makePromise(of: Void.self)
        let packet = PublishPacket(topic: topic, payload: payload, qos: qos, retain: retain)
        let core = self.core
        if eventLoop.inEventLoop {
            core.value.publish(packet, notAfter: notAfter, promise: promise)
        } else {
            eventLoop.execute { core.value.publish(packet, notAfter: notAfter, promise: promise) }
        }
        return promise.futureResult
    }

    public func publish(to topic: String, payload: String, qos: MQTTQoS = .atLeastOnce, retain: Bool = false) async throws {
        try await publish(to: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain)
    }

    /// Subscribes and returns the granted QoS of each filter. Throws `MQTTSubscribeError` naming
    /// the filters the broker refused. Subscriptions are restored after a reconnect to a broker that lost the session.
    @discardableResult
    public func subscribe(to subscriptions: [MQTTSubscription]) async throws -> [MQTTQoS] {
        guard !subscriptions.isEmpty else { return [] }
        for s in subscriptions where !MQTTTopic.isValidFilter(s.topicFilter) {
            throw MQTTClientError(.invalidTopic, "filter '\(s.topicFilter)'")
        }
        let promise = eventLoop.makePromise(of: [MQTTSubackReturnCode].self)
        let core = self.core
        eventLoop.execute { core.value.subscribe(subscriptions, promise: promise) }
        let codes = try await promise.futureResult.get()
        let refused = zip(subscriptions, codes).filter { $0.1 == .failure }.map(\.0.topicFilter)
        guard refused.isEmpty else { throw MQTTSubscribeError(refusedFilters: refused) }
        return codes.compactMap(\.grantedQoS)
    }

    public func unsubscribe(from filters: [String]) async throws {
        guard !filters.isEmpty else { return }
        for f in filters where !MQTTTopic.isValidFilter(f) {
            throw MQTTClientError(.invalidTopic, "filter '\(f)'")
        }
        let promise = eventLoop.makePromise(of: Void.self)
        let core = self.core
        eventLoop.execute { core.value.unsubscribe(filters, promise: promise) }
        try await promise.futureResult.get()
    }

    /// The in-flight state now, to persist for a later `init(configuration:session:)`.
    public func sessionState() async throws -> MQTTSessionState {
        let core = self.core
        return try await eventLoop.submit { core.value.sessionState() }.get()
    }

    /// Sends DISCONNECT, closes the connection and stops reconnecting. Pending publishes fail with
    /// `MQTTClientError.Kind.closed` (their state stays in `sessionState()`); both streams finish.
    public func disconnect() async {
        let promise = eventLoop.makePromise(of: Void.self)
        let core = self.core
        eventLoop.execute { core.value.disconnect(promise: promise) }
        try? await promise.futureResult.get()
    }
}

/// `MQTTClient.messages`: the received messages, as an async sequence with backpressure.
public struct MQTTMessageSequence: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage
    typealias Base = NIOAsyncSequenceProducer<
        MQTTMessage, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, MQTTInboundDemand
    >
    let base: Base

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator

        public mutating func next() async -> MQTTMessage? {
            await base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator())
    }
}

/// Tells the client core, on its event loop, when the consumer wants more messages.
final class MQTTInboundDemand: NIOAsyncSequenceProducerDelegate, Sendable {
    private let target = Mutex<(box: NIOLoopBoundBox<MQTTClientCore>, eventLoop: any EventLoop)?>(nil)

    func attach(_ box: NIOLoopBoundBox<MQTTClientCore>, eventLoop: any EventLoop) {
        target.withLock { $0 = (box, eventLoop) }
    }

    func produceMore() {
        guard let (box, eventLoop) = target.withLock({ $0 }) else { return }
        eventLoop.execute { box.value.resumeReading() }
    }

    func didTerminate() {
        // The consumer is gone: nothing more will be taken; reading goes on so acknowledgements
        // and pings are not stuck behind it.
        produceMore()
    }
}
