import AsyncHTTPClient
import BrokerConfiguration
import Foundation
import NIOCore
import NIOPosix
import WeEvent
#if canImport(Glibc)
    import Glibc
#endif

/// What callbacks may do (docs/api.md "Callback subscriptions"): a callback URL cannot be
/// turned against the broker's own network.
public struct CallbackPolicy: Sendable {
    /// Non-public ranges (IPRange.nonPublic) that callbacks may reach all the same
    /// (`subscription.callback.allowed-ranges`).
    public var allowedRanges: [IPRange] = []
    /// `subscription.max-count`.
    public var maxCount = 1000
    /// The longest one POST may take, from connecting to the end of the answer (`subscription.callback.timeout-ms`).
    public var timeout: Duration = .seconds(10)
    /// How much of an answer's body is read; the rest is dropped with the connection.
    public var maxResponseBytes = 4096
    /// How long a checked address is used before the host is resolved and checked again.
    public var recheckInterval: Duration = .seconds(60)

    public init() {}

    public init(_ settings: SubscriptionSettings) {
        allowedRanges = settings.callbackAllowedRanges
        maxCount = settings.maxCount
        timeout = settings.callbackTimeout
    }

    /// nil when callbacks may reach `address`, else why not.
    func refusal(of address: IPAddress) -> String? {
        if allowedRanges.contains(address) { return nil }
        if IPRange.nonPublic.contains(address) { return "\(address), a loopback, private, link-local or reserved address" }
        if let carried = address.embeddedIPv4, refusal(of: carried) != nil {
            return "\(address), which leads to \(carried), a loopback, private, link-local or reserved address"
        }
        return nil
    }

    /// The host of `url` and the address to connect to: every address the host resolves to must
    /// be one callbacks may reach (100509 names the first that is not; 100501 when it does not resolve).
    func check(_ url: URL) async throws(WeEventError) -> (host: String, address: IPAddress) {
        guard let host = url.host, !host.isEmpty else { throw WeEventError(.urlInvalid, detail: CallbackURL.logged(url.absoluteString)) }
        let literal = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let addresses: [IPAddress]
        if let address = IPAddress(literal) {
            addresses = [address]
        } else {
            addresses = await Self.resolve(literal)
            guard !addresses.isEmpty else {
                throw WeEventError(.urlInvalid, message: "callback host \(literal) does not resolve")
            }
        }
        for address in addresses {
            if let reason = refusal(of: address) {
                throw WeEventError(
                    .callbackAddressRefused,
                    message: "callback host \(literal) is \(reason); callbacks may not reach it unless subscription.callback.allowed-ranges lists it"
                )
            }
        }
        return (host, addresses[0])
    }

    /// The host's IPv4 and IPv6 addresses (getaddrinfo, on NIO's blocking-work pool); empty when it does not resolve.
    static func resolve(_ host: String) async -> [IPAddress] {
        let found = try? await NIOThreadPool.singleton.runIfActive { () -> [IPAddress] in
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
            defer { freeaddrinfo(first) }
            var found: [IPAddress] = []
            var next: UnsafeMutablePointer<addrinfo>? = first
            while let entry = next {
                if let raw = entry.pointee.ai_addr {
                    switch Int32(raw.pointee.sa_family) {
                    case AF_INET:
                        raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                            var address = v4.pointee.sin_addr
                            if let ip = IPAddress(bytes: withUnsafeBytes(of: &address) { Array($0) }) { found.append(ip) }
                        }
                    case AF_INET6:
                        raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                            var address = v6.pointee.sin6_addr
                            if let ip = IPAddress(bytes: withUnsafeBytes(of: &address) { Array($0) }) { found.append(ip) }
                        }
                    default:
                        break
                    }
                }
                next = entry.pointee.ai_next
            }
            return found.reduce(into: [IPAddress]()) { if !$0.contains($1) { $0.append($1) } }
        }
        return found ?? []
    }
}

/// POSTs one subscription's callbacks. The host is resolved and checked by the policy before the
/// first POST and again every `recheckInterval`; the connection goes to the checked address
/// (the URL's host still names the server for HTTP and TLS), so a DNS answer that changes after
/// the check cannot send a callback elsewhere. Redirects are not followed.
final class CallbackPoster {
    enum Outcome: Equatable {
        case delivered
        case failed(String)
    }

    private let policy: CallbackPolicy
    private var client: HTTPClient?
    private var pinned: (url: String, checkedAt: ContinuousClock.Instant)?

    init(policy: CallbackPolicy) {
        self.policy = policy
    }

    /// One POST of `body` to `url`, within the policy's deadline. Throws only CancellationError.
    func post(_ body: Data, to url: String) async throws -> Outcome {
        let shown = CallbackURL.logged(url)
        guard let target = URL(string: url) else { return .failed("invalid url \(shown)") }
        let client: HTTPClient
        do {
            client = try await self.client(for: target, url: url)
        } catch let error as WeEventError {
            return .failed(error.message)
        }
        var building = HTTPClientRequest(url: url)
        building.method = .POST
        building.headers.add(name: "Content-Type", value: "application/json")
        building.body = .bytes(ByteBuffer(data: body))
        let request = building
        let limit = policy.maxResponseBytes
        let timeout = policy.timeout
        do {
            let status = try await withDeadline(timeout) {
                let response = try await client.execute(request, timeout: TimeAmount(timeout))
                // Read a little of the answer, then let the rest go with the connection.
                var read = 0
                for try await chunk in response.body {
                    read += chunk.readableBytes
                    if read >= limit { break }
                }
                return response.status.code
            }
            if (200..<300).contains(status) { return .delivered }
            return .failed("HTTP \(status) from \(shown)")
        } catch is CancellationError {
            throw CancellationError()
        } catch is DeadlineExceeded {
            try Task.checkCancellation()
            return .failed("no complete answer within \(timeout) from \(shown)")
        } catch let error as HTTPClientError where error == .readTimeout || error == .deadlineExceeded {
            try Task.checkCancellation()
            return .failed("no complete answer within \(timeout) from \(shown)")
        } catch {
            try Task.checkCancellation()
            return .failed("\(error) (\(shown))")
        }
    }

    /// The client pinned to the checked address of `target`'s host; checked again when the URL
    /// changed or the last check is older than the policy's interval.
    private func client(for target: URL, url: String) async throws -> HTTPClient {
        if let client, let pinned, pinned.url == url, ContinuousClock.now - pinned.checkedAt < policy.recheckInterval {
            return client
        }
        await shutdown()
        let (host, address) = try await policy.check(target)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: TimeAmount(policy.timeout), read: TimeAmount(policy.timeout))
        )
        if IPAddress(host) == nil, !host.hasPrefix("[") {
            configuration.dnsOverride = [host: address.description]
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.client = client
        pinned = (url, .now)
        return client
    }

    func shutdown() async {
        if let client {
            try? await client.shutdown()
        }
        client = nil
        pinned = nil
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

struct DeadlineExceeded: Error {}

/// `operation`'s result, or DeadlineExceeded once `limit` has passed (the operation is cancelled).
func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw DeadlineExceeded() }
        return value
    }
}

/// How a callback URL appears in logs and error details: without the user and password it may
/// carry, and without its query and fragment (where receivers put their tokens).
public enum CallbackURL {
    public static func logged(_ url: String) -> String {
        guard var parts = URLComponents(string: url) else { return "(a malformed url)" }
        let hidden = parts.user != nil || parts.password != nil || parts.query != nil || parts.fragment != nil
        parts.user = nil
        parts.password = nil
        parts.query = nil
        parts.fragment = nil
        return (parts.string ?? "(a malformed url)") + (hidden ? " (credentials and query not shown)" : "")
    }
}
