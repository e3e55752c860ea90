import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing
import WeEvent
@testable import Server
#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection to the broker that asks for a stream and then reads only when told:
/// a client that stops reading, which no HTTP library lets a test be. Its blocking reads run on
/// a dispatch queue: on the cooperative pool they would starve the broker's own handlers.
final class RawStreamClient: Sendable {
    let fd: Int32
    private static let blocking = DispatchQueue(label: "raw-stream-client", attributes: .concurrent)

    init(port: Int, path: String, receiveBuffer: Int32 = 4096) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var size = receiveBuffer
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Reads until `marker` has arrived (true) or the connection ends or 10 s pass (false).
    func read(until marker: String) async -> (found: Bool, text: String) {
        await withCheckedContinuation { continuation in
            Self.blocking.async { continuation.resume(returning: self.readBlocking(until: marker)) }
        }
    }

    /// Reads and drops everything until the broker closes the connection; false if 10 s pass without that.
    func drainUntilClosed() async -> Bool {
        await withCheckedContinuation { continuation in
            Self.blocking.async { continuation.resume(returning: self.drainBlocking()) }
        }
    }

    private func readBlocking(until marker: String) -> (found: Bool, text: String) {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return (false, String(decoding: received, as: UTF8.self)) }
            received.append(contentsOf: chunk[0..<count])
            let text = String(decoding: received, as: UTF8.self)
            if text.contains(marker) { return (true, text) }
        }
    }

    private func drainBlocking() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    deinit { close(fd) }
}

@Suite(.timeLimit(.minutes(2))) struct StreamLimitTests {
    @Test func pastTheStreamLimitAClientGets503UntilOneCloses() async throws {
        try await withTestBroker(configure: { $0.rest.streamMaxCount = 2 }, live: true) { client, _ in
            let port = try #require(client.port)
            _ = try await client.call("/weevent/rest/open?topic=t")
            var first: RawStreamClient? = try RawStreamClient(port: port, path: "/weevent/rest/stream?topic=t")
            #expect(await first?.read(until: ": weevent stream").found == true)
            let second = try RawStreamClient(port: port, path: "/weevent/rest/stream?topic=t")
            #expect(await second.read(until: ": weevent stream").found == true)
            let refused = try await client.call("/weevent/rest/stream?topic=t")
            #expect(refused.status == 503 && refused.code == 200003, "\(refused.body)")
            first = nil  // the client goes away
            _ = first
            try await eventuallyAdmitted(port: port)
        }
    }

    /// A client that stops reading while events keep coming: its writes wait on full socket
    /// buffers until `rest.stream.write-timeout-ms`, then the broker closes the stream and its place is free.
    @Test func aStreamWhoseClientStopsReadingIsClosedAfterTheWriteTimeout() async throws {
        try await withTestBroker(
            configure: {
                $0.rest.streamMaxCount = 1; $0.rest.streamWriteTimeout = .milliseconds(500)
            }, live: true
        ) { client, ledgers in
            let port = try #require(client.port)
            _ = try await client.call("/weevent/rest/open?topic=t")
            let stalled = try RawStreamClient(port: port, path: "/weevent/rest/stream?topic=t")
            #expect(await stalled.read(until: ": weevent stream").found)
            // The stalled stream holds the only place. (Asked before the publishes: after them the
            // write timeout may already have closed it, and this call would then be a stream of
            // its own that never ends.)
            let refused = try await client.call("/weevent/rest/stream?topic=t")
            #expect(refused.code == 200003)
            // Far more than every socket buffer between the two holds.
            let ledger = try ledgers.ledger("1")
            let content = [UInt8](repeating: UInt8(ascii: "z"), count: 10_000)
            for _ in 0..<4 {
                _ = try await ledger.publish(Array(repeating: NewEvent(topic: "t", content: content), count: 500))
            }
            try await eventuallyAdmitted(port: port)
            #expect(await stalled.drainUntilClosed())
        }
    }

    /// Polls until a new stream gets its first comment (up to 20 s).
    func eventuallyAdmitted(port: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for _ in 0..<40 {
            let probe = try RawStreamClient(port: port, path: "/weevent/rest/stream?topic=t")
            let answer = await probe.read(until: "\r\n\r\n")
            if answer.text.hasPrefix("HTTP/1.1 200") { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        Issue.record("no stream admitted within 20 s", sourceLocation: sourceLocation)
    }
}
