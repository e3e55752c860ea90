import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Ledger
import Logging
import ServiceLifecycle
import Synchronization
import WeEvent

/// WeEvent's callback subscriptions: the events of a topic filter are POSTed to a URL as
/// `{"subscriptionId":..,"event":{...}}`, one at a time, in ledger order, at least once.
///
/// A failed POST (connection refused, timeout, non-2xx) is retried with backoff until it
/// succeeds or the subscription is removed; the position is saved in the `SubscriptionStore`
/// after each delivered batch and at shutdown, so a restart goes on from there (an event
/// delivered just before a crash may come again). Delivery goes through URLSession, which on
/// Linux is libcurl (FoundationNetworking).
///
/// A `Service`: `run()` owns one delivery loop per subscription in a task group; on graceful
/// shutdown the loops are cancelled, save their positions and end.
public final class CallbackSubscriptions: Service, Sendable {
    public struct Status: Sendable {
        public var subscription: Subscription
        public var failedAttempts: UInt64
        public var lastError: String?
        public var lastEventID: String?
    }

    private struct Entry {
        var subscription: Subscription
        var failedAttempts: UInt64 = 0
        var lastError: String?
        var lastEventID: String?
        var tail: EventTail?
    }

    /// Backoff between attempts: `initial`, doubled each time, at most `maximum`.
    public struct Retry: Sendable {
        public var initial: Duration = .milliseconds(200)
        public var maximum: Duration = .seconds(2)
        public var requestTimeout: TimeInterval = 10
        public init() {}

        func delay(_ attempt: Int) -> Duration {
            min(initial * (1 << min(attempt, 20)), maximum)
        }
    }

    let ledgers: LedgerSet
    let store: any SubscriptionStore
    let logger: Logger
    let retry: Retry
    private let session: URLSession
    private let entries: Mutex<[String: Entry]>
    private let initialIDs: [String]
    private let starts: AsyncStream<String>
    private let startContinuation: AsyncStream<String>.Continuation

    /// Loads the stored subscriptions; their delivery starts when the service runs.
    public static func open(ledgers: LedgerSet, store: any SubscriptionStore, retry: Retry = Retry(), logger: Logger) async throws -> CallbackSubscriptions {
        let stored = try await store.load()
        return CallbackSubscriptions(ledgers: ledgers, store: store, stored: stored, retry: retry, logger: logger)
    }

    private init(ledgers: LedgerSet, store: any SubscriptionStore, stored: [Subscription], retry: Retry, logger: Logger) {
        self.ledgers = ledgers
        self.store = store
        self.retry = retry
        self.logger = logger
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = retry.requestTimeout
        configuration.httpMaximumConnectionsPerHost = 16
        self.session = URLSession(configuration: configuration)
        var entries: [String: Entry] = [:]
        for subscription in stored { entries[subscription.id] = Entry(subscription: subscription) }
        self.entries = Mutex(entries)
        self.initialIDs = stored.map(\.id)
        (starts, startContinuation) = AsyncStream.makeStream(of: String.self)
    }

    // MARK: the API of rest/subscribe, rest/unSubscribe, admin/listSubscription

    /// Creates a subscription starting after `position`, or, with `id`, resumes an existing one
    /// (its position is kept; the URL may change). 100504 unknown id, 100507 id of another topic or group.
    public func subscribe(groupID: String, filter: TopicFilter, url: String, id: String?, position: UInt64) async throws -> String {
        if let id {
            let existing = entries.withLock { $0[id]?.subscription }
            guard var existing else { throw WeEventError(.subscriptionIdNotExist, detail: id) }
            guard existing.groupID == groupID, existing.topic == filter.description else {
                throw WeEventError(.subscriptionIdAlreadyExist, detail: "\(id) is for topic \(existing.topic) in group \(existing.groupID)")
            }
            if existing.url != url {
                existing.url = url
                try await store.save(existing)
                entries.withLock { $0[id]?.subscription.url = url }
            }
            return id
        }
        let subscription = Subscription(
            id: UUID().uuidString.lowercased(), groupID: groupID, topic: filter.description, url: url,
            position: position, createdTimestamp: Int64(Date().timeIntervalSince1970 * 1000)
        )
        try await store.save(subscription)
        entries.withLock { $0[subscription.id] = Entry(subscription: subscription) }
        startContinuation.yield(subscription.id)
        logger.info("subscription created", metadata: [
            "subscription": "\(subscription.id)", "topic": "\(subscription.topic)", "url": "\(url)",
        ])
        return subscription.id
    }

    /// Removes a subscription; its delivery stops before the next POST. 100504 when unknown.
    public func unsubscribe(id: String) async throws {
        guard let removed = entries.withLock({ $0.removeValue(forKey: id) }) else {
            throw WeEventError(.subscriptionIdNotExist, detail: id)
        }
        removed.tail?.close()
        try await store.remove(id: id)
        logger.info("subscription removed", metadata: ["subscription": "\(id)"])
    }

    public func list() -> [Status] {
        entries.withLock { entries in
            entries.values
                .sorted { ($0.subscription.createdTimestamp, $0.subscription.id) < ($1.subscription.createdTimestamp, $1.subscription.id) }
                .map { Status(subscription: $0.subscription, failedAttempts: $0.failedAttempts, lastError: $0.lastError, lastEventID: $0.lastEventID) }
        }
    }

    // MARK: delivery

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for id in initialIDs {
                group.addTask { await self.deliver(id) }
            }
            for await id in starts.cancelOnGracefulShutdown() {
                group.addTask { await self.deliver(id) }
            }
            group.cancelAll()
        }
        logger.info("callback delivery stopped")
    }

    private func deliver(_ id: String) async {
        guard let start = entries.withLock({ $0[id]?.subscription }) else { return }
        let ledger: any EventLedger
        let filter: TopicFilter
        do {
            ledger = try ledgers.ledger(start.groupID)
            filter = try TopicFilter.parse(start.topic)
        } catch {
            logger.error("subscription cannot start", metadata: ["subscription": "\(id)", "error": "\(error)"])
            return
        }
        let tail = ledger.tail(after: start.position, matching: filter)
        defer { tail.close() }
        let attached = entries.withLock { entries -> Bool in
            guard entries[id] != nil else { return false }
            entries[id]?.tail = tail
            return true
        }
        guard attached else { return }

        var saved = start.position
        var position = start.position
        var delivered = start.delivered
        do {
            batches: while let batch = try await tail.next() {
                for item in batch {
                    guard try await post(item, subscription: id) else { break batches }
                    position = item.position
                    delivered += 1
                    let eventID = item.event.id.description
                    entries.withLock { entries in
                        entries[id]?.subscription.position = item.position
                        entries[id]?.subscription.delivered = delivered
                        entries[id]?.lastEventID = eventID
                    }
                }
                position = max(position, tail.position)
                entries.withLock { $0[id]?.subscription.position = position }
                if position != saved {
                    try await store.savePosition(id: id, position: position, delivered: delivered)
                    saved = position
                }
            }
        } catch is CancellationError {
        } catch {
            logger.error("subscription delivery stopped", metadata: ["subscription": "\(id)", "error": "\(error)"])
        }
        if position != saved {
            do {
                try await store.savePosition(id: id, position: position, delivered: delivered)
            } catch {
                logger.error("saving subscription position failed", metadata: ["subscription": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// POSTs one event until the receiver answers 2xx; false when the subscription was removed.
    private func post(_ item: PositionedEvent, subscription id: String) async throws -> Bool {
        let body = try CallbackBody.encode(subscriptionID: id, event: item.event)
        var attempt = 0
        while true {
            guard let url = entries.withLock({ $0[id]?.subscription.url }), let target = URL(string: url) else { return false }
            try Task.checkCancellation()
            var request = URLRequest(url: target)
            request.httpMethod = "POST"
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            let problem: String
            do {
                let (_, response) = try await session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if (200..<300).contains(status) { return true }
                problem = "HTTP \(status) from \(url)"
            } catch {
                try Task.checkCancellation()
                problem = "\(error.localizedDescription) (\(url))"
            }
            entries.withLock { entries in
                entries[id]?.failedAttempts += 1
                entries[id]?.lastError = problem
            }
            if attempt == 0 {
                logger.notice("callback failed; retrying with backoff", metadata: [
                    "subscription": "\(id)", "event": "\(item.event.id)", "error": "\(problem)",
                ])
            }
            try await Task.sleep(for: retry.delay(attempt))
            attempt += 1
        }
    }
}

/// What a callback receiver gets: `{"subscriptionId":..,"event":{"content"(base64),"eventId","extensions","topic"}}`.
struct CallbackBody: Encodable {
    struct EventBody: Encodable {
        let topic: String
        let content: String
        let extensions: [String: String]
        let eventId: String
    }

    let subscriptionId: String
    let event: EventBody

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    static func encode(subscriptionID: String, event: Event) throws -> Data {
        try encoder.encode(CallbackBody(subscriptionId: subscriptionID, event: EventBody(
            topic: event.topic, content: Data(event.content).base64EncodedString(),
            extensions: event.extensions, eventId: event.id.description
        )))
    }
}
