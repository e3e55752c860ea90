import Bridge
import Foundation
import Hummingbird
import Ledger
import WeEvent

/// `/weevent/master/*`: MQTT bindings made at run time (DESIGN §4, §6).
public struct MasterRoutes: Sendable {
    public typealias Context = WeEventRequestContext

    let ledgers: LedgerSet
    let configuration: WeEvent.Configuration
    /// nil when `mqtt.broker.url` is empty: every master endpoint answers 100600.
    let store: (any BindingStore)?
    let status: (any BridgeStatusSource)?
    let rejected: RejectedMessageLog?

    public init(
        ledgers: LedgerSet, configuration: WeEvent.Configuration, store: (any BindingStore)?,
        status: (any BridgeStatusSource)?, rejected: RejectedMessageLog? = nil
    ) {
        self.ledgers = ledgers
        self.configuration = configuration
        self.store = store
        self.status = status
        self.rejected = rejected
    }

    public func register(on router: Router<Context>, endpoint: (RouterGroup<Context>, RouterPath, @escaping @Sendable (RequestParameters) async throws -> Response) -> Void) {
        let master = router.group("weevent/master")
        if !configuration.masterAccessToken.isEmpty {
            master.add(middleware: MasterTokenMiddleware(token: configuration.masterAccessToken))
        }
        endpoint(master, "mqtt_add_inbound_topic") { p in try await add(.inbound, p) }
        endpoint(master, "mqtt_add_outbound_topic") { p in try await add(.outbound, p) }
        endpoint(master, "mqtt_remove_inbound_topic") { p in try await remove(.inbound, p) }
        endpoint(master, "mqtt_remove_outbound_topic") { p in try await remove(.outbound, p) }
        endpoint(master, "mqtt_list_topic") { _ in
            let store = try requireStore()
            let statuses = await status?.statuses() ?? [:]
            let rows = try await store.bindings().map { binding in
                BindingRow(binding, statuses[binding.key] ?? BindingStatus())
            }
            return try JSONBody.response(rows)
        }
        // Inbound messages that could not become events (too large, blank...), newest last.
        endpoint(master, "mqtt_list_rejected") { p in
            _ = try requireStore()
            let topic = try p["topic"].map { raw throws(WeEventError) in try Validation.topic(raw) }
            let groupID = try p["groupId"].map { _ throws(WeEventError) in try ledgers.ledger(p["groupId"]).groupID }
            let limit = try p["pageSize"].map { raw throws(WeEventError) in try Validation.pageSize(raw) } ?? 100
            return try JSONBody.response(rejected?.read(groupId: groupID, topic: topic, limit: limit) ?? [])
        }
    }

    private func requireStore() throws(WeEventError) -> any BindingStore {
        guard let store else { throw WeEventError(.mqttNotConfigured) }
        return store
    }

    private func add(_ direction: Binding.Direction, _ p: RequestParameters) async throws -> Response {
        let store = try requireStore()
        let topic = try Validation.topic(p["topic"])
        let ledger = try ledgers.ledger(p["groupId"])
        guard try await ledger.exists(topic: topic) else {
            throw WeEventError(.topicNotExist, message: "topic not exist: open \(topic) in group \(ledger.groupID) first")
        }
        let mqttTopic = p["mqttTopic"].flatMap { $0.isEmpty ? nil : $0 } ?? topic
        switch direction {
        case .inbound where !direction.accepts(mqttTopic: mqttTopic):
            throw WeEventError(.patternInvalid, message: "invalid topic pattern: '\(mqttTopic)' is not an MQTT topic filter")
        case .outbound where !direction.accepts(mqttTopic: mqttTopic):
            throw WeEventError(.patternInvalid, message: "invalid topic pattern: '\(mqttTopic)' is not an MQTT topic name (no + or #)")
        default: break
        }
        var qos = configuration.mqttQoS
        if let raw = p["qos"], !raw.isEmpty {
            guard let value = Int(raw), (0...2).contains(value) else {
                throw WeEventError(.invalidInputParam, message: "invalid input param: qos must be 0, 1 or 2, not '\(raw)'")
            }
            qos = value
        }
        // An outbound binding starts at the ledger's head: events from now on go out, not the topic's history.
        let checkpoint = direction == .outbound ? try await ledger.chainInfo().eventCount : 0
        let binding = Binding(
            direction: direction, groupId: ledger.groupID, topic: topic, mqttTopic: mqttTopic, qos: qos,
            createdAt: Int64(Date().timeIntervalSince1970 * 1000), checkpoint: checkpoint,
            checkpointLedger: direction == .outbound ? ledger.ledgerID : nil
        )
        _ = try await store.put(binding)
        return JSONBody.bool(true)
    }

    private func remove(_ direction: Binding.Direction, _ p: RequestParameters) async throws -> Response {
        let store = try requireStore()
        let topic = try Validation.topic(p["topic"])
        let ledger = try ledgers.ledger(p["groupId"])
        let key = Binding.Key(direction: direction, groupId: ledger.groupID, topic: topic)
        guard try await store.remove(key) else {
            throw WeEventError(.topicNotExist, message: "topic not exist: no \(direction.rawValue) binding for \(topic) in group \(ledger.groupID)")
        }
        return JSONBody.bool(true)
    }
}

struct BindingRow: Encodable {
    let direction: String
    let topic: String
    let groupId: String
    let mqttTopic: String
    let qos: Int
    let checkpoint: UInt64?
    let instance: String?
    let bridged: UInt64
    let rejected: UInt64
    let lastError: String?

    init(_ binding: Binding, _ status: BindingStatus) {
        direction = binding.direction.rawValue
        topic = binding.topic
        groupId = binding.groupId
        mqttTopic = binding.mqttTopic
        qos = binding.qos
        checkpoint = binding.direction == .outbound ? binding.checkpoint : nil
        instance = status.instance
        bridged = status.bridged
        rejected = status.rejected
        lastError = status.lastError
    }
}

/// `master.access-token`: the master endpoints need `Authorization: Bearer <token>` or `?token=<token>`.
struct MasterTokenMiddleware: RouterMiddleware {
    typealias Context = WeEventRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let query = request.uri.queryParameters["token"].map(String.init)
        guard bearer == token || query == token else {
            throw WeEventError(.accessTokenInvalid)
        }
        return try await next(request, context)
    }
}
