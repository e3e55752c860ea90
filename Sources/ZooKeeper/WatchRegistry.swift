import NIOConcurrencyHelpers

/// What a watch registration hears: a node event, or the end of the session (no more events).
enum WatchSignal: Sendable {
    case event(NodeEvent)
    case ended(ZooKeeperError.Code)
}

/// The Swift side of ZooKeeper's one-shot watches.
///
/// Every watch is set on the server with the handle's default watcher (the `watch` flag of the C
/// calls), so the C library delivers each triggered watch once to `zkGlobalWatcher`, which hands
/// it here. Owners (a `NodeWatch`, a leader election) say which kinds they armed on which path;
/// an event consumes the kinds it triggers and is passed to every owner that had one of them armed.
/// Handlers are called outside the lock and only enqueue.
final class WatchRegistry: Sendable {
    private struct Entry {
        let path: String
        var armed: WatchKinds
        let handler: @Sendable (WatchSignal) -> Void
    }

    private struct Storage {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var ended: ZooKeeperError.Code?
    }

    private let storage = NIOLockedValueBox(Storage())

    /// A new owner for `path`, nothing armed yet; `nil` once the session has ended.
    func register(path: String, handler: @escaping @Sendable (WatchSignal) -> Void) -> UInt64? {
        storage.withLockedValue { storage in
            guard storage.ended == nil else { return nil }
            let id = storage.nextID
            storage.nextID += 1
            storage.entries[id] = Entry(path: path, armed: [], handler: handler)
            return id
        }
    }

    /// The kinds `owner` has armed; `nil` if it was removed or the session ended.
    func armed(_ owner: UInt64) -> WatchKinds? {
        storage.withLockedValue { $0.entries[owner]?.armed }
    }

    /// Marks kinds armed before the C call that sets them, so no event can slip past.
    func markArmed(_ owner: UInt64, _ kinds: WatchKinds) {
        storage.withLockedValue { _ = $0.entries[owner]?.armed.formUnion(kinds) }
    }

    /// The C call failed: the server holds no such watch.
    func markDisarmed(_ owner: UInt64, _ kinds: WatchKinds) {
        storage.withLockedValue { _ = $0.entries[owner]?.armed.subtract(kinds) }
    }

    func remove(_ owner: UInt64) {
        storage.withLockedValue { _ = $0.entries.removeValue(forKey: owner) }
    }

    /// A triggered watch from the C library (ZOO_*_EVENT, chroot-relative path).
    func dispatch(_ kind: NodeEvent.Kind, path: String) {
        let consumed: WatchKinds
        switch kind {
        case .created, .dataChanged: consumed = .data
        case .childrenChanged: consumed = .children
        case .deleted: consumed = .all
        }
        let handlers: [@Sendable (WatchSignal) -> Void] = storage.withLockedValue { storage in
            var handlers: [@Sendable (WatchSignal) -> Void] = []
            for (id, entry) in storage.entries where entry.path == path && !entry.armed.isDisjoint(with: consumed) {
                storage.entries[id]?.armed.subtract(consumed)
                handlers.append(entry.handler)
            }
            return handlers
        }
        let event = WatchSignal.event(NodeEvent(kind: kind, path: path))
        for handler in handlers { handler(event) }
    }

    /// The session is over: every owner hears it once and no owner can register any more.
    func end(_ code: ZooKeeperError.Code) {
        let handlers: [@Sendable (WatchSignal) -> Void] = storage.withLockedValue { storage in
            guard storage.ended == nil else { return [] }
            storage.ended = code
            let handlers = storage.entries.values.map(\.handler)
            storage.entries = [:]
            return handlers
        }
        for handler in handlers { handler(.ended(code)) }
    }

    var endedCode: ZooKeeperError.Code? {
        storage.withLockedValue { $0.ended }
    }
}
