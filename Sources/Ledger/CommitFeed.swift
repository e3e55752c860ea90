import Synchronization
import WeEvent

/// Tells live readers about each durable commit, and hands them its events.
///
/// The ledger's writer calls `committed` after a transaction is on disk. Each follower
/// (an `EventTail`) has a bounded buffer: matching events are copied into it, and a
/// waiting follower is resumed. When a follower's buffer would grow past its bound, the
/// buffer is dropped and the follower is told to read the missed range from the store;
/// the writer never waits for a reader and never holds more than the bounds.
///
/// Topic filters are never matched under the feed's lock, nor per event: for each topic seen in
/// a commit the feed keeps which followers match it, worked out outside the lock once per topic
/// (by the writer, the first time the topic shows while someone follows) and once per follower
/// (when it registers, against the topics seen so far). A commit's cost to the writer is then a
/// lookup per event and an append per matching follower, whatever the followers' filters.
public final class CommitFeed: Sendable {
    private let state: Mutex<State>

    struct Follower {
        var filter: TopicFilter
        var capacity: Int
        var buffered: [PositionedEvent] = []
        var bytes = 0
        /// The buffer holds every matching event up to here (since the last take).
        var through: UInt64
        /// The buffer overflowed and was dropped: the follower reads up to the head from the store.
        var overflowed = false
        var wakeRequested = false
        var waiter: CheckedContinuation<Void, Never>?

        /// Buffers a matching event unless it was handed out already or the buffer overflowed;
        /// true when the follower has something new to take (the event, or an overflow).
        mutating func offer(_ item: PositionedEvent) -> Bool {
            guard !overflowed, item.position > through else { return false }
            bytes += item.event.content.count + 160
            buffered.append(item)
            if bytes > capacity { drop() }
            return true
        }

        /// Drops the buffer: the follower reads what it missed from the store.
        mutating func drop() {
            overflowed = true
            buffered = []
            bytes = 0
        }
    }

    struct State {
        var head: UInt64
        var followers: [Int: Follower] = [:]
        var nextID = 0
        var closed = false
        /// For each topic seen in a commit while someone followed: the followers that match it.
        var matching: [String: [Int]] = [:]
        /// Bumped when a follower registers or a topic enters `matching`: matches worked out
        /// outside the lock are installed only if nothing changed meanwhile.
        var generation = 0
    }

    /// The position of the last commit the feed was told of.
    public var head: UInt64 { state.withLock { $0.head } }

    public init(head: UInt64) {
        state = Mutex(State(head: head))
    }

    /// Called by the writer after each durable commit that added events. `events` (in
    /// position order, ending at `head`) is built only when someone follows.
    public func committed(through head: UInt64, events: () -> [PositionedEvent]) {
        let needed = state.withLock { $0.head < head && !$0.followers.isEmpty }
        let all = needed ? events() : []
        if needed { learnTopics(of: all) }
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard head > state.head else { return [] }
            return Self.deliver(all, built: needed, through: head, in: &state)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Commits made elsewhere (another instance on a shared store) whose events came with their
    /// announcement: handed to followers like this instance's own when they continue the head
    /// the feed is at, else taken as `advanced(to:)` (followers read the range from the store).
    public func committed(elsewhere events: [PositionedEvent], through head: UInt64) {
        learnTopics(of: events)
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard head > state.head else { return [] }
            guard let first = events.first, first.position == state.head + 1, events.last?.position == head else {
                return Self.markGap(through: head, in: &state)
            }
            return Self.deliver(events, built: true, through: head, in: &state)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Works out, outside the lock, which followers match the topics of `events` the feed has
    /// not seen yet, and records it.
    private func learnTopics(of events: [PositionedEvent]) {
        var topics = Set<String>()
        for item in events { topics.insert(item.event.topic) }
        while true {
            let (unknown, filters, generation) = state.withLock { state -> (Set<String>, [Int: TopicFilter], Int) in
                let unknown = topics.filter { state.matching[$0] == nil }
                return (unknown, unknown.isEmpty ? [:] : state.followers.mapValues(\.filter), state.generation)
            }
            if unknown.isEmpty || filters.isEmpty { return }
            var found: [String: [Int]] = [:]
            for topic in unknown { found[topic] = filters.compactMap { id, filter in filter.matches(topic) ? id : nil } }
            let installed = state.withLock { state -> Bool in
                guard state.generation == generation else { return false }  // someone registered: again
                for (topic, ids) in found { state.matching[topic] = ids }
                state.generation += 1
                return true
            }
            if installed { return }
        }
    }

    /// Moves the head to `head` and buffers `all` (the events after the old head) for each
    /// follower that matches them; `built` false means they were not built, and followers read
    /// from the store.
    private static func deliver(
        _ all: [PositionedEvent], built needed: Bool, through head: UInt64, in state: inout State
    ) -> [CheckedContinuation<Void, Never>] {
        state.head = head
        var touched = Set<Int>()
        if !needed {
            // Registered while the events were not built: let them read them from the store.
            for index in state.followers.indices where !state.followers.values[index].overflowed {
                state.followers.values[index].drop()
                touched.insert(state.followers.keys[index])
            }
        }
        for item in all {
            let ids =
                state.matching[item.event.topic]
                ?? {
                    // Not learnt beforehand (cannot happen for a writer's or an announced commit): here.
                    let ids = state.followers.compactMap { id, follower in follower.filter.matches(item.event.topic) ? id : nil }
                    state.matching[item.event.topic] = ids
                    return ids
                }()
            for id in ids {
                guard let index = state.followers.index(forKey: id) else { continue }
                let added = state.followers.values[index].offer(item)
                if added { touched.insert(id) }
            }
        }
        var resumed: [CheckedContinuation<Void, Never>] = []
        for index in state.followers.indices {
            if !state.followers.values[index].overflowed { state.followers.values[index].through = head }
            if touched.contains(state.followers.keys[index]), let waiter = state.followers.values[index].waiter {
                state.followers.values[index].waiter = nil
                resumed.append(waiter)
            }
        }
        return resumed
    }

    /// Called when commits made elsewhere (another instance on a shared store) reached `head`:
    /// the feed does not have their events, so every follower reads the range from the store.
    /// A writer calls it with the head its own batch was sealed onto before `committed`, so a
    /// follower never skips another instance's events committed just before.
    public func advanced(to head: UInt64) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard head > state.head else { return [] }
            return Self.markGap(through: head, in: &state)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Moves the head to `head` and sends every follower to the store for what it missed.
    private static func markGap(through head: UInt64, in state: inout State) -> [CheckedContinuation<Void, Never>] {
        state.head = head
        var resumed: [CheckedContinuation<Void, Never>] = []
        for (id, var follower) in state.followers where !follower.overflowed {
            follower.overflowed = true
            follower.buffered = []
            follower.bytes = 0
            if let waiter = follower.waiter {
                follower.waiter = nil
                resumed.append(waiter)
            }
            state.followers[id] = follower
        }
        return resumed
    }

    /// Ends every follower: their `next()` answers nil. Called when the ledger shuts down.
    public func close() {
        let waiters = state.withLock { state in
            state.closed = true
            var resumed: [CheckedContinuation<Void, Never>] = []
            for (id, follower) in state.followers {
                if let waiter = follower.waiter { resumed.append(waiter) }
                state.followers[id]?.waiter = nil
            }
            return resumed
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: followers (EventTail)

    /// Registers a follower; the buffer starts after the current head, which is returned.
    func register(filter: TopicFilter, capacity: Int) -> (id: Int, head: UInt64) {
        // The filter is matched against the topics seen so far outside the lock; topics learnt
        // meanwhile are matched in another round.
        var checked: [String: Bool] = [:]
        while true {
            let (topics, generation) = state.withLock { state in
                (state.matching.keys.filter { checked[$0] == nil }, state.generation)
            }
            for topic in topics { checked[topic] = filter.matches(topic) }
            let registered = state.withLock { state -> (Int, UInt64)? in
                guard state.generation == generation else { return nil }
                let id = state.nextID
                state.nextID += 1
                state.followers[id] = Follower(filter: filter, capacity: capacity, through: state.head)
                for (topic, matches) in checked where matches { state.matching[topic, default: []].append(id) }
                state.generation += 1
                return (id, state.head)
            }
            if let registered { return registered }
        }
    }

    func remove(_ id: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let follower = state.followers.removeValue(forKey: id) else { return nil }
            if state.followers.isEmpty {
                state.matching = [:]
            } else {
                for (topic, ids) in state.matching where ids.contains(id) { state.matching[topic] = ids.filter { $0 != id } }
            }
            return follower.waiter
        }
        waiter?.resume()
    }

    enum Take {
        /// Buffered events; every matching event up to `through` has now been handed out.
        case events([PositionedEvent], through: UInt64)
        /// The buffer overflowed: read `(cursor, through]` from the store; the buffer goes on after `through`.
        case gap(through: UInt64)
        case woken
        case closed
    }

    /// Takes what is buffered, or waits until something is (or a wake-up, close, or cancellation).
    func take(_ id: Int) async -> Take {
        while true {
            if let ready = takeNow(id) { return ready }
            if Task.isCancelled { return .closed }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        guard !state.closed, var follower = state.followers[id], follower.buffered.isEmpty,
                            !follower.overflowed, !follower.wakeRequested, !Task.isCancelled
                        else { return true }
                        follower.waiter = continuation
                        state.followers[id] = follower
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.followers[id]?.waiter = nil }
                    return state.followers[id]?.waiter
                }
                waiter?.resume()
            }
        }
    }

    private func takeNow(_ id: Int) -> Take? {
        state.withLock { state -> Take? in
            guard !state.closed, var follower = state.followers[id] else { return .closed }
            defer { state.followers[id] = follower }
            if follower.overflowed {
                follower.overflowed = false
                follower.through = state.head
                return .gap(through: state.head)
            }
            if !follower.buffered.isEmpty {
                let events = follower.buffered
                follower.buffered = []
                follower.bytes = 0
                return .events(events, through: follower.through)
            }
            if follower.wakeRequested {
                follower.wakeRequested = false
                return .woken
            }
            return nil
        }
    }

    /// Makes a waiting (or the next) `take` return `.woken`, e.g. to send a heartbeat.
    func wake(_ id: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.followers[id] != nil else { return nil }
            state.followers[id]?.wakeRequested = true
            defer { state.followers[id]?.waiter = nil }
            return state.followers[id]?.waiter
        }
        waiter?.resume()
    }
}
