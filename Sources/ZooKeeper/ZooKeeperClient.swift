internal import CZooKeeper
import Logging
import NIOConcurrencyHelpers

/// The C handle. zookeeper_mt's API functions lock internally, so the pointer may be used from any
/// thread; `ZooKeeperClient` only uses it while its gate says open, under the gate's lock, and
/// `zookeeper_close` runs exactly once, after the gate was shut. Hence `@unchecked Sendable`.
struct ZHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// An asynchronous ZooKeeper client over the C library (libzookeeper_mt): one session to a
/// ZooKeeper ensemble.
///
/// Every call suspends its caller until the server answered (or the connection was lost, or
/// the client was closed: then it throws `ZooKeeperError` with `.connectionLoss` / `.closing`).
/// Once the session is `.expired`, the client is of no further use: close it and connect anew.
public final class ZooKeeperClient: Sendable {
    private enum Gate {
        case open(ZHandle)
        case closing
        case closed
    }

    /// Serialises C calls with `close`: no C call may run during or after `zookeeper_close`.
    private let gate: NIOLockedValueBox<Gate>
    let core: SessionCore
    public let hosts: String
    public let sessionTimeout: Duration
    let logger: Logger

    private init(handle: ZHandle, core: SessionCore, hosts: String, sessionTimeout: Duration, logger: Logger) {
        self.gate = NIOLockedValueBox(.open(handle))
        self.core = core
        self.hosts = hosts
        self.sessionTimeout = sessionTimeout
        self.logger = logger
    }

    deinit {
        // Forgotten without close(): close on a thread of its own so the C library's threads and
        // socket do not leak. Nothing can be in flight: every call holds a reference to self.
        if case .open(let handle) = gate.withLockedValue({ $0 }) {
            let core = self.core
            logger.warning("ZooKeeperClient deinitialised without close()", metadata: ["hosts": "\(hosts)"])
            Task.detached {
                await Self.closeHandle(handle, core: core)
            }
        }
    }

    /// Connects to `hosts` ("host:port,host:port[/chroot]") and waits until the session is
    /// established.
    ///
    /// - Parameters:
    ///   - sessionTimeout: asked of the server, which bounds it (by default 2 to 20 ticks).
    ///   - connectTimeout: how long to wait for the first connection (default: `sessionTimeout`);
    ///     the client is closed and `.operationTimeout` thrown when it passes.
    public static func connect(
        to hosts: String,
        sessionTimeout: Duration = .seconds(10),
        connectTimeout: Duration? = nil,
        logger: Logger = Logger(label: "zookeeper")
    ) async throws -> ZooKeeperClient {
        _ = configureCLibraryLogging
        let core = SessionCore(logger: logger)
        let timeoutMilliseconds = Int32(clamping: sessionTimeout.milliseconds)
        let handle: ZHandle? = await runOnDedicatedThread {
            // The handle's context: one reference, given back in closeHandle (or below on failure).
            let context = Unmanaged.passRetained(core).toOpaque()
            guard let pointer = zookeeper_init2(hosts, zkGlobalWatcher, timeoutMilliseconds, nil, context, 0, zkLogCallback)
            else {
                Unmanaged<SessionCore>.fromOpaque(context).release()
                return nil
            }
            return ZHandle(pointer: pointer)
        }
        guard let handle else {
            throw ZooKeeperError(code: .badArguments, operation: .connect, path: hosts)
        }
        let client = ZooKeeperClient(handle: handle, core: core, hosts: hosts, sessionTimeout: sessionTimeout, logger: logger)
        do {
            try await client.waitUntilConnected(timeout: connectTimeout ?? sessionTimeout)
        } catch {
            await client.close()
            throw error
        }
        logger.debug("zookeeper connected", metadata: ["hosts": "\(hosts)", "session": "\(client.sessionID.map { String($0, radix: 16) } ?? "-")"])
        return client
    }

    /// Connects, runs `body` with the client, and closes it whatever happens.
    public static func withConnection<Result: Sendable>(
        to hosts: String,
        sessionTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "zookeeper"),
        _ body: (ZooKeeperClient) async throws -> Result
    ) async throws -> Result {
        let client = try await connect(to: hosts, sessionTimeout: sessionTimeout, logger: logger)
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    /// Ends the session: ephemeral nodes go, calls in flight throw `.closing`, watches and state
    /// streams end. Safe to call more than once and concurrently; returns once closed.
    public func close() async {
        let handle: ZHandle? = gate.withLockedValue { gate in
            guard case .open(let handle) = gate else { return nil }
            gate = .closing
            return handle
        }
        guard let handle else {
            // Another close is under way (or done): wait for its end.
            for await state in core.state.stream() where state == .closed { break }
            return
        }
        await Self.closeHandle(handle, core: core)
        gate.withLockedValue { $0 = .closed }
    }

    private static func closeHandle(_ handle: ZHandle, core: SessionCore) async {
        // zookeeper_close blocks (it flushes and joins the library's threads) and fires every
        // pending completion with ZCLOSING before it returns.
        await runOnDedicatedThread {
            _ = zookeeper_close(handle.pointer)
            // Completions the library dropped instead of calling: resume them with ZCLOSING.
            core.inFlight.abandonAll()
            // The library no longer calls back: give back the context reference from connect.
            Unmanaged<SessionCore>.passUnretained(core).release()
        }
        core.watches.end(.closing)
        core.state.set(.closed, finish: true)
    }

    // MARK: Session

    /// The session's state now.
    public var sessionState: SessionState { core.state.current }

    /// The current state, then every change until the client is closed.
    public func sessionStates() -> AsyncStream<SessionState> { core.state.stream() }

    /// The session id, while connected.
    public var sessionID: Int64? {
        gate.withLockedValue { gate -> Int64? in
            guard case .open(let handle) = gate, let id = zoo_client_id(handle.pointer) else { return nil }
            return id.pointee.client_id == 0 ? nil : id.pointee.client_id
        }
    }

    /// Returns once the session is connected; throws if it ends first (`.sessionExpired`,
    /// `.authFailed`, `.closing`) or `.operationTimeout` after `timeout`, if given.
    public func waitUntilConnected(timeout: Duration? = nil) async throws {
        let core = self.core
        let wait: @Sendable () async throws -> Void = {
            for await state in core.state.stream() {
                switch state {
                case .connected: return
                case .expired: throw ZooKeeperError(code: .sessionExpired, operation: .connect)
                case .authFailed: throw ZooKeeperError(code: .authFailed, operation: .connect)
                case .closed: throw ZooKeeperError(code: .closing, operation: .connect)
                case .connecting, .suspended: continue
                }
            }
            try Task.checkCancellation()
            throw ZooKeeperError(code: .closing, operation: .connect)
        }
        guard let timeout else { return try await wait() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await wait() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw ZooKeeperError(code: .operationTimeout, operation: .connect)
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    // MARK: Submitting C calls

    /// Submits one asynchronous C call with a fresh completion box and waits for its reply.
    ///
    /// `call` runs under the gate's lock (so never concurrently with zookeeper_close) and gets
    /// the handle and the box pointer to pass as the completion's `data`. It must only submit.
    func submit(
        _ operation: ZooKeeperError.Operation,
        _ path: String?,
        cancellable: Bool = true,
        _ call: (OpaquePointer, UnsafeRawPointer) -> Int32
    ) async throws -> Reply {
        if cancellable { try Task.checkCancellation() }
        let box = CompletionBox(inFlight: core.inFlight)
        core.inFlight.insert(box)
        let pointer = UnsafeRawPointer(Unmanaged.passRetained(box).toOpaque())
        let rc: Int32 = gate.withLockedValue { gate in
            guard case .open(let handle) = gate else { return ZCLOSING.rawValue }
            return call(handle.pointer, pointer)
        }
        if rc != ZOK.rawValue {
            // Usually not submitted, so the library will not call the completion: give the
            // reference back. ZMARSHALLINGERROR is ambiguous (the completion may have been queued
            // before queueing the request failed): the box stays in flight, for either its
            // completion or the sweep after zookeeper_close to take back.
            if rc != ZMARSHALLINGERROR.rawValue && rc != ZSYSTEMERROR.rawValue {
                core.inFlight.remove(box)
                Unmanaged<CompletionBox>.fromOpaque(pointer).release()
            }
            throw ZooKeeperError(rc: rc, operation, path)
        }
        guard let reply = await box.wait(cancellable: cancellable) else {
            throw CancellationError()
        }
        return reply
    }

    private func check(_ reply: Reply, _ operation: ZooKeeperError.Operation, _ path: String) throws {
        if reply.rc != ZOK.rawValue { throw ZooKeeperError(rc: reply.rc, operation, path) }
    }

    // MARK: Operations

    /// Creates a node and returns its path (for sequential modes, with the counter appended).
    @discardableResult
    public func create(
        _ path: String,
        data: [UInt8] = [],
        mode: CreateMode = .persistent,
        acl: [ACL] = ACL.openUnsafe
    ) async throws -> String {
        let cMode: Int32 = switch mode {
        case .persistent: czk_mode_persistent()
        case .ephemeral: czk_mode_ephemeral()
        case .persistentSequential: czk_mode_persistent_sequential()
        case .ephemeralSequential: czk_mode_ephemeral_sequential()
        }
        let reply = try await submit(.create, path) { handle, box in
            withCACL(acl) { cACL in
                data.withUnsafeBytes { bytes in
                    zoo_acreate(
                        handle, path, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                        Int32(bytes.count), cACL, cMode, zkStringCompletion, box
                    )
                }
            }
        }
        try check(reply, .create, path)
        return reply.string ?? path
    }

    /// The node's data and stat.
    public func get(_ path: String) async throws -> NodeData {
        let reply = try await submit(.get, path) { handle, box in
            zoo_aget(handle, path, 0, zkDataCompletion, box)
        }
        try check(reply, .get, path)
        return NodeData(data: reply.data ?? [], stat: reply.stat ?? Stat())
    }

    /// Replaces the node's data if its version is `version` (any version when `nil`); throws
    /// `.badVersion` otherwise. Returns the new stat.
    @discardableResult
    public func set(_ path: String, data: [UInt8], version: Int32? = nil) async throws -> Stat {
        let reply = try await submit(.set, path) { handle, box in
            data.withUnsafeBytes { bytes in
                zoo_aset(
                    handle, path, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count),
                    version ?? -1, zkStatCompletion, box
                )
            }
        }
        try check(reply, .set, path)
        return reply.stat ?? Stat()
    }

    /// Deletes the node if its version is `version` (any version when `nil`). Throws `.noNode`,
    /// `.badVersion`, `.notEmpty`.
    public func delete(_ path: String, version: Int32? = nil) async throws {
        try await delete(path, version: version, cancellable: true)
    }

    func delete(_ path: String, version: Int32?, cancellable: Bool) async throws {
        let reply = try await submit(.delete, path, cancellable: cancellable) { handle, box in
            zoo_adelete(handle, path, version ?? -1, zkVoidCompletion, box)
        }
        try check(reply, .delete, path)
    }

    /// The names (not paths) of the node's children, in no particular order.
    public func children(_ path: String) async throws -> [String] {
        try await children(path, watch: false)
    }

    /// The node's stat, or `nil` if there is no such node.
    public func exists(_ path: String) async throws -> Stat? {
        try await exists(path, watch: false)
    }

    func children(_ path: String, watch: Bool, cancellable: Bool = true) async throws -> [String] {
        let reply = try await submit(.children, path, cancellable: cancellable) { handle, box in
            zoo_aget_children(handle, path, watch ? 1 : 0, zkStringsCompletion, box)
        }
        try check(reply, .children, path)
        return reply.strings ?? []
    }

    func exists(_ path: String, watch: Bool, cancellable: Bool = true) async throws -> Stat? {
        let reply = try await submit(.exists, path, cancellable: cancellable) { handle, box in
            zoo_aexists(handle, path, watch ? 1 : 0, zkStatCompletion, box)
        }
        if reply.rc == ZNONODE.rawValue { return nil }
        try check(reply, .exists, path)
        return reply.stat
    }

    // MARK: Authentication

    /// Adds authentication information for this session (and its later reconnections).
    /// Throws `.authFailed` if the server rejects it; the session is then unusable.
    public func addAuth(scheme: String, credentials: [UInt8]) async throws {
        let reply = try await submit(.addAuth, scheme) { handle, box in
            credentials.withUnsafeBytes { bytes in
                zoo_add_auth(
                    handle, scheme, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count),
                    zkVoidCompletion, box
                )
            }
        }
        try check(reply, .addAuth, scheme)
    }

    /// `digest` authentication as `user` (matches `ACL.digest(user:password:)` entries).
    public func addDigestAuth(user: String, password: String) async throws {
        try await addAuth(scheme: "digest", credentials: Array("\(user):\(password)".utf8))
    }
}

/// Lends `acl` to the C library as a `struct ACL_vector` for the duration of `body` (the C calls
/// serialise the request before they return).
private func withCACL<R>(_ acl: [ACL], _ body: (UnsafePointer<ACL_vector>) -> R) -> R {
    var strings: [UnsafeMutablePointer<CChar>?] = []
    defer { strings.forEach { free($0) } }
    var entries: [CZooKeeper.ACL] = acl.map { entry in
        let scheme = strdup(entry.scheme)
        let id = strdup(entry.id)
        strings.append(scheme)
        strings.append(id)
        return CZooKeeper.ACL(perms: entry.permissions.rawValue, id: Id(scheme: scheme, id: id))
    }
    return entries.withUnsafeMutableBufferPointer { buffer in
        var vector = ACL_vector(count: Int32(buffer.count), data: buffer.baseAddress)
        return withUnsafePointer(to: &vector) { body($0) }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
