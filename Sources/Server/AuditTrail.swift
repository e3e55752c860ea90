import CoreMetrics
import Foundation
import Ledger
import Logging
import Synchronization
import WeEvent

/// The audit trail (docs/api.md "Audit trail"): once access is configured, every administrative
/// change (a topic opened or closed, a binding added or removed, a subscription created or
/// removed, an identity made, changed or removed) is itself an event, on the group's topic
/// `$weevent/audit`, published by the identity that made the change (`weevent-publisher`), so
/// the ledger proves who changed what. An open broker identifies nobody and keeps none, as
/// before access could be configured: its chains stay exactly as WeEvent's walk-through shows.
///
/// The event is written once the change is made. A change that succeeded is answered as such even
/// when its audit event cannot be written (the store failing right then); that is logged as an
/// error and counted in `weevent_audit_failures_total`.
struct AuditTrail: Sendable {
    static let topic = "$weevent/audit"
    /// Topics under this prefix are the broker's own: no caller publishes, requests, manages or
    /// binds them.
    static let reservedPrefix = "$weevent/"

    let ledgers: LedgerSet
    let access: AccessControl
    let logger: Logger
    let failures: Counter?

    init(_ services: BrokerServices) {
        ledgers = services.ledgers
        access = services.access
        logger = Logger(label: "weevent.audit")
        failures = services.metrics.map { Counter(label: "weevent_audit_failures_total", factory: $0.factory) }
    }

    /// Records `action` made by `caller` in `group` (the default group for identities), with
    /// `details` (the topic, the binding, the identity changed ...).
    /// `evenWhenOpen`: an erasure is recorded on an open broker too (docs/ledger.md "Retention").
    func record(_ action: String, group: String? = nil, by caller: Caller, _ details: [String: String], evenWhenOpen: Bool = false) async {
        do {
            if !evenWhenOpen, try await access.isOpen() { return }
            let ledger = try ledgers.ledger(group)
            var fields = details
            fields["action"] = action
            fields["groupId"] = ledger.groupID
            if let name = caller.name { fields["by"] = name }
            let content = try JSONBody.encoder.encode(fields)
            let extensions = caller.publisherExtensions
            if try await !ledger.exists(topic: Self.topic) { _ = try await ledger.open(topic: Self.topic, reopening: true) }
            _ = try await ledger.publish(NewEvent(topic: Self.topic, content: Array(content), extensions: extensions))
        } catch {
            failures?.increment()
            logger.error(
                "an administrative change was made but its audit event could not be written",
                metadata: ["action": "\(action)", "details": "\(details)", "by": "\(caller.name ?? "anonymous")", "error": "\(error)"])
        }
    }

    static func isReserved(_ topic: String) -> Bool { topic.hasPrefix(reservedPrefix) }
}
