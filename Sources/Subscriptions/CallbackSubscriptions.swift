import Foundation
import Cluster
import Ledger
import Logging
import ServiceLifecycle
import Synchronization
import WeEvent

/// WeEvent's callback subscriptions: the events of a topic filter are POSTed to a URL as
/// `{"event":{...},"subscriptionId":..}` (`CallbackBody`), one at a time, in ledger order, at least once.
///
/// A failed POST (connection refused, timeout, non-2xx) is retried with backoff until it
/// succeeds or the subscription is removed; the position is saved in the `SubscriptionStore`
/// after each delivered batch and at shutdown, so a restart goes on from there (an event
/// delivered just before a crash may come again). Delivery goes through AsyncHTTPClient under a
/// `CallbackPolicy`: no callback to loopback, private or link-local addresses unless allowed,
/// no redirects, a deadline per POST, a capped answer, a capped number of subscriptions.
///
/// Several instances (ZooKeeper store): every instance accepts subscribe, unSubscribe and
/// listSubscription, and sees the others' changes through the store's watch; only the leader
/// (`LeadershipSource`, the election the MQTT bridge uses) delivers, so a subscription is
/// delivered by one instance at a time and the next leader takes it over from the stored
/// position. A position counts in one ledger (`Subscription.ledgerID`): a leader whose ledger
/// is another one (embedded ledgers, one per instance) starts at its own events sealed since
/// the subscription was created, since the stored position means nothing in its ledger.
///
/// A `Service`: `run()` follows the store and leadership; while leading, one delivery loop per
/// subscription runs in a task group; on graceful shutdown the loops save their positions and end.
public final class CallbackSubscriptions: Service, Sendable {
    public struct Status: Sendable {
        public var subscription: Subscription
        public var failedAttempts: UInt64
        public var lastError: String?
        public var lastEventID: String?
    }

    // Entry, State, state and merge are not private: CallbackSubscriptions+Delivery.swift uses them.
    struct Entry {
        var subscription: Subscription
        var failedAttempts: UInt64 = 0
        var lastError: String?
        var lastEventID: String?
        var tail: EventTail?
        /// This instance runs the subscription's delivery loop (its position is ahead of the store's).
        var delivering = false
    }

    struct State {
        var entries: [String: Entry] = [:]
        /// Starts delivery loops in the current leadership term; nil while not leading.
        var starter: AsyncStream<String>.Continuation?
    }

    /// How deliveries are retried: the pause between attempts.
    public struct Retry: Sendable {
        public var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(2))
        public init() {}
    }

    let ledgers: LedgerSet
    let store: any SubscriptionStore
    let leadership: any LeadershipSource
    let logger: Logger
    let retry: Retry
    let policy: CallbackPolicy
    let state = Mutex(State())

    /// Nothing is read here: the store is read when delivery starts (each leadership term), when
    /// another instance changes it (`changes()`), and on demand (an id this instance does not
    /// know yet, listSubscription while not delivering), so requests work before `run()` too.
    public init(
        ledgers: LedgerSet, store: any SubscriptionStore, leadership: any LeadershipSource = SingleInstanceLeadership(),
        policy: CallbackPolicy = CallbackPolicy(), retry: Retry = Retry(), logger: Logger
    ) {
        self.ledgers = ledgers
        self.store = store
        self.leadership = leadership
        self.policy = policy
        self.retry = retry
        self.logger = logger
    }

    // MARK: the API of rest/subscribe, rest/unSubscribe, admin/listSubscription

    /// Creates a subscription starting after `position` of ledger `ledgerID`, or, with `id`,
    /// resumes an existing one (its position is kept).
    /// 100504 unknown id, 100507 id of another topic, group or URL, 100509 a URL callbacks may
    /// not reach, 100508 when `subscription.max-count` subscriptions exist.
    public func subscribe(
        groupID: String, filter: TopicFilter, url: String, id: String?, position: UInt64, ledgerID: String
    ) async throws -> String {
        guard let target = URL(string: url) else { throw WeEventError(.urlInvalid, detail: CallbackURL.logged(url)) }
        _ = try await policy.check(target)
        if let id {
            guard let existing = try await known(id) else { throw WeEventError(.subscriptionIdNotExist, detail: id) }
            guard existing.groupID == groupID, existing.topic == filter.description else {
                throw WeEventError(.subscriptionIdAlreadyExist, detail: "\(id) is for topic \(existing.topic) in group \(existing.groupID)")
            }
            // Knowing an id is no licence to take its deliveries: a subscription keeps its URL.
            guard existing.url == url else {
                throw WeEventError(
                    .subscriptionIdAlreadyExist,
                    message: "subscription \(id) delivers to another url; to move it, unSubscribe it and subscribe again with offset=<its last event id>",
                    detail: "asked for \(CallbackURL.logged(url))"
                )
            }
            return id
        }
        let subscription = Subscription(
            id: UUID().uuidString.lowercased(), groupID: groupID, topic: filter.description, url: url,
            position: position, createdTimestamp: Int64(Date().timeIntervalSince1970 * 1000), ledgerID: ledgerID
        )
        // Counted by the store in the same step as the insert: subscriptions made at the same
        // moment, here or on other instances, cannot pass the limit together.
        guard try await store.add(subscription, limit: policy.maxCount) else {
            throw WeEventError(
                .subscriptionLimitReached,
                message: "too many subscriptions: subscription.max-count is \(policy.maxCount) and that many exist"
            )
        }
        state.withLock { $0.entries[subscription.id] = Entry(subscription: subscription) }
        startDelivery(subscription.id)
        logger.info(
            "subscription created",
            metadata: [
                "subscription": "\(subscription.id)", "topic": "\(subscription.topic)", "url": "\(CallbackURL.logged(url))",
            ])
        return subscription.id
    }

    /// Removes a subscription; its delivery stops before the next POST (on the delivering
    /// instance once it sees the change). 100504 when unknown.
    public func unsubscribe(id: String) async throws {
        guard try await known(id) != nil, let removed = state.withLock({ $0.entries.removeValue(forKey: id) }) else {
            throw WeEventError(.subscriptionIdNotExist, detail: id)
        }
        removed.tail?.close()
        try await store.remove(id: id)
        logger.info("subscription removed", metadata: ["subscription": "\(id)"])
    }

    /// The subscription `id`, reading the store when this instance does not know it (yet): made
    /// on another instance a moment ago, or asked for before delivery read the store.
    /// The subscription `id`, read from the store when this instance does not hold it.
    public func subscription(id: String) async throws -> Subscription? {
        try await known(id)
    }

    private func known(_ id: String) async throws -> Subscription? {
        if let local = state.withLock({ $0.entries[id]?.subscription }) { return local }
        merge(try await store.load())
        return state.withLock { $0.entries[id]?.subscription }
    }

    /// Every subscription. An instance that does not deliver reads the positions from the
    /// store first (the deliverer saves them after each batch).
    public func list() async -> [Status] {
        let delivering = state.withLock { $0.starter != nil }
        if !delivering, let stored = try? await store.load() { merge(stored) }
        return state.withLock { state in
            state.entries.values
                .sorted { ($0.subscription.createdTimestamp, $0.subscription.id) < ($1.subscription.createdTimestamp, $1.subscription.id) }
                .map { Status(subscription: $0.subscription, failedAttempts: $0.failedAttempts, lastError: $0.lastError, lastEventID: $0.lastEventID) }
        }
    }

    /// Takes the store's view: new subscriptions start (when leading), removed ones stop,
    /// URLs follow; positions too, for subscriptions this instance is not delivering.
    func merge(_ stored: [Subscription]) {
        let (added, stopped) = state.withLock { state -> ([String], [EventTail]) in
            let ids = Set(stored.map(\.id))
            var stopped: [EventTail] = []
            for (id, entry) in state.entries where !ids.contains(id) {
                if let tail = entry.tail { stopped.append(tail) }
                state.entries[id] = nil
            }
            var added: [String] = []
            for subscription in stored {
                guard var entry = state.entries[subscription.id] else {
                    state.entries[subscription.id] = Entry(subscription: subscription)
                    added.append(subscription.id)
                    continue
                }
                entry.subscription.url = subscription.url
                if !entry.delivering {
                    entry.subscription.position = subscription.position
                    entry.subscription.delivered = subscription.delivered
                    entry.subscription.ledgerID = subscription.ledgerID
                }
                state.entries[subscription.id] = entry
            }
            return (added, stopped)
        }
        for tail in stopped { tail.close() }
        for id in added { startDelivery(id) }
    }

    private func startDelivery(_ id: String) {
        _ = state.withLock { $0.starter }?.yield(id)
    }
}
