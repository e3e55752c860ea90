import Foundation
import Ledger
import ServiceLifecycle
import WeEvent

/// Delivery: while this instance leads, one loop per subscription POSTs its events in order.
extension CallbackSubscriptions {
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await stored in self.store.changes().cancelOnGracefulShutdown() { self.merge(stored) }
            }
            group.addTask { await self.deliverWhileLeading() }
        }
        logger.info("callback delivery stopped")
    }

    /// One term of delivery per leadership: started when this instance leads, cancelled the
    /// moment it stops (its loops save their positions as they end).
    private func deliverWhileLeading() async {
        await cancelWhenGracefulShutdown {
            await self.leadership.runTerms { await self.deliverAll() }
        }
    }

    private func deliverAll() async {
        // Every subscription, with fresh positions: another instance may have delivered since.
        do {
            merge(try await store.load())
        } catch {
            logger.error("reading subscriptions failed; delivering those known here", metadata: ["error": "\(error)"])
        }
        await withDiscardingTaskGroup { group in
            let (starts, continuation) = AsyncStream.makeStream(of: String.self)
            let ids = state.withLock { state in
                state.starter = continuation
                return Array(state.entries.keys)
            }
            for id in ids { group.addTask { await self.deliver(id) } }
            for await id in starts { group.addTask { await self.deliver(id) } }  // ends when the term is cancelled
            state.withLock { $0.starter = nil }
            group.cancelAll()
        }
    }

    /// Where one subscription's delivery is: the last position handed over, how many were, and
    /// the position last written to the store (nil: none yet in this ledger).
    private struct Progress {
        var position: UInt64
        var delivered: UInt64
        var saved: UInt64?
    }

    /// One subscription's delivery for the term: started again (after 200 ms, then at a slowing
    /// pace up to every 2 s) whenever it stops on a failure (a position the store could not
    /// save, a ledger that cannot be read), until the subscription is removed or the term ends.
    private func deliver(_ id: String) async {
        var failures = 0
        while await deliverUntilStopped(id) == .failed {
            failures += 1
            do { try await Task.sleep(for: retry.backoff.delay(afterFailures: failures)) } catch { return }
            logger.notice("starting subscription delivery again", metadata: ["subscription": "\(id)", "attempt": "\(failures)"])
        }
    }

    private enum Stop { case done, failed }

    /// The delivery loop of one subscription, until it is removed, fails or the term ends;
    /// then its position is saved.
    private func deliverUntilStopped(_ id: String) async -> Stop {
        guard let start = claim(id) else { return .done }
        defer { state.withLock { $0.entries[id]?.delivering = false } }
        let (ledger, filter, position): (any EventLedger, TopicFilter, UInt64)
        switch await startingPoint(of: start) {
        case .ready(let l, let f, let p): (ledger, filter, position) = (l, f, p)
        case .impossible: return .done
        case .failed: return .failed
        }
        let tail = ledger.tail(after: position, matching: filter)
        defer { tail.close() }
        guard attach(tail, to: id, at: position, in: ledger) else { return .done }

        var progress = Progress(
            position: position, delivered: start.delivered, saved: start.ledgerID == ledger.ledgerID ? start.position : nil
        )
        let poster = CallbackPoster(policy: policy)
        var stop = Stop.done
        do {
            try await deliverBatches(from: tail, subscription: id, in: ledger, poster: poster, progress: &progress)
        } catch is CancellationError {
        } catch {
            logger.error("subscription delivery stopped; starting it again", metadata: ["subscription": "\(id)", "error": "\(error)"])
            stop = Task.isCancelled ? .done : .failed
        }
        await poster.shutdown()
        if progress.position != progress.saved {
            do {
                try await store.savePosition(id: id, position: progress.position, delivered: progress.delivered, ledgerID: ledger.ledgerID)
            } catch {
                logger.error("saving subscription position failed", metadata: ["subscription": "\(id)", "error": "\(error)"])
            }
        }
        return stop
    }

    /// Marks the subscription as delivered here; nil when it is gone or already delivering.
    private func claim(_ id: String) -> Subscription? {
        state.withLock { state -> Subscription? in
            guard let entry = state.entries[id], !entry.delivering else { return nil }
            state.entries[id]?.delivering = true
            return entry.subscription
        }
    }

    private enum Start {
        case ready(any EventLedger, TopicFilter, UInt64)
        /// Never in this term: a group this instance does not serve, a filter that does not parse.
        case impossible
        /// The store could not be read: tried again, as any failed delivery.
        case failed
    }

    /// The subscription's ledger, filter and position to deliver after (logged when it cannot start).
    private func startingPoint(of start: Subscription) async -> Start {
        let ledger: any EventLedger
        let filter: TopicFilter
        do {
            ledger = try ledgers.ledger(start.groupID)
            // Checked against rest.filter.max-items when it was made; a stored one is taken as it is.
            filter = try TopicFilter.parse(start.topic, maxItems: .max)
        } catch {
            logger.error("subscription cannot start", metadata: ["subscription": "\(start.id)", "error": "\(error)"])
            return .impossible
        }
        guard let owner = start.ledgerID, owner != ledger.ledgerID else { return .ready(ledger, filter, start.position) }
        // Taken over from an instance with another ledger: its position means nothing here.
        do {
            let position = try await ledger.lastPosition(before: start.createdTimestamp)
            logger.notice(
                "subscription taken over from another ledger; delivering this ledger's events since it was created",
                metadata: [
                    "subscription": "\(start.id)", "from": "\(position)",
                ])
            return .ready(ledger, filter, position)
        } catch {
            logger.error(
                "reading where a taken-over subscription starts failed; trying again",
                metadata: ["subscription": "\(start.id)", "error": "\(error)"])
            return .failed
        }
    }

    /// Records the tail (so removing the subscription stops it) and where delivery starts; false when it was removed meanwhile.
    private func attach(_ tail: EventTail, to id: String, at position: UInt64, in ledger: any EventLedger) -> Bool {
        state.withLock { state -> Bool in
            guard state.entries[id] != nil else { return false }
            state.entries[id]?.tail = tail
            state.entries[id]?.subscription.position = position
            state.entries[id]?.subscription.ledgerID = ledger.ledgerID
            return true
        }
    }

    /// POSTs each batch's events in order, then saves the position once per batch; returns when
    /// the tail ends or the subscription was removed.
    private func deliverBatches(
        from tail: EventTail, subscription id: String, in ledger: any EventLedger, poster: CallbackPoster,
        progress: inout Progress
    ) async throws {
        while let batch = try await tail.next() {
            for item in batch {
                guard try await post(item, subscription: id, with: poster) else { return }
                progress.position = item.position
                progress.delivered += 1
                let eventID = item.event.id.description
                let delivered = progress.delivered
                state.withLock { state in
                    state.entries[id]?.subscription.position = item.position
                    state.entries[id]?.subscription.delivered = delivered
                    state.entries[id]?.lastEventID = eventID
                }
            }
            progress.position = max(progress.position, tail.position)
            let position = progress.position
            state.withLock { $0.entries[id]?.subscription.position = position }
            if progress.position != progress.saved {
                try await store.savePosition(id: id, position: progress.position, delivered: progress.delivered, ledgerID: ledger.ledgerID)
                progress.saved = progress.position
            }
        }
    }

    /// POSTs one event until the receiver answers 2xx; false when the subscription was removed.
    private func post(_ item: PositionedEvent, subscription id: String, with poster: CallbackPoster) async throws -> Bool {
        let body = CallbackBody.encode(subscriptionID: id, event: item.event)
        var attempt = 0
        while true {
            guard let url = state.withLock({ $0.entries[id]?.subscription.url }) else { return false }
            try Task.checkCancellation()
            guard case .failed(let problem) = try await poster.post(body, to: url) else { return true }
            state.withLock { state in
                state.entries[id]?.failedAttempts += 1
                state.entries[id]?.lastError = problem
            }
            if attempt == 0 {
                logger.notice(
                    "callback failed; retrying with backoff",
                    metadata: [
                        "subscription": "\(id)", "event": "\(item.event.id)", "error": "\(problem)",
                    ])
            }
            attempt += 1
            try await Task.sleep(for: retry.backoff.delay(afterFailures: attempt))
        }
    }
}
