import Synchronization
import TestSupport
import NIOCore
import NIOPosix
import Testing

@testable import MQTT

/// A loopback TCP server that a test scripts packet by packet.
final class FakeBroker: Sendable {
    let serverChannel: any Channel
    let connections: AsyncStream<Peer>
    var port: Int { serverChannel.localAddress!.port! }

    /// One accepted connection.
    struct Peer: Sendable {
        let channel: any Channel
        let packets: AsyncStream<MQTTPacket>
    }

    private final class Forwarder: ChannelInboundHandler {
        typealias InboundIn = MQTTPacket
        let continuation: AsyncStream<MQTTPacket>.Continuation
        init(_ continuation: AsyncStream<MQTTPacket>.Continuation) { self.continuation = continuation }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) { continuation.finish() }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    private init(serverChannel: any Channel, connections: AsyncStream<Peer>) {
        self.serverChannel = serverChannel
        self.connections = connections
    }

    /// Listens on a free loopback port, on `group`.
    static func start(on group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> FakeBroker {
        let (connections, continuation) = AsyncStream.makeStream(of: Peer.self)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let (packets, packetContinuation) = AsyncStream.makeStream(of: MQTTPacket.self)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder()), name: "decoder")
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(MQTTPacketEncoder()), name: "encoder")
                    try channel.pipeline.syncOperations.addHandler(Forwarder(packetContinuation))
                    continuation.yield(Peer(channel: channel, packets: packets))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeBroker(serverChannel: server, connections: connections)
    }

    func stop() async {
        try? await serverChannel.close()
    }
}

struct ScriptTimeout: Error {}

/// Runs `body`, failing instead of hanging if the client never does what the script waits for.
///
/// A hang detector, not a measure: the scripted exchanges take milliseconds alone, but in a full
/// run, with every suite's servers on the same two cores, each step of a script was measured to
/// take up to seven seconds and a whole script up to 29 s, so the limit is generous.
func withScriptTimeout<T: Sendable>(_ seconds: Int = 120, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withDeadline(seconds: seconds, "the scripted exchange", body)
}

/// What went over one scripted connection, in order, so that a script that times out says
/// where it stood.
final class Transcript: Sendable {
    private let lines = Mutex<[String]>([])
    private let start = ContinuousClock.now

    /// `line`, after the seconds since the script began.
    func add(_ line: String) {
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        lines.withLock { $0.append("\((seconds * 1000).rounded() / 1000) s \(line)") }
    }

    var text: String { lines.withLock { $0.joined(separator: "; ") } }
}

/// A script that failed, with what had gone over the connection until then.
struct ScriptFailure: Error, CustomStringConvertible {
    let error: any Error
    let transcript: String
    var description: String { "\(error) (the exchange so far: \(transcript.isEmpty ? "nothing" : transcript))" }
}

/// The test's side of one connection: read the next packet, send one.
final class ScriptedPeer {
    let channel: any Channel
    let transcript: Transcript
    private var iterator: AsyncStream<MQTTPacket>.AsyncIterator

    init(_ peer: FakeBroker.Peer, transcript: Transcript = Transcript()) {
        channel = peer.channel
        iterator = peer.packets.makeAsyncIterator()
        self.transcript = transcript
    }

    /// The next packet the client sent; nil when it closed the connection.
    func receive() async -> MQTTPacket? {
        transcript.add("waiting for the client")
        let packet = await iterator.next()
        transcript.add("client: \(packet.map { "\($0)" } ?? "closed the connection")")
        return packet
    }

    /// Writes raw bytes, below the encoder.
    func sendRaw(_ bytes: [UInt8]) async throws {
        let channel = self.channel
        try await channel.eventLoop.submit {
            let context = try channel.pipeline.syncOperations.context(name: "decoder")
            context.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)), promise: nil)
        }.get()
    }

    func send(_ packet: MQTTPacket) async throws {
        transcript.add("broker: \(packet)")
        try await channel.writeAndFlush(packet)
    }

    /// Reads CONNECT and answers CONNACK.
    @discardableResult
    func acceptConnect(sessionPresent: Bool = false) async throws -> ConnectPacket {
        guard case .connect(let connect) = await receive() else {
            Issue.record("expected CONNECT")
            throw ScriptTimeout()
        }
        try await send(.connack(ConnackPacket(sessionPresent: sessionPresent, returnCode: 0)))
        return connect
    }
}

extension FakeBroker {
    func nextPeer(transcript: Transcript = Transcript()) async -> ScriptedPeer {
        transcript.add("waiting for a connection")
        var iterator = connections.makeAsyncIterator()
        return ScriptedPeer(await iterator.next()!, transcript: transcript)
    }
}

/// A client connected to a fresh fake broker (CONNECT accepted, clean session), for `body`; the
/// client and the broker are closed afterwards, whatever happens.
func withConnectedClient(
    configure: (inout MQTTConfiguration) -> Void = { _ in },
    _ body: @escaping @Sendable (MQTTClient, ScriptedPeer) async throws -> Void
) async throws {
    let broker = try await FakeBroker.start()
    var configuration = MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "fake-peer-test", keepAlive: .seconds(60))
    configuration.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(10), maxDelay: .milliseconds(50))
    // The scripted broker answers CONNECT from a test process that a full run on a fresh clone
    // keeps busy for seconds (a CONNACK came after the default 5 s, and the script then wrote to
    // a connection the client had closed); how long it takes is not what these tests check.
    configuration.connectTimeout = .seconds(60)
    configure(&configuration)
    let client = try MQTTClient(configuration: configuration)
    let transcript = Transcript()
    do {
        try await withScriptTimeout {
            async let connected = client.connect()
            let peer = await broker.nextPeer(transcript: transcript)
            try await peer.acceptConnect()
            _ = try await connected
            try await body(client, peer)
        }
    } catch {
        await client.disconnect()
        await broker.stop()
        throw ScriptFailure(error: error, transcript: transcript.text)
    }
    await client.disconnect()
    await broker.stop()
}
