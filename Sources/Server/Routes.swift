import Bridge
import Foundation
import Hummingbird
import Ledger
import Logging
import Subscriptions
import WeEvent

/// The HTTP API of DESIGN §4: `/weevent/rest/*` and `/weevent/admin/*`.
public struct WeEventRoutes: Sendable {
    public typealias Context = WeEventRequestContext

    let ledgers: LedgerSet
    let configuration: WeEvent.Configuration
    /// Callback subscriptions (rest/subscribe); nil: those endpoints answer 200000.
    let subscriptions: CallbackSubscriptions?
    let metrics: BrokerMetrics?

    public init(
        ledgers: LedgerSet, configuration: WeEvent.Configuration, subscriptions: CallbackSubscriptions? = nil,
        metrics: BrokerMetrics? = nil
    ) {
        self.metrics = metrics
        self.ledgers = ledgers
        self.configuration = configuration
        self.subscriptions = subscriptions
    }

    /// Upper bound of a form body: the content and extensions, percent-encoded, and room for the other fields.
    var maxBodyBytes: Int { 3 * (configuration.contentMaxLength + configuration.extensionsMaxLength) + 16 * 1024 }

    public func register(on router: Router<Context>) {
        let api = router.group("weevent")
        registerTopics(on: api)
        registerPublishing(on: api)
        registerAdmin(on: api)
        registerReading(on: api)
    }

    /// rest/open, close, exist, state, list.
    private func registerTopics(on api: RouterGroup<Context>) {
        endpoint(api, "rest/open") { p in
            let topic = try Validation.topic(p["topic"])
            return JSONBody.bool(try await ledgers.ledger(p["groupId"]).open(topic: topic))
        }
        endpoint(api, "rest/close") { p in
            let topic = try Validation.topic(p["topic"])
            try await ledgers.ledger(p["groupId"]).close(topic: topic)
            return JSONBody.bool(true)
        }
        endpoint(api, "rest/exist") { p in
            let topic = try Validation.topic(p["topic"])
            return JSONBody.bool(try await ledgers.ledger(p["groupId"]).exists(topic: topic))
        }
        endpoint(api, "rest/state") { p in
            let topic = try Validation.topic(p["topic"])
            return try JSONBody.response(TopicInfo(try await ledgers.ledger(p["groupId"]).state(topic: topic)))
        }
        endpoint(api, "rest/list") { p in
            let index = try p["pageIndex"].map { raw throws(WeEventError) in try Validation.pageIndex(raw) } ?? 0
            let size = try p["pageSize"].map { raw throws(WeEventError) in try Validation.pageSize(raw) } ?? 10
            let page = try await ledgers.ledger(p["groupId"]).list(pageIndex: index, pageSize: size)
            return try JSONBody.response(TopicPageBody(
                total: page.total, pageIndex: page.pageIndex, pageSize: page.pageSize, topicInfoList: page.topics.map(TopicInfo.init)
            ))
        }
    }

    /// rest/publish and rest/getEvent.
    private func registerPublishing(on api: RouterGroup<Context>) {
        endpoint(api, "rest/publish") { p in
            let topic = try Validation.topic(p["topic"])
            let ledger = try ledgers.ledger(p["groupId"])
            let content = Array((p["content"] ?? "").utf8)
            try Validation.content(content, maxLength: configuration.contentMaxLength)
            let extensions = p.extensions
            try Validation.extensions(extensions, maxLength: configuration.extensionsMaxLength)
            let started = ContinuousClock.now
            let id = try await ledger.publish(NewEvent(topic: topic, content: content, extensions: extensions))
            metrics?.restPublish.record(ContinuousClock.now - started)
            return try JSONBody.response(PublishBody(status: "SUCCESS", topic: topic, eventId: id.description))
        }
        endpoint(api, "rest/getEvent") { p in
            let id = try EventID.parse(p["eventId"])
            let event = try await ledgers.ledger(p["groupId"]).event(id: id)
            var json: [UInt8] = []
            json.reserveCapacity(256 + event.content.count * 4 / 3)
            event.writeJSON(into: &json)
            return JSONBody.raw(json)
        }
    }

    /// admin/listGroup, admin/blockchaininfo, metrics and admin/health.
    private func registerAdmin(on api: RouterGroup<Context>) {
        endpoint(api, "admin/listGroup") { _ in
            try JSONBody.response(ledgers.groups)
        }
        endpoint(api, "admin/blockchaininfo") { p in
            let info = try await ledgers.ledger(p["groupId"]).chainInfo()
            return try JSONBody.response(ChainInfoBody(
                groupId: info.groupID, blockHeight: info.blockHeight, lastBlockHash: info.lastBlockHash,
                eventCount: info.eventCount, topicCount: info.topicCount
            ))
        }
        // Prometheus text exposition (docs/mqtt-bridge.md lists the metrics).
        if let metrics {
            api.get("metrics") { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition()))
                )
            }
        }
        // Liveness, answered without touching a ledger; also the trivial endpoint of `make bench`.
        api.get("admin/health") { _, _ in JSONBody.raw(Array(#"{"status":"UP"}"#.utf8)) }
    }

    func endpoint(
        _ group: RouterGroup<Context>, _ path: RouterPath,
        _ handler: @escaping @Sendable (RequestParameters) async throws -> Response
    ) {
        let limit = maxBodyBytes
        let responder: @Sendable (Request, Context) async throws -> Response = { request, _ in
            try await handler(try await RequestParameters.collect(request, maxBodyBytes: limit))
        }
        group.get(path, use: responder)
        group.post(path, use: responder)
    }
}

struct TopicInfo: Encodable {
    let topicName: String
    let createdTimestamp: Int64
    let sequenceNumber: UInt64
    let blockNumber: UInt64
    let lastTimestamp: Int64

    init(_ state: TopicState) {
        topicName = state.name
        createdTimestamp = state.createdTimestamp
        sequenceNumber = state.sequenceNumber
        blockNumber = state.blockNumber
        lastTimestamp = state.lastTimestamp
    }
}

struct TopicPageBody: Encodable {
    let total: Int
    let pageIndex: Int
    let pageSize: Int
    let topicInfoList: [TopicInfo]
}

struct PublishBody: Encodable {
    let status: String
    let topic: String
    let eventId: String
}

struct ChainInfoBody: Encodable {
    let groupId: String
    let blockHeight: UInt64
    let lastBlockHash: String
    let eventCount: UInt64
    let topicCount: Int
}
