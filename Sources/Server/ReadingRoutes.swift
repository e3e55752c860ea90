import BrokerConfiguration
import Foundation
import Hummingbird
import Ledger
import ServiceLifecycle
import Synchronization
import Logging
import NIOCore
import WeEvent

/// Reading events over HTTP: live Server-Sent Event streams, history pages, blocks and Merkle
/// proofs (docs/api.md). Callback subscriptions are `SubscriptionRoutes`.
struct ReadingRoutes {
    typealias Context = WeEventRequestContext

    /// Heartbeat comment on an idle stream, so proxies and clients keep it open.
    static let heartbeatInterval: Duration = .seconds(15)

    let ledgers: LedgerSet
    let configuration: BrokerConfiguration.Configuration
    let services: BrokerServices

    init(_ services: BrokerServices) {
        self.services = services
        ledgers = services.ledgers
        configuration = services.configuration
    }

    /// rest/stream, rest/events, rest/proof, rest/block, and the group tree's rest/checkpoint,
    /// rest/consistency and rest/cosign (`AuditRoutes`).
    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        let gate = AdmissionGate(limit: configuration.rest.streamMaxCount, perClient: configuration.rest.streamMaxPerClient) { refused in
            switch refused {
            case .total(let limit):
                WeEventError(.tooManyStreams, message: "too many streams: rest.stream.max-count (\(limit)) are open; retry later")
            case .client(let client, let limit):
                WeEventError(.tooManyStreams, message: "too many streams from \(client): rest.stream.max-per-client (\(limit)) are open; retry later")
            }
        }
        let api = Endpoints(routes, services)
        let intake = api.intake
        routes.get("rest/stream") { request, context in
            try await stream(
                request, parameters: try await intake.parameters(request, context), gate: gate, client: intake.client(request, context),
                channel: context.channel, logger: context.logger)
        }
        api.add("rest/events") { p in
            let ledger = try ledgers.ledger(p["groupId"])
            let filter = try TopicFilter.parse(p["topic"], maxItems: configuration.rest.filterMaxItems)
            try p.caller.require(.read, group: ledger.groupID, covering: filter)
            try await ledger.requireOpen(filter)
            let limit = try p["limit"].map { raw throws(WeEventError) in try Validation.pageSize(raw) } ?? 10
            let start = try await ledger.position(for: try Offset.parse(p["offset"], default: .first))
            // A page looks at most rest.events.max-scan positions: a rare topic's page does not
            // walk the whole ledger; `more` says when it stopped short of the head.
            let head = try await ledger.chainInfo().eventCount
            let upper = min(head, start.addingReportingOverflow(UInt64(configuration.rest.eventsMaxScan)).partialValue)
            let range = try await ledger.events(after: start, through: max(start, upper), matching: filter, limit: limit)
            let nextOffset = try await offsetName(range.scannedThrough, in: ledger)
            return JSONBody.raw(Self.eventPage(range.events.map(\.event), nextOffset: nextOffset, more: range.scannedThrough < head))
        }
        api.add("rest/proof") { p in
            let ledger = try ledgers.ledger(p["groupId"])
            let id = try EventID.parse(p["eventId"])
            try p.caller.require(.read, group: ledger.groupID, topic: try await ledger.event(id: id).topic)
            switch p["form"] ?? "tree" {
            case "tree":
                let size = try p["treeSize"].map { raw throws(WeEventError) in try Self.treeSize(raw, name: "treeSize") }
                return try JSONBody.response(TreeProofBody(groupId: ledger.groupID, try await ledger.treeProof(of: id, treeSize: size)))
            case "chain":
                let height = try await ledger.chainInfo().blockHeight
                let head = try Self.proofHead(p["head"], block: id.blockHeight, chainHeight: height, maxLinks: configuration.rest.proofMaxLinks)
                return try JSONBody.response(ProofBody(try await ledger.proof(of: id, through: head)))
            case let other:
                throw WeEventError(.invalidInputParam, message: "invalid input param: form must be tree or chain, got '\(other.prefix(40))'")
            }
        }
        api.add("rest/block") { p in
            let ledger = try ledgers.ledger(p["groupId"])
            // A block lists its events' ids and topics: every topic of the group.
            try p.caller.require(.read, group: ledger.groupID, covering: .all)
            let height = try Self.blockHeight(p["height"])
            let header = try await ledger.blockHeader(at: height)
            let first = try await ledger.firstPosition(ofBlock: height)
            let shown = min(Int(header.eventCount), Self.blockEventsShown)
            let range = try await ledger.events(
                after: first - 1, through: first - 1 + UInt64(shown), matching: try TopicFilter.parse("#"), limit: shown
            )
            return try JSONBody.response(
                BlockBody(
                    groupId: ledger.groupID, header: ProofBody.Header(header),
                    events: range.events.map { BlockBody.Entry(eventId: $0.event.id.description, topic: $0.event.topic) },
                    eventsTruncated: Int(header.eventCount) > range.events.count
                ))
        }
        AuditRoutes(ledgers: ledgers, configuration: configuration).add(to: api)
        return routes
    }

    /// A tree size parameter: a decimal integer from 0 (100312 otherwise).
    static func treeSize(_ raw: String, name: String) throws(WeEventError) -> UInt64 {
        guard let size = UInt64(raw), size <= UInt64(Int64.max) else {
            throw WeEventError(.treeSizeInvalid, message: "invalid tree size: \(name) must be an integer from 0, got '\(raw.prefix(40))'")
        }
        return size
    }

    /// rest/block lists at most this many of a block's events.
    static let blockEventsShown = 1000

    /// `height`: a block height from 1 (100307 otherwise, as for offsets).
    static func blockHeight(_ raw: String?) throws(WeEventError) -> UInt64 {
        guard let raw, let height = UInt64(raw), height >= 1, height <= UInt64(Int64.max) else {
            throw WeEventError(.blockHeightInvalid, message: "invalid block height: height must be an integer from 1, got '\((raw ?? "").prefix(40))'")
        }
        return height
    }

    // MARK: rest/stream

    /// At most `rest.stream.max-count` streams at once (200003, HTTP 503, past it); a stream
    /// whose client takes no data for `rest.stream.write-timeout-ms` is closed.
    private func stream(
        _ request: Request, parameters p: RequestParameters, gate: AdmissionGate, client: IPAddress?, channel: any Channel, logger: Logger
    ) async throws -> Response {
        let ledger = try ledgers.ledger(p["groupId"])
        let filter = try TopicFilter.parse(p["topic"], maxItems: configuration.rest.filterMaxItems)
        try p.caller.require(.read, group: ledger.groupID, covering: filter)
        try await ledger.requireOpen(filter)
        let start: UInt64
        let lastEventID = request.headers.first { $0.name.canonicalName == "last-event-id" }?.value
        if let lastEventID, !lastEventID.isEmpty {
            start = try await ledger.position(of: try EventID.parse(lastEventID))
        } else {
            start = try await ledger.position(for: try Offset.parse(p["offset"], default: .last))
        }
        // The place is held by the body: freed when the stream ends, or when the response goes
        // unwritten (the client left before the head could be sent) and is dropped.
        let place = try gate.enter(client: client)
        // Registered now, so nothing committed from here on can be missed.
        let tail = ledger.tail(after: start, matching: filter)
        let writeTimeout = configuration.rest.streamWriteTimeout
        // A client that leaves ends its stream at once (not at the next write), freeing its place.
        channel.closeFuture.whenComplete { _ in tail.close() }
        let body = ResponseBody { writer in
            defer {
                tail.close()
                place.release()
            }
            let pending = WriteWatch()
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: Self.heartbeatInterval)
                            tail.wake()
                        }
                    }
                    // A client that stopped reading: its writes wait on a full socket buffer for ever.
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: min(writeTimeout / 4, .seconds(1)))
                            if let since = pending.since, ContinuousClock.now - since >= writeTimeout {
                                logger.notice(
                                    "closing a stream whose client takes no data",
                                    metadata: [
                                        "timeout": "\(writeTimeout)", "client": "\(channel.remoteAddress?.description ?? "?")",
                                    ])
                                tail.close()
                                channel.close(promise: nil)
                                return
                            }
                        }
                    }
                    // A first comment tells the client the stream is live (and flushes the headers).
                    try await pending.timing { try await writer.write(ByteBuffer(string: ": weevent stream after position \(start)\nretry: 2000\n\n")) }
                    // Reused for every batch: a stream allocates per batch, not per event.
                    var frames: [UInt8] = []
                    while let batch = try await tail.next() {
                        frames.removeAll(keepingCapacity: true)
                        Self.writeFrames(batch, into: &frames)
                        try await pending.timing { try await writer.write(ByteBuffer(bytes: frames)) }
                    }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                tail.close()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream;charset=UTF-8", .cacheControl: "no-cache"],
            body: body
        )
    }

    /// When the write under way started; nil between writes.
    final class WriteWatch: Sendable {
        private let started = Mutex<ContinuousClock.Instant?>(nil)
        var since: ContinuousClock.Instant? { started.withLock { $0 } }

        func timing(_ write: () async throws -> Void) async throws {
            started.withLock { $0 = .now }
            defer { started.withLock { $0 = nil } }
            try await write()
        }
    }

    /// One `id:`/`data:` message per event, or a keep-alive comment for an empty batch (a heartbeat).
    static func writeFrames(_ batch: [PositionedEvent], into frames: inout [UInt8]) {
        if batch.isEmpty {
            frames.append(contentsOf: ": keep-alive\n\n".utf8)
        }
        for item in batch {
            frames.append(contentsOf: "id: ".utf8)
            item.event.id.writeDescription(into: &frames)
            frames.append(contentsOf: "\ndata: ".utf8)
            item.event.writeJSON(into: &frames)
            frames.append(contentsOf: "\n\n".utf8)
        }
    }

    /// `rest/events`: `{"events":[..],"nextOffset":".."}`; pass `nextOffset` as `offset` for the next page.
    static func eventPage(_ events: [Event], nextOffset: String, more: Bool) -> [UInt8] {
        var json: [UInt8] = []
        json.reserveCapacity(64 + events.reduce(0) { $0 + 256 + $1.content.count * 4 / 3 })
        json.append(contentsOf: #"{"events":["#.utf8)
        for (index, event) in events.enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            event.writeJSON(into: &json)
        }
        json.append(contentsOf: (more ? #"],"more":true,"nextOffset":"# : #"],"more":false,"nextOffset":"#).utf8)
        JSONString.write(nextOffset, into: &json)
        json.append(UInt8(ascii: "}"))
        return json
    }

    // MARK: helpers

    /// The offset that reads on after `position`: the id of the event there (whatever its
    /// topic), or OFFSET_FIRST for an empty ledger.
    private func offsetName(_ position: UInt64, in ledger: any LedgerReading) async throws -> String {
        guard position > 0 else { return "OFFSET_FIRST" }
        let range = try await ledger.events(after: position - 1, through: position, matching: .all, limit: 1)
        return range.events.first.map { $0.event.id.description } ?? "OFFSET_FIRST"
    }

    /// The height a proof of an event in block `block` links to: `head` when given, else the
    /// chain's height. 100307 for a head outside `block...chainHeight`, 100310 when the proof
    /// would hold more than `maxLinks` headers. An event above the chain is left to the ledger (100304).
    static func proofHead(_ raw: String?, block: UInt64, chainHeight: UInt64, maxLinks: Int) throws(WeEventError) -> UInt64 {
        guard block <= chainHeight else { return chainHeight }
        var head = chainHeight
        if let raw, !raw.isEmpty {
            guard let asked = UInt64(raw), asked >= block, asked <= chainHeight else {
                throw WeEventError(
                    .blockHeightInvalid,
                    message: "head must be a block height from the event's block \(block) to the chain's height \(chainHeight)"
                )
            }
            head = asked
        }
        guard head - block <= UInt64(maxLinks) else {
            throw WeEventError(
                .proofTooLong,
                message: "the proof would hold \(head - block) block headers, more than rest.proof.max-links=\(maxLinks): "
                    + "ask with head=<a height from \(block) to \(block + UInt64(maxLinks))>, the height of a block whose hash you already trust, "
                    + "or for the tree proof (without form=chain), which stays small"
            )
        }
        return head
    }
}
