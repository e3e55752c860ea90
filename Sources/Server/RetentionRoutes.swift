import BrokerConfiguration
import Foundation
import Hummingbird
import Ledger
import Synchronization
import WeEvent

/// `/weevent/admin/*` about retention (docs/api.md "Retention"): a group's policy, changed per
/// group and per topic pattern and kept on the group's `$weevent/retention`, and the erasure of
/// one event's content, which the group's audit trail records (also on an open broker).
struct RetentionRoutes {
    typealias Context = WeEventRequestContext

    /// Topic patterns a group's policy may name.
    static let maxRules = 100

    let services: BrokerServices
    let audit: AuditTrail

    init(_ services: BrokerServices) {
        self.services = services
        audit = AuditTrail(services)
    }

    var collection: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        let api = Endpoints(routes, services)
        api.add("admin/getRetention", requiring: .admin) { p in
            let ledger = try services.ledgers.ledger(p["groupId"])
            return try JSONBody.response(try await body(ledger))
        }
        api.add("admin/setRetention", requiring: .admin) { p in
            let ledger = try services.ledgers.ledger(p["groupId"])
            guard ledger.format == .v2 else {
                throw WeEventError(
                    .contentNotPrunable,
                    message: "a format 1 ledger's content cannot be pruned: group \(ledger.groupID) keeps its content whatever the retention")
            }
            var settings = try await RetentionService.storedSettings(of: ledger) ?? RetentionSettings()
            var details: [String: String] = [:]
            if let pattern = p["topic"] {
                try Self.checkPattern(pattern)
                guard let raw = p["maxAge"] else {
                    throw WeEventError(.retentionInvalid, message: "invalid retention setting: maxAge is required with topic (a duration like 7d, or keep)")
                }
                let maxAge = try Self.age(raw, name: "maxAge", allowing: "keep")
                if let index = settings.topics.firstIndex(where: { $0.pattern == pattern }) {
                    settings.topics[index].maxAge = maxAge
                } else {
                    guard settings.topics.count < Self.maxRules else {
                        throw WeEventError(
                            .retentionInvalid, message: "invalid retention setting: a group's policy names at most \(Self.maxRules) topic patterns")
                    }
                    settings.topics.append(.init(pattern: pattern, maxAge: maxAge))
                }
                details = ["topic": pattern, "maxAge": maxAge]
            } else {
                guard p["maxAge"] != nil || p["maxBytes"] != nil else {
                    throw WeEventError(
                        .retentionInvalid, message: "invalid retention setting: give maxAge or maxBytes for the group, or topic and maxAge for a pattern")
                }
                if let raw = p["maxAge"] {
                    let value = try Self.age(raw, name: "maxAge", allowing: "none", "default")
                    settings.maxAge = value == "default" ? nil : value
                    details["maxAge"] = value
                }
                if let raw = p["maxBytes"] {
                    guard raw == "none" || raw == "default" || RetentionPolicy.bytes(raw) != nil else {
                        throw WeEventError(
                            .retentionInvalid,
                            message: "invalid retention setting: maxBytes '\(raw.prefix(64))' is not a size (500MB, 20GiB, 1048576), none or default")
                    }
                    settings.maxBytes = raw == "default" ? nil : raw
                    details["maxBytes"] = raw
                }
            }
            try await store(settings, in: ledger, by: p.caller, action: "retention.set", details)
            return try JSONBody.response(try await body(ledger))
        }
        api.add("admin/removeRetention", requiring: .admin) { p in
            let ledger = try services.ledgers.ledger(p["groupId"])
            guard let pattern = p["topic"], !pattern.isEmpty else {
                throw WeEventError(.retentionInvalid, message: "invalid retention setting: topic is required (the pattern to remove)")
            }
            var settings = try await RetentionService.storedSettings(of: ledger) ?? RetentionSettings()
            guard let index = settings.topics.firstIndex(where: { $0.pattern == pattern }) else {
                throw WeEventError(.retentionInvalid, message: "invalid retention setting: group \(ledger.groupID) has no rule for '\(pattern.prefix(64))'")
            }
            settings.topics.remove(at: index)
            try await store(settings, in: ledger, by: p.caller, action: "retention.remove", ["topic": pattern])
            return try JSONBody.response(try await body(ledger))
        }
        api.add("admin/eraseEvent", requiring: .admin) { p in
            let id = try EventID.parse(p["eventId"])
            let ledger = try services.ledgers.ledger(p["groupId"])
            let event = try await ledger.event(id: id)
            if AuditTrail.isReserved(event.topic) || event.topic.hasPrefix("$") {
                throw WeEventError(.eventNotErasable, detail: "\(id) on \(event.topic)")
            }
            let erased = try await ledger.erase(id: id, at: Expiry.now())
            if event.pruned == nil {
                services.retention.countErasure(group: ledger.groupID)
                await audit.record(
                    "event.erase", group: ledger.groupID, by: p.caller,
                    ["eventId": id.description, "topic": event.topic, "eventHash": erased.pruned.map { hexString($0.eventHash) } ?? ""],
                    evenWhenOpen: true)
            }
            var json: [UInt8] = []
            erased.writeJSON(into: &json)
            return JSONBody.raw(json)
        }
        return routes
    }

    /// Stores the group's new settings as the latest event of its `$weevent/retention`,
    /// published by the caller, and records the change on the audit trail.
    private func store(
        _ settings: RetentionSettings, in ledger: any EventLedger, by caller: Caller, action: String, _ details: [String: String]
    ) async throws {
        let content = try JSONBody.encoder.encode(settings)
        if try await !ledger.exists(topic: RetentionSettings.topic) { _ = try await ledger.open(topic: RetentionSettings.topic, reopening: true) }
        _ = try await ledger.publish(NewEvent(topic: RetentionSettings.topic, content: Array(content), extensions: caller.publisherExtensions))
        await audit.record(action, group: ledger.groupID, by: caller, details)
    }

    /// A duration, or one of the words allowed; 100315 otherwise.
    static func age(_ raw: String, name: String, allowing words: String...) throws(WeEventError) -> String {
        if words.contains(raw) { return raw }
        guard let milliseconds = RetentionPolicy.milliseconds(raw), milliseconds > 0 else {
            throw WeEventError(
                .retentionInvalid,
                message: "invalid retention setting: \(name) '\(raw.prefix(64))' is not a duration (90s, 15m, 12h, 7d) or \(words.joined(separator: ", "))")
        }
        return RetentionPolicy.describe(milliseconds: milliseconds)
    }

    /// One topic name or MQTT pattern, not the policy's own topic.
    static func checkPattern(_ pattern: String) throws(WeEventError) {
        do {
            let filter = try TopicFilter.parse(pattern, maxItems: 1)
            guard filter.description == pattern, !pattern.contains(",") else { throw WeEventError(.patternInvalid) }
        } catch {
            throw WeEventError(.retentionInvalid, message: "invalid retention setting: topic '\(pattern.prefix(64))' is not one topic name or MQTT pattern")
        }
        if pattern == RetentionSettings.topic {
            throw WeEventError(.retentionInvalid, message: "invalid retention setting: \(RetentionSettings.topic) (the policy itself) is always kept")
        }
    }

    private func body(_ ledger: any EventLedger) async throws -> RetentionBody {
        let configured = services.configuration.ledger.retention
        let (policy, settings) = try await RetentionService.policy(of: ledger, configured: configured)
        let status = services.retention.status(of: ledger.groupID)
        return RetentionBody(
            groupId: ledger.groupID, format: ledger.format.rawValue,
            maxAge: policy.maxAge.map(RetentionPolicy.describe(milliseconds:)), maxBytes: policy.maxBytes,
            topics: (settings?.topics ?? []).map { .init(pattern: $0.pattern, maxAge: $0.maxAge) },
            configured: .init(maxAge: configured.maxAge.map(RetentionPolicy.describe(milliseconds:)), maxBytes: configured.maxBytes),
            intervalMs: Int64(services.configuration.ledger.retentionInterval.wholeMilliseconds),
            lastPass: status.lastPass, lastPassMs: status.lastPassMilliseconds,
            lastPruned: .init(status.lastPruned), prunedSinceStart: .init(status.prunedSinceStart), lastError: status.lastError
        )
    }
}

/// admin/getRetention (and the answer of setRetention/removeRetention).
struct RetentionBody: Encodable {
    struct Rule: Encodable {
        let pattern: String
        let maxAge: String
    }

    struct Configured: Encodable {
        let maxAge: String?
        let maxBytes: UInt64?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(maxAge, forKey: .maxAge)
            try container.encode(maxBytes, forKey: .maxBytes)
        }

        enum Keys: String, CodingKey { case maxAge, maxBytes }
    }

    struct Count: Encodable {
        let events: UInt64
        let bytes: UInt64

        init(_ count: PruneCount) {
            events = count.events
            bytes = count.bytes
        }
    }

    let groupId: String
    let format: Int
    /// In effect for topics no rule names; nil: no limit.
    let maxAge: String?
    let maxBytes: UInt64?
    let topics: [Rule]
    let configured: Configured
    let intervalMs: Int64
    /// This instance's passes.
    let lastPass: Int64?
    let lastPassMs: Int64?
    let lastPruned: Count
    let prunedSinceStart: Count
    let lastError: String?

    func encode(to encoder: any Encoder) throws {
        // nil values are written as null: "no limit" is an answer, not a missing field.
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(groupId, forKey: .groupId)
        try container.encode(format, forKey: .format)
        try container.encode(maxAge, forKey: .maxAge)
        try container.encode(maxBytes, forKey: .maxBytes)
        try container.encode(topics, forKey: .topics)
        try container.encode(configured, forKey: .configured)
        try container.encode(intervalMs, forKey: .intervalMs)
        try container.encode(lastPass, forKey: .lastPass)
        try container.encode(lastPassMs, forKey: .lastPassMs)
        try container.encode(lastPruned, forKey: .lastPruned)
        try container.encode(prunedSinceStart, forKey: .prunedSinceStart)
        try container.encode(lastError, forKey: .lastError)
    }

    enum Keys: String, CodingKey {
        case groupId, format, maxAge, maxBytes, topics, configured, intervalMs, lastPass, lastPassMs, lastPruned, prunedSinceStart, lastError
    }
}
