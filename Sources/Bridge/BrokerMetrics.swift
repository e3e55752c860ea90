import Prometheus

/// The broker's Prometheus metrics, served at /weevent/metrics (swift-prometheus).
public final class BrokerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let inboundBridged: Counter
    let outboundBridged: Counter
    let rejected: Counter
    let reconnects: Counter
    let leaderChanges: Counter
    /// Time from a batch of MQTT messages reaching the committer to its events being durable.
    let inboundStore: DurationHistogram
    /// Time from handing a batch of events to the MQTT client to the broker's last acknowledgement.
    let outboundAck: DurationHistogram
    /// Time a REST publish spends in the ledger (queue, block, fsync).
    public let restPublish: DurationHistogram

    public init() {
        let buckets: [Duration] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
        ]
        inboundBridged = registry.makeCounter(
            name: "weevent_mqtt_messages_bridged_total", labels: [("direction", "inbound")],
            help: "MQTT messages stored as events (inbound) or events published to MQTT and acknowledged (outbound)"
        )
        outboundBridged = registry.makeCounter(
            name: "weevent_mqtt_messages_bridged_total", labels: [("direction", "outbound")],
            help: "MQTT messages stored as events (inbound) or events published to MQTT and acknowledged (outbound)"
        )
        rejected = registry.makeCounter(
            name: "weevent_mqtt_messages_rejected_total", help: "Inbound MQTT messages that could not become events (kept in the rejected log)"
        )
        reconnects = registry.makeCounter(name: "weevent_mqtt_reconnects_total", help: "Lost MQTT connections of the bridge")
        leaderChanges = registry.makeCounter(name: "weevent_leader_changes_total", help: "Times this instance became or stopped being the bridge leader")
        inboundStore = registry.makeDurationHistogram(
            name: "weevent_mqtt_inbound_store_seconds", buckets: buckets, help: "MQTT batch to durable events"
        )
        outboundAck = registry.makeDurationHistogram(
            name: "weevent_mqtt_outbound_ack_seconds", buckets: buckets, help: "Event batch handed to MQTT to the broker's acknowledgement"
        )
        restPublish = registry.makeDurationHistogram(
            name: "weevent_rest_publish_seconds", buckets: buckets, help: "REST publish: request validated to event durable"
        )
    }

    /// The text exposition format.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
