import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection for exact HTTP exchanges: the request written as bytes, the answer
/// read only when the test asks (a client that stops reading, or one that holds a connection
/// open, which no HTTP library lets a test be).
///
/// Its reads block, so they run on a dispatch queue of their own, never on the cooperative
/// pool: the test process has as many cooperative threads as cores (two on CI), and one blocked
/// there stalls every other suite running beside it (a scripted MQTT exchange timed out so).
public final class RawConnection: Sendable {
    /// nil once closed: reads stop there rather than read a number the process may have reused.
    private let descriptor: Mutex<Int32?>
    private static let blocking = DispatchQueue(label: "raw-connection", attributes: .concurrent)

    /// Connects to `host`:`port` and writes `request`. Reads give up after 10 s without a byte.
    /// `receiveBuffer`: the socket's receive buffer, for a client meant to fall behind.
    public init(host: String = "127.0.0.1", port: Int, request: String, receiveBuffer: Int32? = nil) throws {
        // Close-on-exec: a process the test runner starts meanwhile must not keep the connection open.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RawConnectionError("no socket: errno \(errno)") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw RawConnectionError("cannot connect to \(host):\(port)")
        }
        let bytes = Array(request.utf8)
        if !bytes.isEmpty { _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } }
        descriptor = Mutex(fd)
    }

    /// A GET of `path` on 127.0.0.1.
    public convenience init(port: Int, get path: String, receiveBuffer: Int32? = nil) throws {
        try self.init(port: port, request: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", receiveBuffer: receiveBuffer)
    }

    /// Reads until `marker` has arrived (found), or the connection ends or 10 s pass without a
    /// byte (not found); the text read either way.
    public func read(until marker: String) async -> (found: Bool, text: String) {
        await offThePool { self.readBlocking(until: marker) }
    }

    /// Reads and drops everything until the peer closes the connection; false if 10 s pass
    /// without a byte first.
    public func drainUntilClosed() async -> Bool {
        await offThePool { self.drainBlocking() }
    }

    /// Closes the connection (once; a read in progress ends).
    public func close() {
        descriptor.withLock { descriptor in
            guard let fd = descriptor else { return }
            shutdown(fd, Int32(SHUT_RDWR))
            Glibc.close(fd)
            descriptor = nil
        }
    }

    deinit { close() }

    private func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Self.blocking.async { continuation.resume(returning: body()) }
        }
    }

    /// One `recv` into `chunk`; -1 once closed.
    private func receive(into chunk: inout [UInt8]) -> Int {
        guard let fd = descriptor.withLock({ $0 }) else { return -1 }
        return chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    }

    private func readBlocking(until marker: String) -> (found: Bool, text: String) {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = receive(into: &chunk)
            if count <= 0 { return (false, String(decoding: received, as: UTF8.self)) }
            received.append(contentsOf: chunk[0..<count])
            let text = String(decoding: received, as: UTF8.self)
            if text.contains(marker) { return (true, text) }
        }
    }

    private func drainBlocking() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = receive(into: &chunk)
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }
}

public struct RawConnectionError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
