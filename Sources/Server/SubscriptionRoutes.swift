import BrokerConfiguration
import Foundation
import Hummingbird
import Ledger
import Subscriptions
import WeEvent

/// Callback subscriptions over HTTP: rest/subscribe, rest/unSubscribe and admin/listSubscription
/// (docs/api.md); delivery itself is `CallbackSubscriptions`.
struct SubscriptionRoutes {
    typealias Context = WeEventRequestContext

    let ledgers: LedgerSet
    let configuration: BrokerConfiguration.Configuration
    /// nil: these endpoints answer 200000.
    let subscriptions: CallbackSubscriptions?

    let services: BrokerServices
    let audit: AuditTrail

    init(_ services: BrokerServices) {
        self.services = services
        audit = AuditTrail(services)
        ledgers = services.ledgers
        configuration = services.configuration
        subscriptions = services.subscriptions
    }

    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        let api = Endpoints(routes, services)
        // A subscription delivers what it matches: it needs manage and read on all of it.
        api.add("rest/subscribe") { p in
            let subscriptions = try requireSubscriptions()
            let groupID = p["groupId"].flatMap { $0.isEmpty ? nil : $0 } ?? ledgers.defaultGroup
            let ledger = try ledgers.ledger(groupID)
            let filter = try TopicFilter.parse(p["topic"], maxItems: configuration.rest.filterMaxItems)
            try p.caller.require(.manage, group: groupID, covering: filter)
            try p.caller.require(.read, group: groupID, covering: filter)
            try await ledger.requireOpen(filter)
            let url = try Self.callbackURL(p["url"])
            let id = try p["subscriptionId"].map { raw throws(WeEventError) in try Self.subscriptionID(raw) }
            let start = try await ledger.position(for: try Offset.parse(p["offset"], default: .last))
            let answer = try await subscriptions.subscribe(
                groupID: groupID, filter: filter, url: url, id: id, position: start, ledgerID: ledger.ledgerID
            )
            // A new subscription; resuming one (with its id) changes nothing.
            if id == nil {
                await audit.record("subscription.add", group: groupID, by: p.caller, ["subscriptionId": answer, "topic": filter.description, "url": url])
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain;charset=UTF-8"],
                body: .init(byteBuffer: ByteBuffer(string: answer))
            )
        }
        api.add("rest/unSubscribe") { p in
            let subscriptions = try requireSubscriptions()
            let id = try Self.subscriptionID(p["subscriptionId"])
            // Removing one needs manage on what it delivers; an unknown id is 100504 either way.
            let found = try await subscriptions.subscription(id: id)
            if let found {
                try p.caller.require(.manage, group: found.groupID, covering: try TopicFilter.parse(found.topic, maxItems: .max))
            } else {
                try p.caller.require(.manage)
            }
            try await subscriptions.unsubscribe(id: id)
            await audit.record("subscription.remove", group: found?.groupID, by: p.caller, ["subscriptionId": id, "topic": found?.topic ?? ""])
            return JSONBody.bool(true)
        }
        api.add("admin/listSubscription", requiring: .admin) { _ in
            try JSONBody.response(await requireSubscriptions().list().map(SubscriptionBody.init))
        }
        return routes
    }

    private func requireSubscriptions() throws(WeEventError) -> CallbackSubscriptions {
        guard let subscriptions else { throw WeEventError(.unknownError, detail: "callback subscriptions are not running") }
        return subscriptions
    }

    /// An absolute http or https URL with a host; 100501 otherwise (also when blank).
    static func callbackURL(_ raw: String?) throws(WeEventError) -> String {
        guard let raw, let url = URL(string: raw.trimmingCharacters(in: .whitespaces)),
            let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else { throw WeEventError(.urlInvalid, detail: raw ?? "(none)") }
        return url.absoluteString
    }

    /// 100503 blank, 100505 not a UUID.
    static func subscriptionID(_ raw: String?) throws(WeEventError) -> String {
        guard let raw, !raw.allSatisfy({ $0.isWhitespace }) else { throw WeEventError(.subscriptionIdIsBlank) }
        guard let uuid = UUID(uuidString: raw) else { throw WeEventError(.subscriptionIdInvalid, detail: raw) }
        return uuid.uuidString.lowercased()
    }
}

extension LedgerReading {
    /// Every concrete topic of the filter must be open (100101); patterns may match none yet.
    func requireOpen(_ filter: TopicFilter) async throws {
        for topic in filter.topics.sorted() where !(try await exists(topic: topic)) {
            throw WeEventError(.topicNotExist, detail: "topic \(topic) in group \(groupID)")
        }
    }
}
