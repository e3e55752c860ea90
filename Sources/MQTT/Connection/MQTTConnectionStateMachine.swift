import NIOCore

/// The decisions of one network connection: handshake, keep-alive, which packets a client may receive.
/// Session-level packets are passed on (`.session`); the session rules live in `MQTTSession`.
struct MQTTConnectionStateMachine {
    enum State: Equatable {
        case initial
        case awaitingConnack
        case connected
        case closed
    }

    enum ActiveAction: Equatable {
        case sendConnect
        case none
    }

    enum ReceiveAction: Equatable {
        case connectionAccepted(sessionPresent: Bool)
        case connectionRefused(returnCode: UInt8)
        case session(MQTTPacket)
        case none
        case close(reason: String)
    }

    enum KeepAliveAction: Equatable {
        case none
        case sendPingreq
        case closeDeadPeer
    }

    private(set) var state: State = .initial
    let keepAlive: TimeAmount
    let pingTimeout: TimeAmount
    private var lastWrite: NIODeadline = .uptimeNanoseconds(0)
    private var pingSentAt: NIODeadline?
    /// The connection does not read (backpressure): a missing PINGRESP may just be unread.
    private var readsPaused = false

    init(keepAlive: TimeAmount, pingTimeout: TimeAmount) {
        self.keepAlive = keepAlive
        self.pingTimeout = pingTimeout
    }

    mutating func channelActive(now: NIODeadline) -> ActiveAction {
        guard state == .initial else { return .none }
        state = .awaitingConnack
        lastWrite = now
        return .sendConnect
    }

    mutating func received(_ packet: MQTTPacket) -> ReceiveAction {
        switch state {
        case .initial, .closed:
            return .none
        case .awaitingConnack:
            guard case .connack(let connack) = packet else {
                state = .closed
                return .close(reason: "\(packet.type.name) received before CONNACK")
            }
            if connack.returnCode == 0 {
                state = .connected
                return .connectionAccepted(sessionPresent: connack.sessionPresent)
            }
            state = .closed
            return .connectionRefused(returnCode: connack.returnCode)
        case .connected:
            switch packet {
            case .pingresp:
                pingSentAt = nil
                return .none
            case .publish, .puback, .pubrec, .pubrel, .pubcomp, .suback, .unsuback:
                return .session(packet)
            case .connack, .connect, .subscribe, .unsubscribe, .pingreq, .disconnect:
                state = .closed
                return .close(reason: "a broker must not send \(packet.type.name) here")
            }
        }
    }

    /// Something was written at `now`.
    mutating func wrote(now: NIODeadline) {
        lastWrite = now
    }

    mutating func keepAliveTick(now: NIODeadline) -> KeepAliveAction {
        guard state == .connected, keepAlive > .zero else { return .none }
        if let sent = pingSentAt {
            if now - sent >= pingTimeout, !readsPaused {
                state = .closed
                return .closeDeadPeer
            }
            return .none
        }
        if now - lastWrite >= keepAlive {
            pingSentAt = now
            lastWrite = now
            return .sendPingreq
        }
        return .none
    }

    /// Reading stopped because the consumer is behind.
    mutating func readingPaused() {
        readsPaused = true
    }

    /// Reading goes on: an outstanding PINGRESP gets a whole ping timeout from now.
    mutating func readingResumed(now: NIODeadline) {
        readsPaused = false
        if pingSentAt != nil { pingSentAt = now }
    }

    /// The CONNACK timer fired.
    mutating func connackTimeout() -> Bool {
        guard state == .awaitingConnack else { return false }
        state = .closed
        return true
    }

    mutating func closed() {
        state = .closed
    }
}
