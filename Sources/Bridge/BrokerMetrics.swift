import Prometheus

/// The broker's Prometheus metrics, served at /weevent/metrics (swift-prometheus).
public final class BrokerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let inboundBridged: Counter
    let outboundBridged: Counter
    let rejected: Counter
    /// Rejected messages dropped from the log to keep it under `mqtt.rejected.max-bytes`.
    public let rejectedDropped: Counter
    /// Failed writes of the rejected log (the message stays unacknowledged and is retried).
    let rejectedLogErrors: Counter
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
        let bridgedHelp = "MQTT messages stored as events (inbound) or events published to MQTT and acknowledged (outbound)"
        inboundBridged = registry.makeCounter(
            descriptor: Self.name("mqtt", "messages_bridged", "total", bridgedHelp), labels: [("direction", "inbound")]
        )
        outboundBridged = registry.makeCounter(
            descriptor: Self.name("mqtt", "messages_bridged", "total", bridgedHelp), labels: [("direction", "outbound")]
        )
        rejected = registry.makeCounter(descriptor: Self.name(
            "mqtt", "messages_rejected", "total", "Inbound MQTT messages that could not become events (kept in the rejected log)"
        ))
        rejectedDropped = registry.makeCounter(descriptor: Self.name(
            "mqtt", "rejected_dropped", "total", "Oldest rejected messages dropped to keep the log under mqtt.rejected.max-bytes"
        ))
        rejectedLogErrors = registry.makeCounter(descriptor: Self.name(
            "mqtt", "rejected_log_errors", "total", "Failed writes of the rejected log (the message is not acknowledged and is retried)"
        ))
        reconnects = registry.makeCounter(descriptor: Self.name("mqtt", "reconnects", "total", "Lost MQTT connections of the bridge"))
        leaderChanges = registry.makeCounter(descriptor: Self.name(
            nil, "leader_changes", "total", "Times this instance became or stopped being the bridge leader"
        ))
        inboundStore = registry.makeDurationHistogram(
            descriptor: Self.name("mqtt", "inbound_store", "seconds", "MQTT batch to durable events"), buckets: buckets
        )
        outboundAck = registry.makeDurationHistogram(
            descriptor: Self.name("mqtt", "outbound_ack", "seconds", "Event batch handed to MQTT to the broker's acknowledgement"),
            buckets: buckets
        )
        restPublish = registry.makeDurationHistogram(
            descriptor: Self.name("rest", "publish", "seconds", "REST publish: request validated to event durable"), buckets: buckets
        )
    }

    /// `weevent_<subsystem>_<name>_<unit>`.
    private static func name(_ subsystem: String?, _ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "weevent", subsystem: subsystem, metricName: metric, unitName: unit, helpText: help)
    }

    /// The text exposition format.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
