import BrokerConfiguration
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization
import WeEvent

/// The connection pool of the shared ledger, always to the cluster's writable primary.
///
/// `ledger.postgresql.url` may name several servers (a Patroni primary and its standbys). At
/// start-up the store takes the one that answers `pg_is_in_recovery() = false`. While it runs,
/// a watcher asks the current one every `checkInterval`, on a connection of its own, whether it
/// is still a writable primary; when it stops answering or answers that it is a standby (a
/// failover: the old primary died, or came back demoted), every server is asked at once and the
/// pool moves to the one that is the primary now: a new `PostgresClient` takes the requests from
/// then on and the old one is stopped (what was in flight on it fails, and its publishers hear
/// 503). The commit follower reconnects to the new primary (`onSwitch`) and catches up from the
/// stored heads, so live readers go on where they were.
///
/// Nothing here decides which server is the primary: that is the replication manager's (Patroni's)
/// job, which fences the old primary. Two servers answering "writable" at once (a split brain the
/// manager did not prevent) keeps the current one if it is one of them.
final class PrimaryPool: Service, Sendable {
    /// The server the pool talks to now, how many switches led to it, and since when.
    struct Current: Sendable {
        let endpoint: PostgresURL.Endpoint
        let client: PostgresClient
        let generation: Int
        let since: ContinuousClock.Instant
    }

    let url: PostgresURL
    /// How often the watcher asks the current primary whether it still is one.
    let checkInterval: Duration
    let logger: Logger
    private let makeClient: @Sendable (PostgresURL.Endpoint) -> PostgresClient
    private let connectionConfiguration: @Sendable (PostgresURL.Endpoint) -> PostgresConnection.Configuration
    private let state: Mutex<State>
    private let started: AsyncStream<Started>
    private let start: AsyncStream<Started>.Continuation

    private struct State {
        var current: Current
        /// Ends the run of the current client when finished.
        var retire: AsyncStream<Void>.Continuation
        /// Whether the current server answered the watcher's last question as a writable primary.
        var reachable = true
        var onSwitch: [@Sendable () -> Void] = []
    }

    /// A client to run until its `retired` stream ends.
    private struct Started: Sendable {
        let client: PostgresClient
        let retired: AsyncStream<Void>
    }

    init(
        url: PostgresURL, primary: PostgresURL.Endpoint, checkInterval: Duration = .milliseconds(500), logger: Logger,
        makeClient: @escaping @Sendable (PostgresURL.Endpoint) -> PostgresClient,
        connectionConfiguration: @escaping @Sendable (PostgresURL.Endpoint) -> PostgresConnection.Configuration
    ) {
        self.url = url
        self.checkInterval = checkInterval
        self.logger = logger
        self.makeClient = makeClient
        self.connectionConfiguration = connectionConfiguration
        (started, start) = AsyncStream.makeStream(of: Started.self)
        let client = makeClient(primary)
        let (retired, retire) = AsyncStream.makeStream(of: Void.self)
        state = Mutex(State(current: Current(endpoint: primary, client: client, generation: 0, since: .now), retire: retire))
        start.yield(Started(client: client, retired: retired))
    }

    /// The pool of the current primary; requests made on it after a switch fail.
    var client: PostgresClient { state.withLock { $0.current.client } }
    var current: Current { state.withLock { $0.current } }

    /// What admin/status shows of the pool (the standbys are the store's to add).
    var status: SharedStoreStatus {
        let (current, reachable) = state.withLock { ($0.current, $0.reachable) }
        return SharedStoreStatus(
            primary: current.endpoint.description, servers: url.endpoints.map(\.description), reachable: reachable, switches: current.generation,
            sinceSwitch: current.generation > 0 ? .now - current.since : nil
        )
    }

    /// `action` runs after every switch to another server (the commit follower closes its
    /// connection to the old one).
    func onSwitch(_ action: @escaping @Sendable () -> Void) {
        state.withLock { $0.onSwitch.append(action) }
    }

    /// Runs the current client, each new one after a switch, and the watcher, until the service
    /// group shuts down.
    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.watch() }
                for await started in self.started {
                    group.addTask {
                        await withTaskGroup(of: Void.self) { running in
                            running.addTask { await started.client.run() }
                            running.addTask { for await _ in started.retired {} }
                            await running.next()
                            running.cancelAll()
                        }
                    }
                }
            }
        }
    }

    /// Asks the current primary every `checkInterval`, on a connection of its own (a pool busy
    /// with commits would make a healthy primary look silent), whether it still is the writable
    /// primary; looks for the one that is when it is not.
    private func watch() async {
        var lastWarning: ContinuousClock.Instant?
        var probe: (endpoint: PostgresURL.Endpoint, connection: PostgresConnection)?
        while !Task.isCancelled {
            try? await Task.sleep(for: checkInterval)
            if Task.isCancelled { break }
            let current = self.current
            if let open = probe, open.endpoint != current.endpoint {
                try? await open.connection.close()
                probe = nil
            }
            var answer: Bool?
            do {
                let connection: PostgresConnection
                if let open = probe {
                    connection = open.connection
                } else {
                    // The connect's own timeout, not a deadline around it: a connection that came
                    // after a deadline gave up on it would go unclosed.
                    var configuration = connectionConfiguration(current.endpoint)
                    configuration.options.connectTimeout = .seconds(1)
                    connection = try await PostgresConnection.connect(configuration: configuration, id: 3, logger: logger)
                    probe = (current.endpoint, connection)
                }
                let logger = self.logger
                answer = try await withStoreDeadline(checkInterval * 2, "asking \(current.endpoint) whether it is the primary") {
                    try await Self.inRecovery(connection, logger: logger)
                }
            } catch {
                if let open = probe { try? await open.connection.close() }
                probe = nil
            }
            state.withLock { $0.reachable = answer == false }
            if answer == false { continue }
            let found = await locate(within: checkInterval * 4)
            guard let found else {
                if lastWarning.map({ .now - $0 >= .seconds(10) }) ?? true {
                    lastWarning = .now
                    logger.warning(
                        "no writable PostgreSQL primary among the configured servers; publishes fail with 503 until one is",
                        metadata: ["servers": "\(url.endpoints.map(\.description).joined(separator: ","))", "was": "\(current.endpoint)"])
                }
                continue
            }
            if found != current.endpoint { switchTo(found, from: current) }
        }
        // A connection must be closed before it goes (PostgresNIO insists).
        if let open = probe { try? await open.connection.close() }
    }

    /// Moves the pool to `endpoint`: a new client takes requests, the old one stops.
    private func switchTo(_ endpoint: PostgresURL.Endpoint, from old: Current) {
        let client = makeClient(endpoint)
        let (retired, retire) = AsyncStream.makeStream(of: Void.self)
        let (previous, actions) = state.withLock { state -> (AsyncStream<Void>.Continuation, [@Sendable () -> Void]) in
            let previous = state.retire
            state.current = Current(endpoint: endpoint, client: client, generation: old.generation + 1, since: .now)
            state.retire = retire
            state.reachable = true
            return (previous, state.onSwitch)
        }
        start.yield(Started(client: client, retired: retired))
        previous.finish()
        logger.warning(
            "the PostgreSQL primary changed; the ledger writes to the new one",
            metadata: ["primary": "\(endpoint)", "was": "\(old.endpoint)", "switches": "\(old.generation + 1)"])
        for action in actions { action() }
    }

    /// Asks every server at once which of them is a writable primary; the current one when it is
    /// one of them, else the first in the URL's order; nil when none answers so within `timeout`.
    func locate(within timeout: Duration) async -> PostgresURL.Endpoint? {
        let answers = await Self.ask(url, within: timeout, logger: logger, configuration: connectionConfiguration)
        let writable = Set(url.endpoints.filter { (try? answers[$0]?.get()) == false })
        if writable.count > 1 {
            logger.error(
                "more than one PostgreSQL server claims to be the writable primary; keeping the current one if it is among them",
                metadata: ["writable": "\(writable.map(\.description).sorted().joined(separator: ","))"])
        }
        let current = self.current.endpoint
        if writable.contains(current) { return current }
        return url.endpoints.first { writable.contains($0) }
    }

    /// Start-up: finds the writable primary among the servers and opens a connection to it,
    /// round after round, until that succeeds or `timeout` is up. A round asks every server; the
    /// connection is checked to be a primary's still (one lost or demoted meanwhile is looked for
    /// anew). The error says what each server answered last, or why the primary found could not
    /// be reached.
    static func connectToPrimary(
        _ url: PostgresURL, within timeout: Duration, logger: Logger,
        configuration: @escaping @Sendable (PostgresURL.Endpoint) -> PostgresConnection.Configuration
    ) async throws -> (PostgresURL.Endpoint, PostgresConnection) {
        let deadline = ContinuousClock.now + timeout
        var failures = 0
        while true {
            try Task.checkCancellation()
            let answers = await ask(url, within: .seconds(10), logger: logger, configuration: configuration)
            let problem: String
            let warning: Logger.Message
            if let primary = url.endpoints.first(where: { (try? answers[$0]?.get()) == false }) {
                do {
                    let connection = try await PostgresConnection.connect(configuration: configuration(primary), id: 0, logger: logger)
                    do {
                        if try await inRecovery(connection, logger: logger) { throw LedgerStoreError("\(primary) became a standby") }
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    if failures > 0 { logger.info("PostgreSQL primary reachable", metadata: ["primary": "\(primary)"]) }
                    return (primary, connection)
                } catch {
                    problem = "cannot reach PostgreSQL at \(primary) within \(timeout): \(PostgresBlockWriter.describe(error))"
                    warning = "PostgreSQL primary not reachable yet; looking again"
                }
            } else {
                let reasons = url.endpoints.map { endpoint -> String in
                    switch answers[endpoint] {
                    case .success(true): "\(endpoint) is a standby (read-only)"
                    case .failure(let error): "\(endpoint): \(PostgresBlockWriter.describe(error))"
                    default: "\(endpoint): no answer"
                    }
                }.joined(separator: "; ")
                problem = "no writable PostgreSQL primary at \(url) in time: \(reasons)"
                warning = "no writable PostgreSQL primary yet; retrying"
            }
            failures += 1
            guard ContinuousClock.now < deadline else { throw LedgerStoreError(problem) }
            logger.warning(warning, metadata: ["url": "\(url)", "attempt": "\(failures)", "problem": "\(problem)"])
            await PostgresLedgerStore.reconnecting.pause(afterFailures: failures)
        }
    }

    /// Every server asked at once, on a new connection each, whether it is in recovery (a
    /// standby), within `timeout`: its answer or why there was none.
    private static func ask(
        _ url: PostgresURL, within timeout: Duration, logger: Logger,
        configuration: @escaping @Sendable (PostgresURL.Endpoint) -> PostgresConnection.Configuration
    ) async -> [PostgresURL.Endpoint: Result<Bool, any Error>] {
        await withTaskGroup(of: (PostgresURL.Endpoint, Result<Bool, any Error>).self) { group in
            for endpoint in url.endpoints {
                group.addTask {
                    do {
                        let inRecovery = try await withStoreDeadline(timeout, "asking \(endpoint) whether it is the primary") {
                            let connection = try await PostgresConnection.connect(configuration: configuration(endpoint), id: 2, logger: logger)
                            do {
                                let answer = try await Self.inRecovery(connection, logger: logger)
                                try? await connection.close()
                                return answer
                            } catch {
                                try? await connection.close()
                                throw error
                            }
                        }
                        return (endpoint, .success(inRecovery))
                    } catch {
                        return (endpoint, .failure(error))
                    }
                }
            }
            var answers: [PostgresURL.Endpoint: Result<Bool, any Error>] = [:]
            for await (endpoint, answer) in group { answers[endpoint] = answer }
            return answers
        }
    }

    /// `pg_is_in_recovery()`: whether the server is a standby.
    static func inRecovery(_ connection: PostgresConnection, logger: Logger) async throws -> Bool {
        var inRecovery = true
        for try await value in try await connection.query("SELECT pg_is_in_recovery()", logger: logger).decode(Bool.self) {
            inRecovery = value
        }
        return inRecovery
    }
}
