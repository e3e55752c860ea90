import BrokerConfiguration
import Bridge
import CoreMetrics
import Hummingbird
import Ledger
import WeEvent

/// `/weevent/rest/*` for topics and events: open, close, exist, state, list, publish, getEvent.
struct RestRoutes {
    typealias Context = WeEventRequestContext

    let ledgers: LedgerSet
    let configuration: BrokerConfiguration.Configuration
    /// Time a REST publish spends in the ledger (queue, block, fsync): request validated to event durable.
    let publishTime: CoreMetrics.Timer?

    init(_ services: BrokerServices) {
        ledgers = services.ledgers
        configuration = services.configuration
        publishTime = services.metrics.map { CoreMetrics.Timer(label: "weevent_rest_publish_seconds", factory: $0.factory) }
    }

    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        let api = Endpoints(routes, configuration)
        addTopics(to: api)
        addPublishing(to: api)
        return routes
    }

    /// rest/open, close, exist, state, list.
    private func addTopics(to api: Endpoints) {
        // Anyone may create a topic; reopening one an admin closed needs the admin scope.
        api.add("rest/open", telling: .admin) { p, admin in
            let topic = try Validation.topic(p["topic"])
            return JSONBody.bool(try await ledgers.ledger(p["groupId"]).open(topic: topic, reopening: admin))
        }
        api.add("rest/close", scope: .admin) { p in
            let topic = try Validation.topic(p["topic"])
            try await ledgers.ledger(p["groupId"]).close(topic: topic)
            return JSONBody.bool(true)
        }
        api.add("rest/exist") { p in
            let topic = try Validation.topic(p["topic"])
            return JSONBody.bool(try await ledgers.ledger(p["groupId"]).exists(topic: topic))
        }
        api.add("rest/state") { p in
            let topic = try Validation.topic(p["topic"])
            return try JSONBody.response(TopicInfo(try await ledgers.ledger(p["groupId"]).state(topic: topic)))
        }
        api.add("rest/list") { p in
            let index = try p["pageIndex"].map { raw throws(WeEventError) in try Validation.pageIndex(raw) } ?? 0
            let size = try p["pageSize"].map { raw throws(WeEventError) in try Validation.pageSize(raw) } ?? 10
            let page = try await ledgers.ledger(p["groupId"]).list(pageIndex: index, pageSize: size)
            return try JSONBody.response(
                TopicPageBody(
                    total: page.total, pageIndex: page.pageIndex, pageSize: page.pageSize, topicInfoList: page.topics.map(TopicInfo.init)
                ))
        }
    }

    /// rest/publish and rest/getEvent.
    private func addPublishing(to api: Endpoints) {
        api.add("rest/publish") { p in
            let topic = try Validation.topic(p["topic"])
            let ledger = try ledgers.ledger(p["groupId"])
            let (content, extensions) = try p.clientEvent(configuration)
            let started = ContinuousClock.now
            let id = try await ledger.publish(NewEvent(topic: topic, content: content, extensions: extensions))
            publishTime?.record(ContinuousClock.now - started)
            return try JSONBody.response(PublishBody(status: "SUCCESS", topic: topic, eventId: id.description))
        }
        api.add("rest/getEvent") { p in
            let id = try EventID.parse(p["eventId"])
            let event = try await ledgers.ledger(p["groupId"]).event(id: id)
            var json: [UInt8] = []
            json.reserveCapacity(256 + event.content.count * 4 / 3)
            event.writeJSON(into: &json)
            return JSONBody.raw(json)
        }
    }
}
