import Ledger
import MQTT
import NIOCore

extension MQTTBridge {
    /// While this instance runs the bridge: each group's latest signed checkpoint, with the
    /// cosignatures collected, goes to `<mqtt.checkpoint.topic-prefix><groupId>` as a retained
    /// QoS 1 message whenever it changes (looked at once per checkpoint interval, at least once a
    /// second), so devices and gateways can pin the log's head without HTTP. A checkpoint any
    /// instance signed is published; one that could not be sent is tried again at the next look.
    func publishCheckpoints(_ client: MQTTClient) async {
        let prefix = configuration.mqtt.checkpointTopicPrefix
        let tick = max(.milliseconds(100), min(configuration.ledger.checkpointInterval, .seconds(1)))
        var published: [String: String] = [:]
        var failing: Set<String> = []
        while !Task.isCancelled {
            for group in ledgers.groups {
                guard let ledger = try? ledgers.ledger(group), let latest = try? await ledger.checkpoint(size: nil),
                    published[group] != latest.note
                else { continue }
                do {
                    try await client.publish(to: prefix + group, payload: latest.note, qos: .atLeastOnce, retain: true)
                    published[group] = latest.note
                    if failing.remove(group) != nil { logger.info("checkpoint published again", metadata: ["group": "\(group)"]) }
                } catch {
                    if failing.insert(group).inserted {
                        logger.warning("checkpoint not published, retrying", metadata: ["group": "\(group)", "error": "\(error)"])
                    }
                }
            }
            try? await Task.sleep(for: tick)
        }
    }
}
