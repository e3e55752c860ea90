#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
import ZooKeeper

/// Asks every server of a ZooKeeper ensemble how it is, with the `srvr` four-letter word (the
/// servers must allow it: `4lw.commands.whitelist=srvr` in zoo.cfg), for admin/status: each
/// server's mode (`leader`, `follower`, `standalone`, ...) or why it did not answer.
public enum EnsembleProbe {
    public struct Server: Sendable, Equatable, Codable {
        public var address: String
        /// `leader`, `follower`, `observer` or `standalone`; nil when it did not answer.
        public var mode: String?
        /// How many znodes it holds, as it says.
        public var nodes: Int?
        public var error: String?
    }

    /// The `host:port` pairs of a connection string (`h1:2181,h2:2181/chroot`).
    public static func addresses(_ hosts: String) -> [(host: String, port: Int)] {
        let list = hosts.split(separator: "/", maxSplits: 1).first ?? ""
        return list.split(separator: ",").compactMap { item in
            let text = item.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { return nil }
            // `[v6]:port`, `[v6]`, `host:port`, `host`, or a bare IPv6 address (several colons).
            if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
                let host = String(text[text.index(after: text.startIndex)..<close])
                let rest = text[text.index(after: close)...]
                return (host, rest.hasPrefix(":") ? Int(rest.dropFirst()).flatMap { (1...65535).contains($0) ? $0 : nil } ?? 2181 : 2181)
            }
            guard text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":"),
                let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
            else { return (text, 2181) }
            return (String(text[..<colon]), port)
        }
    }

    /// Every server of `hosts` asked at once, each within `timeout`; in the string's order.
    public static func probe(_ hosts: String, timeout: Duration = .seconds(1)) async -> [Server] {
        let addresses = addresses(hosts)
        return await withTaskGroup(of: (Int, Server).self) { group in
            for (index, address) in addresses.enumerated() {
                group.addTask { (index, await ask(host: address.host, port: address.port, timeout: timeout)) }
            }
            var servers = [Server?](repeating: nil, count: addresses.count)
            for await (index, server) in group { servers[index] = server }
            return servers.compactMap { $0 }
        }
    }

    /// One server's answer to `srvr`, read on a thread of its own (blocking sockets with timeouts).
    static func ask(host: String, port: Int, timeout: Duration) async -> Server {
        let name = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let answer = await runOnDedicatedThread { fourLetterWord("srvr", host: host, port: port, timeout: timeout) }
        switch answer {
        case .failure(let error):
            return Server(address: name, error: error.reason)
        case .success(let text):
            var server = Server(address: name)
            for line in text.split(separator: "\n") {
                if line.hasPrefix("Mode: ") { server.mode = String(line.dropFirst(6)).trimmingCharacters(in: .whitespaces) }
                if line.hasPrefix("Node count: ") { server.nodes = Int(line.dropFirst(12).trimmingCharacters(in: .whitespaces)) }
            }
            if server.mode == nil {
                server.error =
                    text.contains("is not executed because it is not in the whitelist")
                    ? "srvr is not allowed (4lw.commands.whitelist)" : "no mode in its answer: \(text.prefix(120))"
            }
            return server
        }
    }

    struct ProbeError: Error {
        let reason: String
    }

    /// Connects, sends the word, reads until the server closes; at most `timeout` per step.
    static func fourLetterWord(_ word: String, host: String, port: Int, timeout: Duration) -> Result<String, ProbeError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            return .failure(ProbeError(reason: "cannot resolve \(host)"))
        }
        defer { freeaddrinfo(list) }
        // Each address in turn (`localhost` may be ::1 first while the server listens on 127.0.0.1).
        var fd: Int32 = -1
        var failure = "no address"
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let address = cursor, fd < 0 {
            cursor = address.pointee.ai_next
            let candidate = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
            guard candidate >= 0 else {
                failure = "socket: \(String(cString: strerror(errno)))"
                continue
            }
            let (seconds, attoseconds) = timeout.components
            var limit = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
            setsockopt(candidate, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(candidate, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            if connect(candidate, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 {
                fd = candidate
            } else {
                failure = "cannot connect: \(String(cString: strerror(errno)))"
                close(candidate)
            }
        }
        guard fd >= 0 else { return .failure(ProbeError(reason: failure)) }
        defer { close(fd) }
        let bytes = Array(word.utf8)
        guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            return .failure(ProbeError(reason: "cannot send: \(String(cString: strerror(errno)))"))
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < 65536 {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { break }
            guard count > 0 else {
                return .failure(ProbeError(reason: received.isEmpty ? "no answer: \(String(cString: strerror(errno)))" : "answer cut short"))
            }
            received += buffer[..<count]
        }
        return .success(String(decoding: received, as: UTF8.self))
    }
}
