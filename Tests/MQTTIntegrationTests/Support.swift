import Foundation
import TestSupport
import MQTT
import NIOCore
import Synchronization
import Testing

/// Integration tests run only where mosquitto is installed (`make test` installs it).
let mosquittoInstalled = findExecutable("mosquitto") != nil
let skipMessage: Comment = "mosquitto is not installed (apt-get install mosquitto mosquitto-clients): integration tests skipped"

extension Mosquitto {
    /// A client configuration for this broker that reconnects fast.
    func configuration(clientID: String, cleanSession: Bool = true) -> MQTTConfiguration {
        var c = MQTTConfiguration(host: "127.0.0.1", port: port, clientID: clientID, cleanSession: cleanSession, keepAlive: .seconds(10))
        c.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(50), maxDelay: .milliseconds(500))
        return c
    }
}

/// Collects messages from a client, acknowledging each after recording it.
actor Inbox {
    private(set) var payloads: [String] = []
    private(set) var qos: [MQTTQoS] = []
    private var distinct = Set<String>()
    private var waiters: [(count: Int, distinct: Bool, continuation: CheckedContinuation<Void, Never>)] = []

    func add(_ message: MQTTMessage) {
        payloads.append(message.payloadString)
        distinct.insert(message.payloadString)
        qos.append(message.qos)
        let ready = waiters.filter(isMet)
        waiters.removeAll(where: isMet)
        for waiter in ready { waiter.continuation.resume() }
    }

    private func isMet(_ waiter: (count: Int, distinct: Bool, continuation: CheckedContinuation<Void, Never>)) -> Bool {
        (waiter.distinct ? distinct.count : payloads.count) >= waiter.count
    }

    func waitFor(count: Int) async {
        if payloads.count >= count { return }
        await withCheckedContinuation { waiters.append((count, false, $0)) }
    }

    /// Until `count` different payloads have come: at QoS 1 duplicates also count towards `waitFor(count:)`.
    func waitFor(distinct count: Int) async {
        if distinct.count >= count { return }
        await withCheckedContinuation { waiters.append((count, true, $0)) }
    }

    var count: Int { payloads.count }

    /// Starts draining `client.messages` into an inbox.
    static func draining(_ client: MQTTClient) -> Inbox {
        let inbox = Inbox()
        Task {
            for await message in client.messages {
                await inbox.add(message)
                message.ack()
            }
        }
        return inbox
    }
}

/// Every packet one client sent and received, with the payload of each PUBLISH, to explain a
/// duplicate: did it arrive as a redelivery (DUP=1) of a packet id our session had already
/// completed, or as a new PUBLISH (DUP=0) the broker sent again on its own?
final class PacketLog: Sendable {
    struct Entry: Sendable {
        let sent: Bool
        let packet: MQTTPacket
        let connection: Int
    }

    // Mutex: the trace hook runs on the client's event loop, the test reads after the run.
    private let state = Mutex<(entries: [Entry], connection: Int)>(([], 0))

    func record(sent: Bool, _ packet: MQTTPacket) {
        state.withLock { state in
            if case .connect = packet { state.connection += 1 }
            state.entries.append(Entry(sent: sent, packet: packet, connection: state.connection))
        }
    }

    var entries: [Entry] { state.withLock { $0.entries } }

    /// How a payload went out: "d0 m7 on connection 1, d1 m7 on connection 2".
    func sends(of payload: String) -> String {
        entries.compactMap { entry -> String? in
            guard entry.sent, case .publish(let p) = entry.packet,
                String(decoding: p.payload.readableBytesView, as: UTF8.self) == payload
            else { return nil }
            return "d\(p.dup ? 1 : 0) m\(p.packetID ?? 0) on connection \(entry.connection)"
        }.joined(separator: ", ")
    }

    /// Payloads received more than once.
    var duplicatedPayloads: [String] {
        var seen: [String: Int] = [:]
        for entry in entries where !entry.sent {
            if case .publish(let p) = entry.packet { seen[String(decoding: p.payload.readableBytesView, as: UTF8.self), default: 0] += 1 }
        }
        return seen.filter { $0.value > 1 }.map(\.key).sorted()
    }

    /// Payloads delivered more than once where some copy is not the broker resending (DUP=1, same
    /// packet id) a message it had released before: a duplicate our client let through or made. A copy after the broker's
    /// PUBREL for the previous copy's packet id is the broker sending a released message again
    /// (MQTT-4.3.3-1 forbids it; after PUBCOMP the id is free, MQTT-4.3.3-2, so it is a new message).
    func duplicatesNotReleasedBefore(delivered: [String]) -> [String] {
        let entries = self.entries
        var deliveries: [String: Int] = [:]
        for payload in delivered { deliveries[payload, default: 0] += 1 }
        var copies: [String: [Int]] = [:]
        for (index, entry) in entries.enumerated() where !entry.sent {
            if case .publish(let p) = entry.packet {
                copies[String(decoding: p.payload.readableBytesView, as: UTF8.self), default: []].append(index)
            }
        }
        // A copy the client answered without delivering it (a redelivery it knew) is no duplicate.
        return copies.filter { payload, indices in
            deliveries[payload, default: 0] > 1
                && zip(indices, indices.dropFirst()).contains { earlier, later in
                    guard case .publish(let p) = entries[earlier].packet, let id = p.packetID,
                        case .publish(let again) = entries[later].packet, again.dup, again.packetID == id
                    else { return true }
                    return !entries[earlier..<later].contains { entry in
                        if !entry.sent, case .pubrel(let rel) = entry.packet { return rel.packetID == id }
                        return false
                    }
                }
        }.map(\.key).sorted()
    }

    /// For each payload received more than once: how each copy arrived and what our client had
    /// answered for the earlier copy's packet id before the next copy came.
    func explainDuplicates(limit: Int = 5) -> String {
        let entries = self.entries
        var arrivals: [String: [Int]] = [:]
        for (index, entry) in entries.enumerated() where !entry.sent {
            if case .publish(let p) = entry.packet {
                arrivals[String(decoding: p.payload.readableBytesView, as: UTF8.self), default: []].append(index)
            }
        }
        var lines: [String] = []
        for (payload, indices) in arrivals.sorted(by: { $0.value[0] < $1.value[0] }) where indices.count > 1 {
            var line = "'\(payload)':"
            for (n, index) in indices.enumerated() {
                guard case .publish(let p) = entries[index].packet else { continue }
                line += " copy \(n + 1) on connection \(entries[index].connection) as PUBLISH d\(p.dup ? 1 : 0) m\(p.packetID ?? 0)"
                if n + 1 < indices.count, let id = p.packetID {
                    // What went between us for this id between this copy and the next.
                    let answers = entries[index..<indices[n + 1]].filter { entry in
                        switch entry.packet {
                        case .pubrel(let a): return a.packetID == id
                        case .pubrec(let a): return a.packetID == id
                        case .pubcomp(let a): return a.packetID == id
                        case .puback(let a): return a.packetID == id
                        default: return false
                        }
                    }.map { ($0.sent ? "sent " : "received ") + $0.packet.type.name }
                    line += " (then \(answers.isEmpty ? "nothing" : answers.joined(separator: ", ")) for m\(id));"
                }
            }
            lines.append(line)
            if lines.count == limit { break }
        }
        return lines.joined(separator: "\n")
    }
}
