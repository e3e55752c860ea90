import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WeEvent
import ZooKeeper

/// This instance's place in the cluster (DESIGN §7): one ZooKeeper session at a time,
/// `/nodes/<host:port>` while it lives, a candidate in `/leader`, and leadership for the
/// bridge. An expired session is replaced by a new one (new registration, new candidacy);
/// leadership ends the moment the session is suspended or lost.
///
/// What lives under the root besides `/nodes` and `/leader` belongs to its users (bindings,
/// subscriptions, bridge counters), mostly as `WatchedDocuments`.
public final class ZooKeeperCoordinator: Service, LeadershipSource {
    public let hosts: String
    public let root: String
    public let instance: String
    let sessionTimeout: Duration
    /// `broker.zookeeper.auth`: the digest credentials every session authenticates with.
    let credentials: (user: String, password: String)?
    /// The ACL of every node this broker creates: only the configured credentials may read or
    /// write them (ZooKeeper's `auth` scheme); anyone, when no credentials are configured.
    public let acl: [ACL]
    let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var client: ZooKeeperClient?
        var clientWaiters: [CheckedContinuation<ZooKeeperClient, Never>] = []
        var leading = false
        var watchers: [Int: AsyncStream<Bool>.Continuation] = [:]
        var nextWatcher = 0
    }

    public init(
        hosts: String, root: String, instance: String, sessionTimeout: Duration,
        credentials: (user: String, password: String)? = nil, logger: Logger
    ) {
        self.credentials = credentials
        self.acl = credentials == nil ? ACL.openUnsafe : ACL.creatorAll
        self.hosts = hosts
        self.root = root == "/" ? "" : root
        self.instance = instance
        self.sessionTimeout = sessionTimeout
        var logger = logger
        logger[metadataKey: "component"] = "zookeeper"
        self.logger = logger
    }

    public var isLeading: Bool { state.withLock { $0.leading } }

    public var nodesPath: String { root + "/nodes" }
    public var leaderPath: String { root + "/leader" }

    public func leadershipChanges() -> AsyncStream<Bool> {
        let (stream, continuation) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(8))
        let id = state.withLock { state in
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = continuation
            continuation.yield(state.leading)
            return id
        }
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) } }
        return stream
    }

    private func setLeading(_ leading: Bool) {
        state.withLock { state in
            guard state.leading != leading else { return }
            state.leading = leading
            for watcher in state.watchers.values { watcher.yield(leading) }
        }
    }

    /// The current session's client, waiting for one when there is none.
    public func client() async -> ZooKeeperClient {
        await withCheckedContinuation { continuation in
            let ready: ZooKeeperClient? = state.withLock { state in
                if let client = state.client { return client }
                state.clientWaiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Runs a request's ZooKeeper operations on a connected session (waiting up to the session
    /// timeout for one); ZooKeeper failures become a `CoordinationError` with their reason.
    public func request<T>(_ body: (ZooKeeperClient) async throws -> T) async throws -> T {
        let client = try await connectedClient(waiting: true)
        do {
            return try await body(client)
        } catch let error as ZooKeeperError {
            throw CoordinationError("ZooKeeper at \(hosts): \(error)")
        }
    }

    /// `read()` once now and again whenever the data of the node at `path` changes, across
    /// sessions, for as long as the stream is consumed. Stores bump that node's data on every
    /// change, so one watch sees them all.
    public func snapshots<T: Sendable>(
        watching path: String, what: String, read: @escaping @Sendable (ZooKeeperClient) async throws -> T
    ) -> AsyncStream<T> {
        let (stream, continuation) = AsyncStream.makeStream(of: T.self, bufferingPolicy: .bufferingNewest(1))
        let logger = self.logger
        // The watch loop lives as long as its consumer: cancelled when the stream is dropped.
        let task = Task {
            var failures = 0
            while !Task.isCancelled {
                let client = await self.client()
                do {
                    try await client.ensurePath(path, acl: self.acl)
                    let watch = try await client.watch(path, for: .data)
                    failures = 0
                    continuation.yield(try await read(client))
                    for try await _ in watch {
                        continuation.yield(try await read(client))
                    }
                } catch {
                    failures += 1
                    logger.warning("watching \(what) failed; watching again", metadata: ["error": "\(error)"])
                    await Backoff().pause(afterFailures: failures)
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The current client if there is a connected session, for requests that must not wait.
    public func connectedClient() throws(CoordinationError) -> ZooKeeperClient {
        guard let client = state.withLock({ $0.client }), client.sessionState == .connected else {
            throw CoordinationError("no ZooKeeper session with \(hosts)")
        }
        return client
    }

    /// The data of the node `<root>/<name>` now: nil without a connected session (nobody waits
    /// for one) or when there is no such node.
    public func currentData(of name: String) async -> [UInt8]? {
        guard let client = try? connectedClient(), let node = try? await client.get(root + "/" + name) else { return nil }
        return node.data
    }

    /// Sets the data of the node `<root>/<name>`, creating it (with the cluster's ACL) when absent.
    /// `CoordinationError` without a connected session; the session's error when the write fails.
    public func setData(of name: String, to data: [UInt8]) async throws {
        let client = try connectedClient()
        let path = root + "/" + name
        do {
            try await client.set(path, data: data)
        } catch let error as ZooKeeperError where error.code == .noNode {
            try await client.create(path, data: data, acl: acl)
        }
    }

    /// The cluster as ZooKeeper sees it now: the registered instances and the elected leader
    /// (the candidate with the lowest sequence). nil without a connected session.
    public func members() async -> (instances: [String], leader: String?)? {
        guard let client = try? connectedClient(), let nodes = try? await client.children(nodesPath),
            let candidates = try? await client.children(leaderPath)
        else { return nil }
        var leader: String?
        if let first = LeaderElection.ordered(candidates).first, let node = try? await client.get(leaderPath + "/" + first) {
            leader = String(decoding: node.data, as: UTF8.self)
        }
        return (nodes.compactMap(NodeName.decode).sorted(), leader)
    }

    /// A connected client, waiting up to the session timeout for one (start-up, a reconnect);
    /// a `CoordinationError` when there is still none.
    public func connectedClient(waiting: Bool) async throws(CoordinationError) -> ZooKeeperClient {
        let deadline = ContinuousClock.now + sessionTimeout
        while true {
            if let client = try? connectedClient() { return client }
            if !waiting || ContinuousClock.now >= deadline { return try connectedClient() }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    private func publish(_ client: ZooKeeperClient?) {
        let waiters = state.withLock { state in
            state.client = client
            guard client != nil else { return [CheckedContinuation<ZooKeeperClient, Never>]() }
            defer { state.clientWaiters = [] }
            return state.clientWaiters
        }
        if let client { for waiter in waiters { waiter.resume(returning: client) } }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    try await self.session()
                    failures = 0
                } catch is CancellationError {
                    break
                } catch {
                    failures += 1
                    self.setLeading(false)
                    self.logger.error(
                        "ZooKeeper session ended; starting a new one",
                        metadata: [
                            "hosts": "\(self.hosts)", "error": "\(error)", "attempt": "\(failures)",
                        ])
                    await Backoff().pause(afterFailures: failures)
                }
            }
        }
        setLeading(false)
        logger.info("left the cluster", metadata: ["instance": "\(instance)"])
    }

    /// One session: register, stand for election, follow leadership until the session ends.
    private func session() async throws {
        let client = try await ZooKeeperClient.connect(to: hosts, sessionTimeout: sessionTimeout, logger: logger)
        defer { publish(nil) }
        do {
            if let credentials { try await client.addDigestAuth(user: credentials.user, password: credentials.password) }
            for path in [nodesPath, leaderPath] {
                try await client.ensurePath(path, acl: acl)
            }
            let node = nodesPath + "/" + NodeName.encode(instance)
            do {
                try await client.create(node, data: Array(instance.utf8), mode: .ephemeral, acl: acl)
            } catch let error as ZooKeeperError where error.code == .nodeExists {
                // Left by this instance's previous session, which ZooKeeper has not expired yet.
                try? await client.delete(node)
                try await client.create(node, data: Array(instance.utf8), mode: .ephemeral, acl: acl)
            }
            logger.info("joined the cluster", metadata: ["instance": "\(instance)", "hosts": "\(hosts)"])
            publish(client)
            let election = LeaderElection(client: client, path: leaderPath, candidateData: Array(instance.utf8), acl: acl, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await election.run() }
                group.addTask {
                    for await leadership in election.leadershipChanges() {
                        self.logger.info("leadership", metadata: ["state": "\(leadership)", "instance": "\(self.instance)"])
                        self.setLeading(leadership == .leader)
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            setLeading(false)
            await client.close()
            throw error
        }
        setLeading(false)
        await client.close()
        if Task.isCancelled { throw CancellationError() }
    }
}
