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

    let services: BrokerServices
    let audit: AuditTrail

    init(_ services: BrokerServices) {
        self.services = services
        audit = AuditTrail(services)
        ledgers = services.ledgers
        configuration = services.configuration
        publishTime = services.metrics.map { CoreMetrics.Timer(label: "weevent_rest_publish_seconds", factory: $0.factory) }
    }

    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        let api = Endpoints(routes, services)
        addTopics(to: api)
        addPublishing(to: api)
        return routes
    }

    /// rest/open, close, exist, state, list.
    private func addTopics(to api: Endpoints) {
        // Creating a topic needs publish or manage on it; reopening one that was closed, manage.
        api.add("rest/open") { p in
            let topic = try Validation.topic(p["topic"])
            let ledger = try ledgers.ledger(p["groupId"])
            let manages = p.caller.may(.manage, group: ledger.groupID, topic: topic)
            if !manages { try p.caller.require(.publish, group: ledger.groupID, topic: topic) }
            let existed = try await ledger.exists(topic: topic)
            do {
                let opened = try await ledger.open(topic: topic, reopening: manages)
                if !existed { await audit.record("topic.open", group: ledger.groupID, by: p.caller, ["topic": topic]) }
                return JSONBody.bool(opened)
            } catch let error as WeEventError where error.code == .actionNotAllowed {
                throw p.caller.refusal(.manage, group: ledger.groupID, topic: topic, why: "the topic is closed, and reopening it needs manage")
            }
        }
        api.add("rest/close") { p in
            let topic = try Validation.topic(p["topic"])
            let ledger = try ledgers.ledger(p["groupId"])
            try p.caller.require(.manage, group: ledger.groupID, topic: topic)
            try await ledger.close(topic: topic)
            await audit.record("topic.close", group: ledger.groupID, by: p.caller, ["topic": topic])
            return JSONBody.bool(true)
        }
        api.add("rest/exist") { p in
            let topic = try Validation.topic(p["topic"])
            let ledger = try ledgers.ledger(p["groupId"])
            try p.caller.requireAny(group: ledger.groupID, topic: topic)
            return JSONBody.bool(try await ledger.exists(topic: topic))
        }
        api.add("rest/state") { p in
            let topic = try Validation.topic(p["topic"])
            let ledger = try ledgers.ledger(p["groupId"])
            try p.caller.requireAny(group: ledger.groupID, topic: topic)
            return try JSONBody.response(TopicInfo(try await ledger.state(topic: topic)))
        }
        // Lists the topics the caller holds some right on; everything for one with read on `#`.
        api.add("rest/list") { p in
            let index = try p["pageIndex"].map { raw throws(WeEventError) in try Validation.pageIndex(raw) } ?? 0
            let size = try p["pageSize"].map { raw throws(WeEventError) in try Validation.pageSize(raw) } ?? 10
            let ledger = try ledgers.ledger(p["groupId"])
            let page: TopicPage
            if p.caller.rights.allow(.read, group: ledger.groupID, covering: .all) {
                page = try await ledger.list(pageIndex: index, pageSize: size)
            } else {
                let visible = try await ledger.list(pageIndex: 0, pageSize: Int(Int32.max)).topics.filter {
                    p.caller.rights.allowAny(group: ledger.groupID, topic: $0.name)
                }
                let start = min(visible.count, index.multipliedReportingOverflow(by: size).overflow ? visible.count : index * size)
                page = TopicPage(
                    total: visible.count, pageIndex: index, pageSize: size, topics: Array(visible[start..<min(visible.count, start + size)]))
            }
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
            try p.caller.require(.publish, group: ledger.groupID, topic: topic)
            try services.limiter.admit(p.caller)
            let (content, extensions) = try p.clientEvent(configuration)
            try p.checkSignature(group: ledger.groupID, topic: topic, content: content, extensions: extensions)
            let started = ContinuousClock.now
            let id = try await ledger.publish(NewEvent(topic: topic, content: content, extensions: extensions))
            publishTime?.record(ContinuousClock.now - started)
            return try JSONBody.response(PublishBody(status: "SUCCESS", topic: topic, eventId: id.description))
        }
        api.add("rest/getEvent") { p in
            let id = try EventID.parse(p["eventId"])
            let ledger = try ledgers.ledger(p["groupId"])
            let event = try await ledger.event(id: id)
            try p.caller.require(.read, group: ledger.groupID, topic: event.topic)
            var json: [UInt8] = []
            json.reserveCapacity(256 + event.content.count * 4 / 3)
            event.writeJSON(into: &json)
            return JSONBody.raw(json)
        }
    }
}
