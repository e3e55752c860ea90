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

    static func start() async throws -> FakeBroker {
        let (connections, continuation) = AsyncStream.makeStream(of: Peer.self)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
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
func withScriptTimeout<T: Sendable>(_ seconds: Int = 20, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withDeadline(seconds: seconds, "the scripted exchange", body)
}

/// The test's side of one connection: read the next packet, send one.
final class ScriptedPeer {
    let channel: any Channel
    private var iterator: AsyncStream<MQTTPacket>.AsyncIterator

    init(_ peer: FakeBroker.Peer) {
        channel = peer.channel
        iterator = peer.packets.makeAsyncIterator()
    }

    /// The next packet the client sent; nil when it closed the connection.
    func receive() async -> MQTTPacket? {
        await iterator.next()
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
    func nextPeer() async -> ScriptedPeer {
        var iterator = connections.makeAsyncIterator()
        return ScriptedPeer(await iterator.next()!)
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
    do {
        try await withScriptTimeout {
            async let connected = client.connect()
            let peer = await broker.nextPeer()
            try await peer.acceptConnect()
            _ = try await connected
            try await body(client, peer)
        }
    } catch {
        await client.disconnect()
        await broker.stop()
        throw error
    }
    await client.disconnect()
    await broker.stop()
}
