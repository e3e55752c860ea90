import Hummingbird
import Logging
import NIOCore

/// The per-request context: Hummingbird's core storage plus the caller's address,
/// which `ip.check.white-table` is checked against.
public struct WeEventRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}
