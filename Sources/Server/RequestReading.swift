import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import WeEvent

/// How long a client may take to send a request, and what a request the HTTP parser refuses
/// gets back.
///
/// The idle timeout only closes a connection on which nothing arrives for a while: a client
/// sending one byte now and then holds its connection, its memory and graceful shutdown for as
/// long as it likes. So from a request's first byte to the end of its body, at most
/// `server.read-timeout-ms` may pass; past it the client gets 408 with a WeEvent body (100900)
/// and the connection closes. A request line or headers over the parser's limits get 414
/// (100901) or 431 (100902), anything else it cannot parse 400 (100903), each with a WeEvent
/// body, instead of an empty 400.
///
/// Two handlers share one `RequestReading` per connection: `RequestReadDeadline` first in the
/// pipeline sees the raw bytes (a request's first byte starts the clock; its first line end
/// tells a long request line from long headers) and writes these answers; `RequestReadEnd`
/// after the HTTP codec sees where each request ends and each response ends, and the parser's
/// errors. Both run on the connection's event loop only.
final class RequestReading {
    /// Bytes of a request arrived and its end has not been decoded yet.
    var reading = false
    /// A request was read and its response is not finished: an answer now would cut into it.
    var responding = false
    /// The deadline passed while a response was being written: answered when it ends.
    var expired = false
    /// Bytes of the request's first line (up to its line end), and of the request so far: the
    /// larger part is the one blamed when the parser's limit is passed.
    var lineBytes = 0
    var lineComplete = false
    var receivedBytes = 0

    var lineIsTheLargerPart: Bool { lineBytes >= receivedBytes - lineBytes }
    var deadline: Scheduled<Void>?
    /// `server.read-timeout-ms`, for the answer's message.
    var timeout: TimeAmount = .zero
    /// Set by `RequestReadDeadline` when it is added: writes an answer and closes.
    var answer: ((RequestReadingRefusal) -> Void)?
}

enum RequestReadingRefusal {
    case timedOut(TimeAmount)
    case lineTooLong
    case headersTooLarge
    case malformed
    case tooManyConnections(Int)

    var status: (code: Int, reason: String) {
        switch self {
        case .tooManyConnections: (503, "Service Unavailable")
        case .timedOut: (408, "Request Timeout")
        case .lineTooLong: (414, "URI Too Long")
        case .headersTooLarge: (431, "Request Header Fields Too Large")
        case .malformed: (400, "Bad Request")
        }
    }

    var error: WeEventError {
        switch self {
        case .timedOut(let limit):
            WeEventError(.requestReadTimeout, message: "request not received within server.read-timeout-ms (\(limit.nanoseconds / 1_000_000) ms)")
        case .lineTooLong: WeEventError(.requestLineTooLong)
        case .headersTooLarge: WeEventError(.requestHeadersTooLarge)
        case .malformed: WeEventError(.requestMalformed)
        case .tooManyConnections(let limit):
            WeEventError(
                .tooManyConnections,
                message: "too many connections from this client: server.max-connections-per-client (\(limit)) are open; retry later"
            )
        }
    }

    /// The whole HTTP/1.1 answer, closing the connection.
    var bytes: [UInt8] {
        var body = Array(#"{"code":"#.utf8) + Array(String(error.code.rawValue).utf8) + Array(#","message":"#.utf8)
        JSONString.write(error.message, into: &body)
        body.append(UInt8(ascii: "}"))
        let head =
            "HTTP/1.1 \(status.code) \(status.reason)\r\nContent-Type: application/json;charset=UTF-8\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + body
    }
}

/// First in the pipeline: raw bytes in and out.
final class RequestReadDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let state: RequestReading
    private let timeout: TimeAmount
    private let logger: Logger
    /// An answer of ours went out: nothing else is written or read on this connection.
    private var closing = false

    init(state: RequestReading, timeout: TimeAmount, logger: Logger) {
        self.state = state
        self.timeout = timeout
        self.logger = logger
        state.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        state.answer = { [unowned self] refusal in self.answer(refusal, context: loopBound.value) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        state.deadline?.cancel()
        state.answer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if closing { return }
        let bytes = unwrapInboundIn(data)
        if !state.reading {
            state.reading = true
            state.lineComplete = false
            state.lineBytes = 0
            state.receivedBytes = 0
            state.expired = false
            let deadline = timeout
            state.deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                self?.expire(after: deadline, context: context)
            }
        }
        if !state.lineComplete {
            if let end = bytes.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                state.lineComplete = true
                state.lineBytes += end - bytes.readableBytesView.startIndex
            } else {
                state.lineBytes += bytes.readableBytes
            }
        }
        state.receivedBytes += bytes.readableBytes
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closing else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.write(data, promise: promise)
    }

    private func expire(after limit: TimeAmount, context: ChannelHandlerContext) {
        guard state.reading else { return }
        if state.responding {
            state.expired = true  // answered once the response in progress ends
            return
        }
        answer(.timedOut(limit), context: context)
    }

    private func answer(_ refusal: RequestReadingRefusal, context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        state.deadline?.cancel()
        logger.debug(
            "answering and closing a connection",
            metadata: [
                "status": "\(refusal.status.code)", "client": "\(context.channel.remoteAddress?.description ?? "?")",
            ])
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: refusal.bytes))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// After the HTTP codec: where requests and responses end, and the parser's errors.
final class RequestReadEnd: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let state = RequestReading()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            state.reading = false
            state.deadline?.cancel()
            state.deadline = nil
            state.responding = true
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ended: Bool
        if case .end = unwrapOutboundIn(data) { ended = true } else { ended = false }
        context.write(data, promise: promise)
        if ended {
            state.responding = false
            if state.expired, state.reading {
                context.flush()
                state.answer?(.timedOut(state.timeout))
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parser = error as? HTTPParserError, let answer = state.answer else {
            context.fireErrorCaught(error)
            return
        }
        switch parser {
        case .headerOverflow: answer(state.lineIsTheLargerPart ? .lineTooLong : .headersTooLarge)
        default: answer(.malformed)
        }
    }
}

/// Gives a connection's place back (`server.max-connections-per-client`) when it closes.
final class ConnectionSlot: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let count: ConnectionCount
    private let client: String
    private var held = true

    init(count: ConnectionCount, client: String) {
        self.count = count
        self.client = client
    }

    func channelInactive(context: ChannelHandlerContext) {
        giveBack()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { giveBack() }

    private func giveBack() {
        if held { count.leave(client) }
        held = false
    }
}

/// Hummingbird's HTTP/1.1 channel with the handlers above, and a bound on the connections one
/// client address has open.
struct GuardedHTTP1Channel: ServerChildChannel {
    let inner: HTTP1Channel
    let readTimeout: TimeAmount
    let connections: ConnectionCount
    let refusals: RateLimitedLog

    init(
        responder: @escaping HTTPChannelHandler.Responder, idleTimeout: TimeAmount, readTimeout: TimeAmount,
        connections: ConnectionCount, refusals: RateLimitedLog
    ) {
        inner = HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [RequestReadEnd()], idleTimeout: idleTimeout))
        self.readTimeout = readTimeout
        self.connections = connections
        self.refusals = refusals
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        let timeout = readTimeout, connections = self.connections, refusals = self.refusals
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let end = try channel.pipeline.syncOperations.handler(type: RequestReadEnd.self)
            try channel.pipeline.syncOperations.addHandler(
                RequestReadDeadline(state: end.state, timeout: timeout, logger: logger), position: .first
            )
            let client = channel.remoteAddress?.ipAddress ?? "unknown"
            if connections.enter(client) {
                try channel.pipeline.syncOperations.addHandler(ConnectionSlot(count: connections, client: client), position: .first)
            } else {
                refusals.notice(
                    logger, "refused a connection: the client has too many open",
                    metadata: [
                        "client": "\(client)", "limit": "\(connections.perClient)",
                    ])
                end.state.answer?(.tooManyConnections(connections.perClient))
            }
            return value
        }
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
