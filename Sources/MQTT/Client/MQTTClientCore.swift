#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#else
    import Darwin
#endif
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The client's state, confined to its event loop: session, pending requests, the current
/// connection and the reconnect supervisor.
final class MQTTClientCore: MQTTConnectionDelegate {
    enum Phase {
        case idle
        case connecting(attempt: UInt64)
        case connected(MQTTChannelHandler, attempt: UInt64)
        case waitingToReconnect(Scheduled<Void>)
        case closed
    }

    let configuration: MQTTConfiguration
    let eventLoop: any EventLoop
    let logger: Logger
    private let sslContext: NIOSSLContext?
    private var phase: Phase = .idle
    private var attemptCounter: UInt64 = 0
    private var connectPromise: EventLoopPromise<Bool>?
    private var reconnectAttempt = 0
    private let states: AsyncStream<MQTTConnectionState>.Continuation
    var acknowledger: MQTTAcknowledger?
    // Not private: MQTTClientCore+Received.swift answers the broker's packets with these.
    var session: MQTTSession
    var sessionEpoch: UInt64 = 0
    var publishPromises: [UInt16: EventLoopPromise<Void>] = [:]
    var subscribeRequests: [UInt16: (packet: SubscribePacket, promise: EventLoopPromise<[MQTTSubackReturnCode]>?)] = [:]
    var unsubscribeRequests: [UInt16: (packet: UnsubscribePacket, promise: EventLoopPromise<Void>?)] = [:]
    let messages: MQTTMessageSequence.Base.Source
    /// The consumer is behind by the high watermark: the connection does not read until it catches up.
    private(set) var readsPaused = false

    init(
        configuration: MQTTConfiguration, eventLoop: any EventLoop, session: MQTTSessionState?, logger: Logger,
        messages: MQTTMessageSequence.Base.Source, states: AsyncStream<MQTTConnectionState>.Continuation
    ) throws {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.session = session.map(MQTTSession.init) ?? MQTTSession()
        self.messages = messages
        self.states = states
        sslContext = try configuration.tls?.makeSSLContext()
    }

    var connectedHandler: MQTTChannelHandler? {
        if case .connected(let handler, _) = phase { return handler }
        return nil
    }

    // MARK: Connecting and the reconnect supervisor

    func connect(promise: EventLoopPromise<Bool>) {
        guard case .idle = phase else {
            if case .closed = phase {
                promise.fail(MQTTClientError(.closed))
            } else {
                promise.fail(MQTTClientError(.alreadyConnected))
            }
            return
        }
        connectPromise = promise
        startConnection()
    }

    private func startConnection() {
        attemptCounter += 1
        let attempt = attemptCounter
        phase = .connecting(attempt: attempt)
        states.yield(.connecting)
        let keepAliveSeconds = max(0, min(Int64(UInt16.max), configuration.keepAlive.nanoseconds / 1_000_000_000))
        let connect = ConnectPacket(
            clientID: configuration.clientID,
            cleanSession: configuration.cleanSession,
            keepAlive: UInt16(keepAliveSeconds),
            username: configuration.username,
            password: configuration.password.map { ByteBuffer(string: $0) },
            will: configuration.will
        )
        let keepAlive = TimeAmount.seconds(keepAliveSeconds)
        let handler = MQTTChannelHandler(
            connect: connect, keepAlive: keepAlive, pingTimeout: configuration.pingTimeout ?? keepAlive,
            connectTimeout: configuration.connectTimeout, delegate: self, trace: configuration.packetTrace, logger: logger
        )
        let handlerBox = NIOLoopBound(handler, eventLoop: eventLoop)
        let sslContext = self.sslContext
        let serverName = configuration.tls?.serverName ?? configuration.host
        let sniName: String? = (try? SocketAddress(ipAddress: serverName, port: 0)) == nil ? serverName : nil
        let maxPacketSize = configuration.maxPacketSize
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    if let sslContext {
                        let tlsHandler = try NIOSSLClientHandler(context: sslContext, serverHostname: sniName)
                        try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder(maxPacketSize: maxPacketSize)))
                    try channel.pipeline.syncOperations.addHandler(handlerBox.value)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        if let local = configuration.bindAddress {
            do {
                bootstrap = bootstrap.bind(to: try SocketAddress.makeAddressResolvingHost(local, port: 0))
            } catch {
                attemptEnded(attempt: attempt, error: MQTTClientError(.invalidConfiguration, "cannot bind to '\(local)': \(error)"))
                return
            }
        }
        currentAttemptHandler = handler
        bootstrap.connect(host: configuration.host, port: configuration.port).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let channel):
                if case .closed = phase {
                    // The client was closed while this attempt was under way.
                    channel.close(promise: nil)
                }
            case .failure(let error):
                attemptEnded(attempt: attempt, error: error)
            }
        }
    }

    private var currentAttemptHandler: MQTTChannelHandler?
    /// SUBSCRIBEs wait while `onSessionLost` runs.
    private var subscribesHeld = false

    /// `onSessionLost` finished: the held SUBSCRIBEs go out.
    private func releaseSubscribes() {
        guard subscribesHeld else { return }
        subscribesHeld = false
        guard let handler = connectedHandler else { return }
        for id in subscribeRequests.keys.sorted() { handler.send(.subscribe(subscribeRequests[id]!.packet)) }
    }

    func connectionAccepted(_ handler: MQTTChannelHandler, sessionPresent: Bool) {
        guard case .connecting(let attempt) = phase, currentAttemptHandler === handler else {
            handler.close(MQTTClientError(.closed))
            return
        }
        phase = .connected(handler, attempt: attempt)
        reconnectAttempt = 0
        if readsPaused { handler.pauseReading() }
        logger.debug("MQTT connected", metadata: ["sessionPresent": "\(sessionPresent)"])
        if !sessionPresent {
            session.brokerLostSession()
            sessionEpoch += 1
            // The broker forgot our subscriptions: subscribe again.
            if !session.subscriptions.isEmpty, let id = session.allocateRequestID() {
                let packet = SubscribePacket(packetID: id, subscriptions: session.subscriptions)
                subscribeRequests[id] = (packet, nil)
            }
        }
        if !sessionPresent, let forget = configuration.onSessionLost {
            // Nothing may arrive before the application has forgotten the old session: with no
            // session the broker sends nothing until we subscribe, so subscriptions wait.
            subscribesHeld = true
            let core = NIOLoopBound(self, eventLoop: eventLoop)
            let eventLoop = self.eventLoop
            let logger = self.logger
            Task {
                var failures = 0
                while await !forget() {
                    failures += 1
                    logger.error("forgetting the lost session failed; subscriptions wait", metadata: ["attempt": "\(failures)"])
                    try? await Task.sleep(for: .milliseconds(min(100 << min(failures, 7), 10_000)))
                }
                eventLoop.execute { core.value.releaseSubscribes() }
            }
        } else {
            for id in subscribeRequests.keys.sorted() { handler.send(.subscribe(subscribeRequests[id]!.packet)) }
        }
        for id in unsubscribeRequests.keys.sorted() { handler.send(.unsubscribe(unsubscribeRequests[id]!.packet)) }
        for packet in session.packetsToResend() { handler.send(packet) }
        sendQueuedPublishes()
        states.yield(.connected(sessionPresent: sessionPresent))
        if let promise = connectPromise {
            connectPromise = nil
            promise.succeed(sessionPresent)
        }
    }

    func connectionClosed(_ handler: MQTTChannelHandler, error: (any Error)?) {
        switch phase {
        case .connected(let current, let attempt) where current === handler:
            attemptEnded(attempt: attempt, error: error)
        case .connecting(let attempt) where currentAttemptHandler === handler:
            attemptEnded(attempt: attempt, error: error)
        default:
            break
        }
    }

    private func attemptEnded(attempt: UInt64, error: (any Error)?) {
        switch phase {
        case .connecting(let current) where current == attempt: break
        case .connected(_, let current) where current == attempt: break
        default: return
        }
        currentAttemptHandler = nil
        let error = error ?? MQTTClientError(.connectionLost, "connection closed by the broker")
        if let promise = connectPromise {
            // The first connect reports its failure to the caller instead of retrying.
            connectPromise = nil
            phase = .idle
            states.yield(.disconnected(reason: "\(error)"))
            promise.fail(error)
            return
        }
        reconnectAttempt += 1
        if let max = configuration.reconnect.maxAttempts, reconnectAttempt > max {
            logger.warning("MQTT connection lost, not reconnecting", metadata: ["error": "\(error)"])
            shutdown(error: max == 0 ? error : MQTTClientError(.reconnectAttemptsExhausted, "\(max) attempts, last: \(error)"))
            return
        }
        let delay = configuration.reconnect.delay(attempt: reconnectAttempt)
        logger.info(
            "MQTT connection lost, reconnecting",
            metadata: ["error": "\(error)", "attempt": "\(reconnectAttempt)", "delayMs": "\(delay.nanoseconds / 1_000_000)"])
        states.yield(.disconnected(reason: "\(error)"))
        let task = eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            if case .waitingToReconnect = phase { startConnection() }
        }
        phase = .waitingToReconnect(task)
    }

    func disconnect(promise: EventLoopPromise<Void>) {
        let phase = self.phase
        let attemptHandler = currentAttemptHandler
        // Closed first, so the connection closing below is not taken for a lost one.
        shutdown(error: MQTTClientError(.closed))
        switch phase {
        case .connected(let handler, _):
            if let closeFuture = handler.closeFuture {
                closeFuture.cascade(to: promise)
            } else {
                promise.succeed(())
            }
            handler.disconnect()
        case .connecting:
            attemptHandler?.close(MQTTClientError(.closed))
            promise.succeed(())
        case .waitingToReconnect(let task):
            task.cancel()
            promise.succeed(())
        case .idle, .closed:
            promise.succeed(())
        }
    }

    private func shutdown(error: any Error) {
        if case .closed = phase { return }
        phase = .closed
        currentAttemptHandler = nil
        connectPromise?.fail(error)
        connectPromise = nil
        let publishes = publishPromises
        publishPromises = [:]
        for (_, promise) in publishes { promise.fail(error) }
        let subscribes = subscribeRequests
        subscribeRequests = [:]
        for (_, request) in subscribes { request.promise?.fail(error) }
        let unsubscribes = unsubscribeRequests
        unsubscribeRequests = [:]
        for (_, request) in unsubscribes { request.promise?.fail(error) }
        states.yield(.closed)
        states.finish()
        messages.finish()
    }

    // MARK: Inbound backpressure

    /// A received message for the consumer; past the high watermark the connection stops reading.
    func deliver(_ message: MQTTMessage) {
        switch messages.yield(message) {
        case .stopProducing:
            if !readsPaused {
                readsPaused = true
                connectedHandler?.pauseReading()
                logger.debug("consumer behind: not reading from the broker until it catches up")
            }
        case .produceMore, .dropped:
            break
        }
    }

    /// The consumer is down to the low watermark (or gone): read again.
    func resumeReading() {
        guard readsPaused else { return }
        readsPaused = false
        connectedHandler?.resumeReading()
    }

    // MARK: Requests from the application

    func publish(_ packet: PublishPacket, notAfter: Int64? = nil, promise: EventLoopPromise<Void>) {
        var packet = packet
        if case .closed = phase {
            promise.fail(MQTTClientError(.closed))
            return
        }
        if let notAfter, notAfter <= Self.wallClock() {
            promise.fail(MQTTClientError(.expired, "message to '\(packet.topic)'"))
            return
        }
        if packet.qos == .atMostOnce {
            guard let handler = connectedHandler else {
                promise.fail(MQTTClientError(.notConnected, "QoS 0 message to '\(packet.topic)' dropped"))
                return
            }
            handler.send(.publish(packet))
            promise.succeed(())
            return
        }
        guard let id = session.allocatePacketID() else {
            promise.fail(MQTTClientError(.packetIDsExhausted))
            return
        }
        packet.packetID = id
        session.startPublish(packet, sent: false, notAfter: notAfter)
        publishPromises[id] = promise
        sendQueuedPublishes()
    }

    /// Sends waiting publishes while fewer than `maxInflight` await acknowledgement; those whose
    /// time not to send after has come are failed with `.expired` instead.
    func sendQueuedPublishes() {
        guard let handler = connectedHandler else { return }
        var expired: [UInt16] = []
        let now = Self.wallClock()
        while session.sentInFlight < max(1, configuration.maxInflight), let packet = session.takeNextUnsent(now: now, expired: &expired) {
            handler.send(.publish(packet))
        }
        for id in expired {
            publishPromises.removeValue(forKey: id)?.fail(MQTTClientError(.expired, "packet \(id)"))
        }
    }

    /// Milliseconds since 1970 (the clock deadlines are given in), without Foundation.
    static func wallClock() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    func subscribe(_ subscriptions: [MQTTSubscription], promise: EventLoopPromise<[MQTTSubackReturnCode]>) {
        if case .closed = phase { promise.fail(MQTTClientError(.closed)); return }
        guard let id = session.allocateRequestID() else { promise.fail(MQTTClientError(.packetIDsExhausted)); return }
        let packet = SubscribePacket(packetID: id, subscriptions: subscriptions)
        subscribeRequests[id] = (packet, promise)
        if !subscribesHeld { connectedHandler?.send(.subscribe(packet)) }
    }

    func unsubscribe(_ filters: [String], promise: EventLoopPromise<Void>) {
        if case .closed = phase { promise.fail(MQTTClientError(.closed)); return }
        guard let id = session.allocateRequestID() else { promise.fail(MQTTClientError(.packetIDsExhausted)); return }
        let packet = UnsubscribePacket(packetID: id, topicFilters: filters)
        unsubscribeRequests[id] = (packet, promise)
        connectedHandler?.send(.unsubscribe(packet))
    }

    func sessionState() -> MQTTSessionState { session.snapshot }
}
