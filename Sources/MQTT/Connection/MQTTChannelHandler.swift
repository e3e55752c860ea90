import Logging
import NIOCore

/// Receives what one connection's handler learns; implemented by the client core on the same event loop.
protocol MQTTConnectionDelegate: AnyObject {
    func connectionAccepted(_ handler: MQTTChannelHandler, sessionPresent: Bool)
    func received(_ packet: MQTTPacket, on handler: MQTTChannelHandler)
    func connectionClosed(_ handler: MQTTChannelHandler, error: (any Error)?)
}

/// One connection to a broker. Its decisions are `MQTTConnectionStateMachine`'s; this class only
/// carries them out: writes, timers, closing. Outbound packets are encoded into one buffer and
/// written with a single flush per event-loop turn, so a burst of publishes or acks costs one syscall.
final class MQTTChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var machine: MQTTConnectionStateMachine
    private let connectPacket: ConnectPacket
    private let connectTimeout: TimeAmount
    private var delegate: (any MQTTConnectionDelegate)?
    private var context: ChannelHandlerContext?
    private var pending: ByteBuffer?
    private var flushScheduled = false
    private var timer: Scheduled<Void>?
    private var connackTimer: Scheduled<Void>?
    private var closeReason: (any Error)?
    /// Backpressure: while paused, the channel's read requests are held here.
    private var readsPaused = false
    private var readHeld = false
    private let trace: (@Sendable (Bool, MQTTPacket) -> Void)?
    private let logger: Logger

    init(
        connect: ConnectPacket, keepAlive: TimeAmount, pingTimeout: TimeAmount, connectTimeout: TimeAmount, delegate: any MQTTConnectionDelegate,
        trace: (@Sendable (Bool, MQTTPacket) -> Void)?, logger: Logger
    ) {
        self.machine = MQTTConnectionStateMachine(keepAlive: keepAlive, pingTimeout: pingTimeout)
        self.connectPacket = connect
        self.connectTimeout = connectTimeout
        self.delegate = delegate
        self.trace = trace
        self.logger = logger
    }

    var closeFuture: EventLoopFuture<Void>? { context?.channel.closeFuture }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard machine.channelActive(now: context.eventLoop.now) == .sendConnect else { return }
        send(.connect(connectPacket))
        flush()
        connackTimer = context.eventLoop.assumeIsolated().scheduleTask(in: connectTimeout) { [self] in
            if machine.connackTimeout() {
                close(MQTTClientError(.timeout, "no CONNACK within \(connectTimeout.nanoseconds / 1_000_000) ms"))
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = unwrapInboundIn(data)
        trace?(false, packet)
        switch machine.received(packet) {
        case .connectionAccepted(let sessionPresent):
            connackTimer?.cancel()
            connackTimer = nil
            scheduleKeepAlive()
            delegate?.connectionAccepted(self, sessionPresent: sessionPresent)
        case .connectionRefused(let code):
            connackTimer?.cancel()
            let error: any Error =
                MQTTConnectError.ReturnCode(rawValue: code).map { MQTTConnectError(returnCode: $0) }
                ?? MQTTClientError(.protocolViolation, "CONNACK return code \(code)")
            close(error)
        case .session(let packet):
            delegate?.received(packet, on: self)
        case .none:
            break
        case .close(let reason):
            logger.warning("closing MQTT connection: protocol violation", metadata: ["reason": "\(reason)"])
            close(MQTTClientError(.protocolViolation, reason))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush()
        #if os(Linux)
            // Linux holds back the ACK of what was just read for up to 40 ms, hoping to send it with
            // data. A broker with Nagle's algorithm on (mosquitto's default: set_tcp_nodelay false)
            // then keeps its next small packet until that ACK comes: a device's reply arriving just
            // after the PUBACK of the command it answers waited 40 ms. Quick-ack mode is not
            // permanent, so it is set again after every read.
            try? context.channel.syncOptions?.setOption(Self.quickAck, value: 1)
        #endif
        context.fireChannelReadComplete()
    }

    #if os(Linux)
        /// TCP_QUICKACK (linux/tcp.h).
        static let quickAck = ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: 12))
    #endif

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is MQTTDecodeError {
            logger.warning("closing MQTT connection: malformed packet", metadata: ["reason": "\(error)"])
        } else {
            logger.debug("MQTT connection error", metadata: ["error": "\(error)"])
        }
        close(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        machine.closed()
        pending = nil
        let delegate = self.delegate
        self.delegate = nil
        delegate?.connectionClosed(self, error: closeReason)
        context.fireChannelInactive()
    }

    // MARK: Backpressure

    /// Holds the channel's read requests while the consumer is behind (autoRead asks after every read).
    func read(context: ChannelHandlerContext) {
        if readsPaused {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Stops reading from the socket; a PINGRESP that cannot be read meanwhile does not count as a dead broker.
    func pauseReading() {
        readsPaused = true
        machine.readingPaused()
    }

    func resumeReading() {
        guard readsPaused else { return }
        readsPaused = false
        guard let context else { return }
        machine.readingResumed(now: context.eventLoop.now)
        if readHeld {
            readHeld = false
            context.read()
        }
    }

    // MARK: Used by the client core

    /// Queues a packet; it goes out with the next flush (at the latest, the end of this event-loop turn).
    func send(_ packet: MQTTPacket) {
        guard let context else { return }
        trace?(true, packet)
        if pending == nil {
            pending = context.channel.allocator.buffer(capacity: 512)
        }
        packet.write(to: &pending!)
        if !flushScheduled {
            flushScheduled = true
            context.eventLoop.assumeIsolated().execute { [self] in flush() }
        }
    }

    func flush() {
        flushScheduled = false
        guard let context, let buffer = pending, buffer.readableBytes > 0 else { return }
        pending = nil
        machine.wrote(now: context.eventLoop.now)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Closes the connection; `reason` is what the client reports (first reason wins).
    func close(_ reason: (any Error)?) {
        if closeReason == nil { closeReason = reason }
        guard let context else { return }
        flush()
        context.close(promise: nil)
    }

    /// Sends DISCONNECT and closes.
    func disconnect() {
        if closeReason == nil { closeReason = MQTTClientError(.closed) }
        send(.disconnect)
        close(nil)
    }

    // MARK: Timers

    private func scheduleKeepAlive() {
        guard let context, machine.keepAlive > .zero else { return }
        let tick = TimeAmount.nanoseconds(max(min(machine.keepAlive, machine.pingTimeout).nanoseconds / 4, 10_000_000))
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: tick) { [self] in
            switch machine.keepAliveTick(now: context.eventLoop.now) {
            case .none:
                break
            case .sendPingreq:
                send(.pingreq)
                flush()
            case .closeDeadPeer:
                logger.warning("closing MQTT connection: no PINGRESP, broker presumed dead")
                close(MQTTClientError(.connectionLost, "no PINGRESP within \(machine.pingTimeout.nanoseconds / 1_000_000) ms"))
                return
            }
            scheduleKeepAlive()
        }
    }

    private func cancelTimers() {
        timer?.cancel()
        timer = nil
        connackTimer?.cancel()
        connackTimer = nil
    }
}
