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
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
