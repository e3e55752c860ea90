import Logging
import NIOConcurrencyHelpers

/// Where a candidate stands in a `LeaderElection`.
public enum Leadership: Sendable, Hashable, CustomStringConvertible {
    /// This candidate is the leader: do the leader's work.
    case leader
    /// Another candidate leads; this one waits for its predecessor to go.
    case follower
    /// Not taking part right now: not yet running, the session is suspended or lost, or the
    /// election ended. Leader's work must stop at once on this.
    case inactive

    public var description: String {
        switch self {
        case .leader: "leader"
        case .follower: "follower"
        case .inactive: "inactive"
        }
    }
}

/// ZooKeeper's leader-election recipe.
///
/// Each candidate creates an ephemeral sequential node `<path>/n_<candidate>_<sequence>`; the
/// lowest sequence leads. Every other candidate watches only its predecessor (the next lower
/// node), so one departure wakes one candidate; the leader watches its own node, and steps down
/// at once if it disappears (deleted by hand) before standing again. Leadership is observable with
/// `leadershipChanges()` and ends (`.inactive`) the moment the session is suspended, expires or
/// is closed: the session-state change is applied synchronously when the C library reports it,
/// before any further ZooKeeper call.
///
/// ```swift
/// let election = LeaderElection(client: zk, path: "/weevent/leader")
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await election.run() }
///     for await leadership in election.leadershipChanges() {
///         if leadership == .leader { startBridge() } else { stopBridge() }
///     }
/// }
/// ```
public final class LeaderElection: Sendable {
    private struct State {
        var started = false
        var finished = false
        var connected = false
        /// Bumped on every session-state change: a conclusion drawn in an older epoch is stale.
        var epoch = 0
        var node: String?
    }

    private enum Input: Sendable {
        case session(SessionState)
        case recheck
    }

    public let client: ZooKeeperClient
    /// The parent of the candidates' nodes (created if missing).
    public let path: String
    /// Stored in this candidate's node, e.g. its host:port, for others to read.
    public let candidateData: [UInt8]
    /// The ACL of the election's nodes (and of its path, when the election creates it).
    public let acl: [ACL]
    /// Unique per election object; part of the node name, so a create whose reply was lost to a
    /// connection loss is found again instead of leaving an orphan candidate.
    private let candidateID: String
    private let state = NIOLockedValueBox(State())
    private let leadershipState = StateBroadcast(Leadership.inactive)
    private let logger: Logger

    public init(client: ZooKeeperClient, path: String, candidateData: [UInt8] = [], acl: [ACL] = ACL.openUnsafe, logger: Logger? = nil) {
        self.client = client
        self.acl = acl
        self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        self.candidateData = candidateData
        self.candidateID = (0..<4).map { _ in String(UInt32.random(in: .min ... .max), radix: 16) }.joined()
        self.logger = logger ?? client.logger
    }

    /// Where this candidate stands now.
    public var leadership: Leadership { leadershipState.current }

    /// The current leadership, then every change; ends when `run()` returns.
    public func leadershipChanges() -> AsyncStream<Leadership> { leadershipState.stream() }

    /// This candidate's node, once created.
    public var candidateNode: String? { state.withLockedValue { $0.node } }

    /// Takes part in the election until the task is cancelled, the client is closed (returns) or
    /// the session expires (throws `.sessionExpired`); then leaves it, deleting this candidate's
    /// node when the session still allows. Connection losses are waited out. Call once.
    public func run() async throws {
        let alreadyStarted = state.withLockedValue { state in
            defer { state.started = true }
            return state.started
        }
        guard !alreadyStarted else {
            throw ZooKeeperError(code: .apiError, operation: .election, path: path)
        }
        let (inputs, inputContinuation) = AsyncStream<Input>.makeStream()
        let observer = client.core.state.addObserver { [self] sessionState in
            self.sessionChanged(sessionState)
            inputContinuation.yield(.session(sessionState))
        }
        var failure: (any Error)?
        do {
            try await withTaskCancellationHandler {
                try await participate(inputs: inputs, continuation: inputContinuation)
            } onCancel: {
                inputContinuation.finish()
            }
        } catch {
            failure = error
        }
        client.core.state.removeObserver(observer)
        inputContinuation.finish()
        let node: String? = state.withLockedValue { state in
            state.finished = true
            state.connected = false
            leadershipState.set(.inactive)
            return state.node
        }
        if let node, client.sessionState == .connected {
            // Resign at once rather than when the session ends.
            try? await client.delete(node, version: nil, cancellable: false)
        }
        leadershipState.set(.inactive, finish: true)
        if let failure, !(failure is CancellationError) {
            throw failure
        }
    }

    /// Called synchronously with every session-state change (on the C library's thread).
    private func sessionChanged(_ sessionState: SessionState) {
        state.withLockedValue { state in
            state.epoch += 1
            state.connected = sessionState == .connected
            if !state.connected {
                leadershipState.set(.inactive)
            }
        }
        if sessionState != .connected {
            logger.debug("leadership dropped", metadata: ["path": "\(path)", "session": "\(sessionState)"])
        }
    }

    /// Publishes `leadership` unless the session changed since `epoch`.
    private func publish(_ leadership: Leadership, epoch: Int) {
        let published = state.withLockedValue { state -> Bool in
            guard state.connected, !state.finished, state.epoch == epoch else { return false }
            leadershipState.set(leadership)
            return true
        }
        if published {
            logger.debug("leadership", metadata: ["path": "\(path)", "leadership": "\(leadership)"])
        }
    }

    private func participate(inputs: AsyncStream<Input>, continuation: AsyncStream<Input>.Continuation) async throws {
        var predecessorWatch: UInt64?
        defer { if let predecessorWatch { client.core.watches.remove(predecessorWatch) } }
        for await input in inputs {
            if case .session(let sessionState) = input {
                switch sessionState {
                case .connected: break
                case .connecting, .suspended: continue
                case .expired: throw ZooKeeperError(code: .sessionExpired, operation: .election, path: path)
                case .authFailed: throw ZooKeeperError(code: .authFailed, operation: .election, path: path)
                case .closed: return
                }
            }
            let epoch: Int? = state.withLockedValue { $0.connected ? $0.epoch : nil }
            guard let epoch else { continue }
            do {
                try await evaluate(epoch: epoch, predecessorWatch: &predecessorWatch, continuation: continuation)
            } catch let error as ZooKeeperError where error.isConnectionProblem {
                continue  // the session input that follows says what to do
            } catch let error as ZooKeeperError where error.code == .closing {
                return
            }
        }
    }

    /// Makes sure this candidate has a node, then leads if it is the lowest or watches its predecessor.
    private func evaluate(epoch: Int, predecessorWatch: inout UInt64?, continuation: AsyncStream<Input>.Continuation) async throws {
        let prefix = "n_\(candidateID)_"
        var node = state.withLockedValue { $0.node }
        var candidates = try await sortedCandidates()
        if node == nil {
            if let mine = candidates.first(where: { $0.hasPrefix(prefix) }) {
                node = "\(path)/\(mine)"
            } else {
                try await client.ensurePath(path, acl: acl)
                node = try await client.create("\(path)/\(prefix)", data: candidateData, mode: .ephemeralSequential, acl: acl)
                candidates = try await sortedCandidates()
            }
            state.withLockedValue { $0.node = node }
        }
        guard let node, let index = candidates.firstIndex(where: { "\(path)/\($0)" == node }) else {
            // Our node is gone (deleted by hand, session trouble): another candidate may lead
            // already, so step down at once, then stand again.
            publish(.follower, epoch: epoch)
            state.withLockedValue { $0.node = nil }
            continuation.yield(.recheck)
            return
        }
        if let previous = predecessorWatch {
            client.core.watches.remove(previous)
            predecessorWatch = nil
        }
        // A follower watches its predecessor; the leader watches its own node, so that losing it
        // (deleted by hand) ends its leadership as soon as another candidate can take it.
        let watched = index == 0 ? node : "\(path)/\(candidates[index - 1])"
        guard
            let owner = client.core.watches.register(
                path: watched,
                handler: { signal in
                    if case .event = signal { continuation.yield(.recheck) }
                })
        else {
            throw ZooKeeperError(code: client.core.watches.endedCode ?? .closing, operation: .election, path: path)
        }
        predecessorWatch = owner
        client.core.watches.markArmed(owner, .data)
        if try await client.exists(watched, watch: true) == nil {
            // Gone before the watch was set: look again.
            continuation.yield(.recheck)
            return
        }
        publish(index == 0 ? .leader : .follower, epoch: epoch)
    }

    /// The candidates' node names, lowest sequence first.
    private func sortedCandidates() async throws -> [String] {
        let names: [String]
        do {
            names = try await client.children(path)
        } catch let error as ZooKeeperError where error.code == .noNode {
            return []
        }
        return Self.ordered(names)
    }

    /// Candidate node names (`n_<candidate>_<sequence>`) in election order, the leader first;
    /// other names are left out.
    public static func ordered(_ names: [String]) -> [String] {
        names
            .compactMap { name -> (sequence: Int64, name: String)? in
                guard name.hasPrefix("n_"), name.count > 10, let sequence = Int64(name.suffix(10)) else { return nil }
                return (sequence, name)
            }
            .sorted { $0.sequence < $1.sequence }
            .map(\.name)
    }
}
