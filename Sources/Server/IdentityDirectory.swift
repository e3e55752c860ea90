import Foundation
import Ledger
import Logging
import ServiceLifecycle
import Synchronization
import WeEvent

/// The identities this instance answers with: the store's, held in memory by token digest and
/// reloaded when the store's revision moves. Changes made here are read back at once; changes
/// made on another instance of a cluster are noticed by polling the revision every
/// `pollInterval` (a revoked token is refused everywhere within about that time).
public final class IdentityDirectory: Service {
    let store: any IdentityStore
    let pollInterval: Duration
    private let logger: Logger
    private let state = Mutex<Snapshot?>(nil)
    private let failures = RateLimitedLog()
    /// Told how many identities there are once they were first read by `run`.
    private let onFirstLoad: (@Sendable (Int) -> Void)?

    struct Snapshot {
        var revision: Int64
        var byDigest: [[UInt8]: Identity]
        var byName: [String: Identity]
    }

    public init(
        store: any IdentityStore, pollInterval: Duration = .milliseconds(100), logger: Logger = Logger(label: "weevent.identities"),
        onFirstLoad: (@Sendable (Int) -> Void)? = nil
    ) {
        self.store = store
        self.onFirstLoad = onFirstLoad
        self.pollInterval = pollInterval
        self.logger = logger
    }

    /// The current snapshot, loaded from the store on first use.
    private func snapshot() async throws -> Snapshot {
        if let loaded = state.withLock({ $0 }) { return loaded }
        return try await reload()
    }

    /// Reads every identity again, unless the revision is the one held.
    @discardableResult
    func reload(ifChangedFrom held: Int64? = nil) async throws -> Snapshot {
        if let held, let current = state.withLock({ $0 }), try await store.revision() == held { return current }
        let (revision, identities) = try await store.load()
        let snapshot = Snapshot(
            revision: revision,
            byDigest: Dictionary(identities.map { ($0.tokenDigest, $0) }, uniquingKeysWith: { first, _ in first }),
            byName: Dictionary(identities.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        )
        state.withLock { held in
            // Never step back to an older revision read concurrently.
            if let current = held, current.revision > snapshot.revision { return }
            held = snapshot
        }
        return snapshot
    }

    /// Looked up under the lock, without copying the snapshot: done on every request.
    func identity(digest: [UInt8]) async throws -> Identity? {
        if let found = state.withLock({ held in held.map { $0.byDigest[digest] } }) { return found }
        return try await snapshot().byDigest[digest]
    }

    func identity(named name: String) async throws -> Identity? {
        try await snapshot().byName[name]
    }

    func isEmpty() async throws -> Bool {
        try await snapshot().byName.isEmpty
    }

    public func count() async throws -> Int {
        try await snapshot().byName.count
    }

    func all() async throws -> [Identity] {
        try await snapshot().byName.values.sorted { $0.name < $1.name }
    }

    // MARK: Changes, read back at once

    func add(_ identity: Identity) async throws -> Bool {
        let added = try await store.add(identity)
        try await reload()
        return added
    }

    func update(name: String, _ change: @escaping @Sendable (inout Identity) throws -> Void) async throws -> Identity? {
        let changed = try await store.update(name: name, change)
        try await reload()
        return changed
    }

    func remove(name: String) async throws -> Bool {
        let removed = try await store.remove(name: name)
        try await reload()
        return removed
    }

    /// Polls the store's revision until shutdown. A store that cannot be read leaves the last
    /// snapshot in force, logged at most every ten seconds.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var told = false
            while !Task.isCancelled {
                do {
                    let held = self.state.withLock { $0?.revision }
                    let snapshot = try await self.reload(ifChangedFrom: held)
                    if !told {
                        told = true
                        self.onFirstLoad?(snapshot.byName.count)
                    }
                } catch {
                    self.failures.notice(self.logger, "reading the identities failed; the last ones read stay in force", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: self.pollInterval)
            }
        }
    }
}
