import Hummingbird
import Logging
import NIOCore

/// The per-request context: Hummingbird's core storage plus the caller's address,
/// which `ip.check.white-table` is checked against.
public struct WeEventRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The connection, so a stream whose client stopped reading can be closed.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
    }
}
