import CoreMetrics

/// The bridge's metrics, through swift-metrics: made from whichever factory the broker hands it
/// (the Prometheus registry served at /weevent/metrics, by `weevent serve`), so the bridge does
/// not know how they are exposed. docs/mqtt-bridge.md lists them.
public struct BridgeMetrics: Sendable {
    let inboundBridged: Counter
    let outboundBridged: Counter
    /// Outbound events not sent because they had expired (`Expiry`).
    let outboundExpired: Counter
    let rejected: Counter
    /// Rejected messages dropped from the log to keep it under `mqtt.rejected.max-bytes`.
    public let rejectedDropped: Counter
    /// Failed writes of the rejected log (the message stays unacknowledged and is retried).
    let rejectedLogErrors: Counter
    let reconnects: Counter
    /// QoS 2 messages the MQTT broker sent as new under a packet id it had not released (it lost
    /// that exchange: a restart from an older persistence file).
    let reusedPacketIDs: Counter
    let leaderChanges: Counter
    /// Time from a batch of MQTT messages reaching the committer to its events being durable.
    let inboundStore: Timer
    /// Time from handing a batch of events to the MQTT client to the broker's last acknowledgement.
    let outboundAck: Timer

    public init(factory: any MetricsFactory) {
        inboundBridged = Counter(label: "weevent_mqtt_messages_bridged_total", dimensions: [("direction", "inbound")], factory: factory)
        outboundBridged = Counter(label: "weevent_mqtt_messages_bridged_total", dimensions: [("direction", "outbound")], factory: factory)
        outboundExpired = Counter(label: "weevent_mqtt_messages_expired_total", factory: factory)
        rejected = Counter(label: "weevent_mqtt_messages_rejected_total", factory: factory)
        rejectedDropped = Counter(label: "weevent_mqtt_rejected_dropped_total", factory: factory)
        rejectedLogErrors = Counter(label: "weevent_mqtt_rejected_log_errors_total", factory: factory)
        reconnects = Counter(label: "weevent_mqtt_reconnects_total", factory: factory)
        reusedPacketIDs = Counter(label: "weevent_mqtt_reused_packet_ids_total", factory: factory)
        leaderChanges = Counter(label: "weevent_leader_changes_total", factory: factory)
        inboundStore = Timer(label: "weevent_mqtt_inbound_store_seconds", factory: factory)
        outboundAck = Timer(label: "weevent_mqtt_outbound_ack_seconds", factory: factory)
    }
}

extension Timer {
    /// Records a measured `Duration`.
    public func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue &+ attoseconds / 1_000_000_000)
    }
}
