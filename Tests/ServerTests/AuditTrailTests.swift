import BrokerConfiguration
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WeEvent
@testable import Server

/// Every administrative change, once access is configured, is an event on `$weevent/audit`
/// naming who made it; refused changes leave none; an open broker keeps no trail.
@Suite struct AuditTrailTests {
    private let master: HTTPFields = [.authorization: "Bearer m-secret"]
    private func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }
    static let auditTopic = "%24weevent/audit"

    /// The audit events of group `group`, oldest first: (content as JSON object, extensions, id).
    private func trail(_ client: any TestClientProtocol, group: String = "1") async throws -> [(
        fields: [String: String], extensions: [String: String], id: String
    )] {
        let page = try await client.call("/weevent/rest/events?topic=\(Self.auditTopic)&groupId=\(group)&limit=100", headers: master)
        let events = page.object["events"] as? [[String: Any]] ?? []
        return events.map { event in
            let content = Data(base64Encoded: event["content"] as? String ?? "") ?? Data()
            let fields = (try? JSONSerialization.jsonObject(with: content)) as? [String: String] ?? [:]
            return (fields, event["extensions"] as? [String: String] ?? [:], event["eventId"] as? String ?? "")
        }
    }

    @Test func everyChangeIsOneEventNamingWhoMadeItAndItsProofVerifies() async throws {
        try await withTestBroker(
            configure: {
                $0.server.masterAccessToken = "m-secret"
                $0.subscriptions.callbackAllowedRanges = [IPRange("127.0.0.0/8")!]
            },
            bridge: true, subscriptions: true
        ) { client, _ in
            let made = try await client.call(
                "/weevent/admin/addIdentity?name=ops&rights=\("manage,read,publish:plant/# admin".formEncoded)", headers: master)
            let ops = bearer(try #require(made.object["token"] as? String, "\(made.body)"))
            #expect(try await client.call("/weevent/rest/open?topic=plant/a", headers: ops).body == "true")
            #expect(try await client.call("/weevent/rest/open?topic=plant/a", headers: ops).body == "true", "open already: no change")
            #expect(try await client.call("/weevent/master/mqtt_add_inbound_topic?topic=plant/a&mqttTopic=dev/a", headers: ops).body == "true")
            #expect(try await client.call("/weevent/master/mqtt_remove_inbound_topic?topic=plant/a", headers: ops).body == "true")
            let subscription = try await client.call("/weevent/rest/subscribe?topic=plant/a&url=http://127.0.0.1:9/hook", headers: ops).body
            #expect(try await client.call("/weevent/rest/unSubscribe?subscriptionId=\(subscription)", headers: ops).body == "true")
            #expect(try await client.call("/weevent/rest/close?topic=plant/a", headers: ops).body == "true")
            _ = try await client.call("/weevent/admin/addIdentity?name=app&rights=read", headers: ops)
            _ = try await client.call("/weevent/admin/grantIdentity?name=app&rights=publish:x", headers: ops)
            _ = try await client.call("/weevent/admin/revokeIdentity?name=app&rights=publish:x", headers: ops)
            _ = try await client.call("/weevent/admin/renewIdentityToken?name=app", headers: master)
            _ = try await client.call("/weevent/admin/revokeIdentity?name=app", headers: master)
            // Refused changes leave nothing.
            try await client.expectError("/weevent/rest/close?topic=other", headers: ops, code: 100704, status: 403)
            try await client.expectError("/weevent/admin/grantIdentity?name=nobody&rights=read", headers: ops, code: 100706, status: 404)

            let trail = try await trail(client)
            let actions = trail.map { "\($0.fields["action"] ?? "?") by \($0.fields["by"] ?? "?")" }
            #expect(
                actions == [
                    "identity.add by master", "topic.open by ops", "binding.add by ops", "binding.remove by ops", "subscription.add by ops",
                    "subscription.remove by ops", "topic.close by ops", "identity.add by ops", "identity.grant by ops",
                    "identity.revoke by ops", "identity.renew by master", "identity.remove by master",
                ], "\(actions)")
            for entry in trail { #expect(entry.extensions["weevent-publisher"] == entry.fields["by"], "\(entry)") }
            #expect(trail[1].fields == ["action": "topic.open", "by": "ops", "groupId": "1", "topic": "plant/a"])
            #expect(trail[2].fields["mqttTopic"] == "dev/a" && trail[2].fields["direction"] == "inbound")
            #expect(trail[4].fields["subscriptionId"] == subscription && trail[4].fields["url"] == "http://127.0.0.1:9/hook")
            #expect(trail[8].fields["rights"] == "publish@*:x")
            #expect(!trail.contains { $0.fields.values.contains { $0.hasPrefix("wev_") } }, "no token in the trail")

            // Its proofs verify, with the publisher inside what the event hash covers.
            for entry in [trail[0], trail[6], trail[11]] {
                let proof = try await client.call("/weevent/rest/proof?eventId=\(entry.id)", headers: master)
                let (status, output) = try await checkProof(proof.body)
                #expect(status == 0 && output.contains("published by \(entry.fields["by"]!)"), "\(output)")
            }
        }
    }

    @Test func theTrailIsTheBrokersOwnTopicAndReadableByRight() async throws {
        try await withAPI({ $0.server.masterAccessToken = "m-secret" }, bridge: true) { client in
            _ = try await client.call("/weevent/rest/open?topic=t", headers: master)
            for path in [
                "rest/publish?topic=\(Self.auditTopic)&content=forged", "rest/close?topic=\(Self.auditTopic)",
                "rest/open?topic=%24weevent/other", "master/mqtt_add_outbound_topic?topic=\(Self.auditTopic)",
            ] {
                let refused = try await client.expectError("/weevent/\(path)", headers: master, code: 100704, status: 403)
                #expect(refused.contains("topics under $weevent/ are the broker's own, and only read"), "\(path): \(refused)")
            }
            let made = try await client.call("/weevent/admin/addIdentity?name=auditor&rights=\("read:$weevent/audit".formEncoded)", headers: master)
            let auditor = bearer(try #require(made.object["token"] as? String))
            let page = try await client.call("/weevent/rest/events?topic=\(Self.auditTopic)", headers: auditor)
            #expect((page.object["events"] as? [Any])?.count == 2, "topic.open of t and identity.add of auditor: \(page.body)")
            try await client.expectError("/weevent/rest/events?topic=t", headers: auditor, code: 100704, status: 403)
        }
    }

    /// An open broker identifies nobody and keeps no trail: its chains are what WeEvent's walk-through shows.
    @Test func anOpenBrokerKeepsNoTrail() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=t")
            _ = try await client.call("/weevent/rest/close?topic=t")
            #expect(try await client.call("/weevent/rest/exist?topic=\(Self.auditTopic)").body == "false")
            let info = try await client.call("/weevent/admin/blockchaininfo")
            #expect(info.object["eventCount"] as? Int == 0, "\(info.body)")
        }
    }
}
