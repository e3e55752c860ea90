import Bridge
import Hummingbird
import Ledger
import WeEvent

/// `/weevent/admin/*` about the ledgers, `/weevent/metrics`, `/weevent/openapi.json` and the liveness check.
struct AdminRoutes {
    typealias Context = WeEventRequestContext

    let ledgers: LedgerSet
    let configuration: WeEvent.Configuration
    let metrics: BrokerMetrics?

    init(_ services: BrokerServices) {
        ledgers = services.ledgers
        configuration = services.configuration
        metrics = services.metrics
    }

    /// admin/listGroup, admin/blockchaininfo, metrics and admin/health.
    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        let api = Endpoints(routes, configuration)
        api.add("admin/listGroup", scope: .admin) { _ in
            try JSONBody.response(ledgers.groups)
        }
        api.add("admin/blockchaininfo", scope: .admin) { p in
            let info = try await ledgers.ledger(p["groupId"]).chainInfo()
            return try JSONBody.response(ChainInfoBody(
                groupId: info.groupID, blockHeight: info.blockHeight, lastBlockHash: info.lastBlockHash,
                eventCount: info.eventCount, topicCount: info.topicCount
            ))
        }
        // Prometheus text exposition (docs/mqtt-bridge.md lists the metrics).
        if let metrics {
            let access = api.access
            routes.get("metrics") { request, _ in
                try access.authorize(request, parameters: nil, scope: .admin)
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition()))
                )
            }
        }
        // The API's own description (docs/openapi.yaml), for tools and the console.
        routes.get("openapi.json") { _, _ in JSONBody.raw(Array(OpenAPIDocument.json.utf8)) }
        // Liveness, answered without touching a ledger; also the trivial endpoint of `make bench`.
        routes.get("admin/health") { _, _ in JSONBody.raw(Array(#"{"status":"UP"}"#.utf8)) }
        return routes
    }
}
