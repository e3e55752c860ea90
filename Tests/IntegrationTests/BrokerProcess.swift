import Foundation
import TestSupport
import Synchronization
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The real `weevent` executable, run as a child process on a free loopback port.
final class BrokerProcess: @unchecked Sendable {
    // @unchecked: `process` is replaced only by start(), which tests call from one task.
    let directory: String
    /// Chosen free before start; moved to another free port if it was taken before the broker bound it.
    private(set) var port: Int
    let configPath: String
    private var process: Spawned?
    let logPath: String
    private let extraConfig: String

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["WEEVENT_BIN"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/weevent").path
    }

    init(extraConfig: String = "") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("broker-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try freePort()
        configPath = directory + "/weevent.properties"
        logPath = directory + "/broker.log"
        self.extraConfig = extraConfig
        try writeConfig()
    }

    private func writeConfig() throws {
        let config = """
            server.host=0.0.0.0
            server.port=\(port)
            ledger.path=\(directory)/data
            ledger.groups=1
            ledger.block.max-events=200
            ledger.block.max-delay-ms=1
            mqtt.broker.url=
            broker.zookeeper.ip=
            # The tests' callback receivers listen on loopback.
            subscription.callback.allowed-ranges=127.0.0.0/8
            \(extraConfig)
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    var baseURL: String { "http://127.0.0.1:\(port)/weevent" }

    /// Starts the broker and waits until it answers. A free port can be taken by another test
    /// between choosing it and the broker binding it: then another port, up to 5 tries.
    func start() async throws {
        for _ in 0..<4 {
            do {
                return try await startOnce()
            } catch is PortTaken {
                port = try freePort()
                try writeConfig()
            }
        }
        try await startOnce()
    }

    private func startOnce() async throws {
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)  // each start's log alone
        let process = try Spawned(
            Self.binary, ["serve", "--config", configPath], stdout: .file(logPath, flags: O_WRONLY | O_APPEND),
            stderr: .file(logPath, flags: O_WRONLY | O_APPEND))
        self.process = process
        // Up to 30 s: at the start of a full run every suite starts servers at once on 2 cores.
        for _ in 0..<600 {
            try await Task.sleep(for: .milliseconds(50))
            if !process.isRunning { break }
            if let reply = try? await http("\(baseURL)/admin/health"), reply.status == 200 { return }
        }
        let log = log()
        if !process.isRunning, log.contains("Address already in use") { throw PortTaken() }
        throw BrokerError("broker did not come up; log:\n\(log)")
    }

    private struct PortTaken: Error {}

    /// The running broker's process id.
    var pid: Int32? { process?.processIdentifier }

    /// CPU time (user + system) the running broker has used so far, from /proc.
    func cpuSeconds() -> Double? {
        guard let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        // After "(comm)": state is field 3; utime and stime are fields 14 and 15 (clock ticks).
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The broker process is alive.
    var isRunning: Bool { process?.isRunning == true }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func kill(signal: Int32) {
        process?.signal(signal)
    }

    /// Waits for the process to end and returns its exit status (negative for a signal).
    func waitForExit() async -> Int32 {
        guard let process else { return 0 }
        let status = await process.exit()
        return status >= 128 ? -(status - 128) : status
    }

    func remove() {
        if process?.isRunning == true {
            kill(signal: SIGKILL)
            process?.waitForExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `weevent <arguments>` to completion: exit status and what it printed (standard
    /// output, then standard error).
    func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (Int32, String) {
        let result = try await TestSupport.run(Self.binary, arguments, environment: environment)
        return (result.status, result.stdout + result.stderr)
    }
}

struct BrokerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct HTTPReply: Sendable {
    let status: Int
    let body: Data
    var object: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
}

let session: URLSession = {
    let config = URLSessionConfiguration.ephemeral
    config.httpMaximumConnectionsPerHost = 64
    config.timeoutIntervalForRequest = 30
    return URLSession(configuration: config)
}()

func http(_ url: String, token: String? = nil) async throws -> HTTPReply {
    var request = URLRequest(url: URL(string: url)!)
    if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
    let (data, response) = try await session.data(for: request)
    return HTTPReply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
}

/// Values shared by concurrent test tasks.
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}

/// A loopback TCP port nobody is bound to right now, chosen as scripts/free-port.py does: at
/// random below the kernel's ephemeral range, so that a broker stopped and started again on its
/// port finds it free (an outgoing connection may take a port of that range meanwhile); the
/// kernel's own choice when there is no room below it.
func freePort() throws -> Int {
    let range =
        (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
        .flatMap { $0.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } } ?? 32768
    if range > 11000 {
        for _ in 0..<100 {
            if let port = bindable(Int.random(in: 10000..<range)) { return port }
        }
    }
    guard let port = bindable(0) else { throw BrokerError("no free port") }
    return port
}

/// `port` (0: the kernel's choice) if a socket can bind it on 127.0.0.1 now.
private func bindable(_ port: Int) -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    return bound ? Int(UInt16(bigEndian: addr.sin_port)) : nil
}

/// An IPv4 address of this machine that is not loopback, if it has one.
func nonLoopbackIPv4() -> String? {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0, let first = list else { return nil }
    defer { freeifaddrs(list) }
    var cursor: UnsafeMutablePointer<ifaddrs>? = first
    while let entry = cursor {
        defer { cursor = entry.pointee.ifa_next }
        guard let addr = entry.pointee.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET) else { continue }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(addr, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
        let ip = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if !ip.hasPrefix("127.") { return ip }
    }
    return nil
}
