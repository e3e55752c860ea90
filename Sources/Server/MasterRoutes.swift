import BrokerConfiguration
import Bridge
import Hummingbird
import Ledger
import WeEvent

/// `/weevent/master/*`: MQTT bindings made at run time (DESIGN §4, §6). The bridge's
/// `BindingService` decides what a binding may be; these routes parse requests and answer.
struct MasterRoutes {
    typealias Context = WeEventRequestContext

    let ledgers: LedgerSet
    let configuration: BrokerConfiguration.Configuration
    /// nil when `mqtt.broker.url` is empty: every master endpoint answers 100600.
    let bindings: BindingService?

    let services: BrokerServices
    let audit: AuditTrail

    init(_ services: BrokerServices) {
        self.services = services
        audit = AuditTrail(services)
        ledgers = services.ledgers
        configuration = services.configuration
        bindings = services.bindings
    }

    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        let api = Endpoints(routes, services)
        // Each needs manage on the binding's WeEvent topic; the lists show what the caller manages.
        api.add("mqtt_add_inbound_topic") { p in try await add(.inbound, p) }
        api.add("mqtt_add_outbound_topic") { p in try await add(.outbound, p) }
        api.add("mqtt_remove_inbound_topic") { p in try await remove(.inbound, p) }
        api.add("mqtt_remove_outbound_topic") { p in try await remove(.outbound, p) }
        api.add("mqtt_list_topic") { p in
            try p.caller.require(.manage)
            let listed = try await requireBindings().list().filter { p.caller.may(.manage, group: $0.binding.groupId, topic: $0.binding.topic) }
            return try JSONBody.response(listed.map(BindingRow.init))
        }
        // Inbound messages that could not become events (too large, blank...), newest last.
        api.add("mqtt_list_rejected") { p in
            try p.caller.require(.manage)
            let bindings = try requireBindings()
            let topic = try p["topic"].map { raw throws(WeEventError) in try Validation.topic(raw) }
            let groupID = try p["groupId"].map { _ throws(WeEventError) in try ledgers.ledger(p["groupId"]).groupID }
            let limit = try p["pageSize"].map { raw throws(WeEventError) in try Validation.pageSize(raw) } ?? 100
            let before = try p["before"].map { raw throws(WeEventError) in
                guard let id = Int64(raw), id > 0 else {
                    throw WeEventError(.invalidInputParam, message: "before must be a positive integer: the id of the oldest message of the previous page")
                }
                return id
            }
            let rejected = try await bindings.rejectedMessages(groupID: groupID, topic: topic, before: before, limit: limit)
            return try JSONBody.response(rejected.filter { p.caller.may(.manage, group: $0.groupId, topic: $0.topic) })
        }
        return routes
    }

    private func requireBindings() throws(WeEventError) -> BindingService {
        guard let bindings else { throw WeEventError(.mqttNotConfigured) }
        return bindings
    }

    private func add(_ direction: Binding.Direction, _ p: RequestParameters) async throws -> Response {
        let bindings = try requireBindings()
        let topic = try Validation.topic(p["topic"])
        let ledger = try ledgers.ledger(p["groupId"])
        try p.caller.require(.manage, group: ledger.groupID, topic: topic)
        if direction == .inbound, let ttl = p["ttl"], !ttl.isEmpty {
            throw WeEventError(.invalidInputParam, message: "invalid input param: ttl applies to outbound bindings (commands to devices), not inbound ones")
        }
        let binding = try await bindings.add(
            direction, topic: topic, mqttTopic: p["mqttTopic"], qos: try BindingService.qos(p["qos"]), ttl: try BindingService.ttl(p["ttl"]),
            in: ledger
        )
        await audit.record(
            "binding.add", group: ledger.groupID, by: p.caller,
            ["direction": direction.rawValue, "topic": topic, "mqttTopic": binding.mqttTopic, "qos": String(binding.qos)]
                .merging(binding.ttl.map { ["ttl": RetentionPolicy.describe(milliseconds: $0)] } ?? [:]) { a, _ in a })
        // `true` once the bridge holds the subscription, so a device message sent right after
        // the answer is not lost; past the wait, say the binding is stored but not live yet.
        let wait = configuration.mqtt.bindingLiveWait
        guard wait > .zero, direction == .inbound else { return JSONBody.bool(true) }
        if await bindings.waitUntilLive(binding, timeout: wait) { return JSONBody.bool(true) }
        return try JSONBody.response(
            NotLiveBody(
                stored: true, live: false,
                message:
                    "binding stored, but the bridge does not hold its MQTT subscription to \(binding.mqttTopic) yet (no leader running the bridge, or the MQTT broker not reachable); device messages sent before it does are not received; mqtt_list_topic shows when it is live",
                mqttTopic: binding.mqttTopic
            ), status: .accepted)
    }

    private func remove(_ direction: Binding.Direction, _ p: RequestParameters) async throws -> Response {
        let bindings = try requireBindings()
        let topic = try Validation.topic(p["topic"])
        let groupID = try ledgers.ledger(p["groupId"]).groupID
        try p.caller.require(.manage, group: groupID, topic: topic)
        try await bindings.remove(direction, topic: topic, groupID: groupID)
        await audit.record("binding.remove", group: groupID, by: p.caller, ["direction": direction.rawValue, "topic": topic])
        return JSONBody.bool(true)
    }
}

/// mqtt_add_inbound_topic's answer when the binding is stored but not yet live.
struct NotLiveBody: Encodable {
    let stored: Bool
    let live: Bool
    let message: String
    let mqttTopic: String
}
