import MQTT

/// `-d`: one line per packet on standard output, worded as libmosquitto's debug log, so a
/// `mosquitto_sub -d` transcript and ours read alike (`Client ID sending PUBLISH (d0, q1, r0,
/// m1, 'a/b', ... (5 bytes))`).
enum DebugTrace {
    static func lines(sent: Bool, _ packet: MQTTPacket, clientID: String) -> [String] {
        let who = "Client \(clientID) \(sent ? "sending" : "received")"
        switch packet {
        case .connect: return ["\(who) CONNECT"]
        case .connack(let p): return ["\(who) CONNACK (\(p.returnCode))"]
        case .publish(let p):
            let length = p.skippedPayloadLength ?? p.payload.readableBytes
            return ["\(who) PUBLISH (d\(p.dup ? 1 : 0), q\(p.qos.rawValue), r\(p.retain ? 1 : 0), m\(p.packetID ?? 0), '\(p.topic)', ... (\(length) bytes))"]
        case .puback(let p): return [sent ? "\(who) PUBACK (m\(p.packetID), rc0)" : "\(who) PUBACK (Mid: \(p.packetID), RC:0)"]
        case .pubrec(let p): return [sent ? "\(who) PUBREC (m\(p.packetID), rc0)" : "\(who) PUBREC (Mid: \(p.packetID))"]
        case .pubrel(let p): return [sent ? "\(who) PUBREL (m\(p.packetID))" : "\(who) PUBREL (Mid: \(p.packetID))"]
        case .pubcomp(let p): return [sent ? "\(who) PUBCOMP (m\(p.packetID))" : "\(who) PUBCOMP (Mid: \(p.packetID), RC:0)"]
        case .subscribe(let p):
            return p.subscriptions.map { "\(who) SUBSCRIBE (Mid: \(p.packetID), Topic: \($0.topicFilter), QoS: \($0.qos.rawValue), Options: 0x00)" }
        case .suback(let p):
            // mosquitto_sub's own line follows libmosquitto's.
            return ["\(who) SUBACK", "Subscribed (mid: \(p.packetID)): " + p.returnCodes.map { String($0.rawValue) }.joined(separator: ", ")]
        case .unsubscribe(let p): return p.topicFilters.map { "\(who) UNSUBSCRIBE (Mid: \(p.packetID), Topic: \($0))" }
        case .unsuback: return ["\(who) UNSUBACK"]
        case .pingreq: return ["\(who) PINGREQ"]
        case .pingresp: return ["\(who) PINGRESP"]
        case .disconnect: return ["\(who) DISCONNECT"]
        }
    }
}
