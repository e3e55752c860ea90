import Foundation
import Synchronization
import WeEvent

/// Where bindings live: ZooKeeper when `broker.zookeeper.ip` is set (every instance sees
/// every change), a local file otherwise. The master endpoints and the bridge use only this.
public protocol BindingStore: Sendable {
    /// Every binding now.
    func bindings() async throws -> [Binding]
    /// Adds or replaces the binding with the same key; returns the stored binding
    /// (an existing binding with the same settings is kept as it is, checkpoint included).
    func put(_ binding: Binding) async throws -> Binding
    /// Removes the binding; false if there was none.
    func remove(_ key: Binding.Key) async throws -> Bool
    /// Moves an outbound binding's checkpoint forward (never back within one ledger) to
    /// `position` of ledger `ledgerID`.
    func advanceCheckpoint(_ key: Binding.Key, to position: UInt64, in ledgerID: String) async throws
    /// The full set of bindings after every change, starting with the current one.
    func changes() -> AsyncStream<[Binding]>
}

/// Bindings in one JSON file under `ledger.path`, for a single broker instance.
/// Every change is written to a temporary file, fsynced and renamed over the old one, off the
/// cooperative pool.
public final class LocalBindingStore: BindingStore {
    let path: String
    private let state: Mutex<State>
    private let writer = DispatchQueue(label: "weevent.bindings-file")

    private struct State {
        var bindings: [Binding.Key: Binding] = [:]
        var watchers: [UInt64: AsyncStream<[Binding]>.Continuation] = [:]
        var nextWatcher: UInt64 = 0
    }

    public init(directory: String) throws {
        try PrivateFiles.directory(directory)
        path = directory + "/bindings.json"
        var initial = State()
        if FileManager.default.fileExists(atPath: path) {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            for binding in try JSONDecoder().decode([Binding].self, from: data) {
                initial.bindings[binding.key] = binding
            }
        }
        state = Mutex(initial)
    }

    public func bindings() async throws -> [Binding] {
        state.withLock { Self.sorted($0.bindings) }
    }

    public func put(_ binding: Binding) async throws -> Binding {
        try await update { bindings in
            if let existing = bindings[binding.key], existing.sameSettings(as: binding) { return existing }
            let stored = bindings[binding.key].map { binding.keepingCheckpoint(of: $0) } ?? binding
            bindings[binding.key] = stored
            return stored
        }
    }

    public func remove(_ key: Binding.Key) async throws -> Bool {
        try await update { bindings in bindings.removeValue(forKey: key) != nil }
    }

    public func advanceCheckpoint(_ key: Binding.Key, to position: UInt64, in ledgerID: String) async throws {
        try await update(notify: false) { bindings in
            if let moved = bindings[key]?.advanced(to: position, in: ledgerID) { bindings[key] = moved }
        }
    }

    public func changes() -> AsyncStream<[Binding]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [Binding].self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state in
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = continuation
            continuation.yield(Self.sorted(state.bindings))
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Applies a change, writes the file durably, then tells watchers. Checkpoint moves do not
    /// notify watchers (as in ZooKeeper, where they do not bump the root).
    ///
    /// Changes run one at a time, in order, on `writer`: each costs two fsyncs (the file and its
    /// directory), which must not hold a cooperative thread, and a caught-up outbound binding
    /// moves its checkpoint after every commit. Readers see the previous set until the new one
    /// is durable.
    private func update<T: Sendable>(notify: Bool = true, _ change: @escaping @Sendable (inout [Binding.Key: Binding]) -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            writer.async {
                continuation.resume(with: Result { try self.applyAndPersist(notify: notify, change) })
            }
        }
    }

    /// On `writer` only: no other change runs meanwhile, so the set read here is the newest.
    private func applyAndPersist<T>(notify: Bool, _ change: (inout [Binding.Key: Binding]) -> T) throws -> T {
        let current = state.withLock { $0.bindings }
        var bindings = current
        let result = change(&bindings)
        guard bindings != current else { return result }
        try Self.persist(Self.sorted(bindings), to: path)
        state.withLock { state in
            state.bindings = bindings
            if notify {
                let snapshot = Self.sorted(bindings)
                for watcher in state.watchers.values { watcher.yield(snapshot) }
            }
        }
        return result
    }

    static func sorted(_ bindings: [Binding.Key: Binding]) -> [Binding] {
        bindings.values.sorted { ($0.direction.rawValue, $0.groupId, $0.topic) < ($1.direction.rawValue, $1.groupId, $1.topic) }
    }

    static func persist(_ bindings: [Binding], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(bindings)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw BindingFileError(path: temporary, reason: "cannot open for writing: errno \(errno)") }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == data.count, synced else { throw BindingFileError(path: temporary, reason: "short write or fsync failed") }
        guard rename(temporary, path) == 0 else { throw BindingFileError(path: temporary, reason: "cannot rename to \(path): errno \(errno)") }
        let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}

/// The bindings file could not be written; the change was not saved.
public struct BindingFileError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "bindings file \(path): \(reason)" }
}
