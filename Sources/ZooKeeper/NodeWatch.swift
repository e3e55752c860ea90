/// Changes of one node as an async sequence, re-arming ZooKeeper's one-shot watches as it goes.
///
/// Obtained from `ZooKeeperClient.watch(_:for:)`, which returns once the watches are set: every
/// change after that is reported. After each event the watches are set again *before* the event
/// is returned, so reading the node's state in the loop body never misses a later change (several
/// changes in between may be reported as one event, as ZooKeeper does).
///
/// A connection loss does not end the sequence (ZooKeeper re-registers watches on reconnection);
/// it ends normally when the client is closed and throws `.sessionExpired` when the session
/// expires. One consumer per sequence.
public struct NodeWatch: AsyncSequence, Sendable {
    public typealias Element = NodeEvent

    let client: ZooKeeperClient
    let owner: UInt64
    public let path: String
    public let kinds: WatchKinds
    let events: AsyncThrowingStream<NodeEvent, any Error>

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(client: client, owner: owner, path: path, kinds: kinds, events: events.makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let client: ZooKeeperClient
        let owner: UInt64
        let path: String
        let kinds: WatchKinds
        var events: AsyncThrowingStream<NodeEvent, any Error>.AsyncIterator

        public mutating func next() async throws -> NodeEvent? {
            while let event = try await events.next() {
                try await client.armWatch(owner: owner, path: path, kinds: kinds)
                if kinds.reports(event.kind) { return event }
            }
            return nil
        }
    }
}

extension ZooKeeperClient {
    /// Watches `path` (which need not exist yet) for the given kinds of change; see `NodeWatch`.
    public func watch(_ path: String, for kinds: WatchKinds = .all) async throws -> NodeWatch {
        let (events, continuation) = AsyncThrowingStream<NodeEvent, any Error>.makeStream()
        let registered = core.watches.register(path: path) { signal in
            switch signal {
            case .event(let event):
                continuation.yield(event)
            case .ended(let code) where code == .closing:
                continuation.finish()
            case .ended(let code):
                continuation.finish(throwing: ZooKeeperError(code: code, operation: .watch, path: path))
            }
        }
        guard let owner = registered else {
            throw ZooKeeperError(code: core.watches.endedCode ?? .closing, operation: .watch, path: path)
        }
        let watches = core.watches
        continuation.onTermination = { _ in watches.remove(owner) }
        do {
            try await armWatch(owner: owner, path: path, kinds: kinds)
        } catch {
            watches.remove(owner)
            throw error
        }
        return NodeWatch(client: self, owner: owner, path: path, kinds: kinds, events: events)
    }

    /// Sets the watches `owner` needs on `path` and does not hold yet. The exists watch is always
    /// set (it reports creation, data changes and deletion, existing node or not); the children
    /// watch when asked for and the node exists. Waits out connection losses.
    func armWatch(owner: UInt64, path: String, kinds: WatchKinds) async throws {
        while true {
            do {
                try await armWatchOnce(owner: owner, path: path, kinds: kinds)
                return
            } catch let error as ZooKeeperError where error.isConnectionProblem {
                try await waitUntilConnected()
            }
        }
    }

    private func armWatchOnce(owner: UInt64, path: String, kinds: WatchKinds) async throws {
        guard let armed = core.watches.armed(owner) else {
            throw ZooKeeperError(code: core.watches.endedCode ?? .closing, operation: .watch, path: path)
        }
        if !armed.contains(.data) {
            core.watches.markArmed(owner, .data)
            do {
                _ = try await exists(path, watch: true)
            } catch {
                core.watches.markDisarmed(owner, .data)
                throw error
            }
        }
        if kinds.contains(.children) && !armed.contains(.children) {
            core.watches.markArmed(owner, .children)
            do {
                _ = try await children(path, watch: true)
            } catch let error as ZooKeeperError where error.code == .noNode {
                // No node, no children watch: the exists watch reports its creation.
                core.watches.markDisarmed(owner, .children)
            } catch {
                core.watches.markDisarmed(owner, .children)
                throw error
            }
        }
    }
}
