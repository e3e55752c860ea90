import BrokerConfiguration
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WeEvent
@testable import Server

/// Identities over HTTP: made, changed and revoked through the admin endpoints, each call checked
/// against the caller's rights, and every event naming its publisher.
@Suite struct IdentityTests {
    private func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }
    private let master: HTTPFields = [.authorization: "Bearer m-secret"]

    /// Adds an identity with the master token; returns its token.
    private func add(_ client: any TestClientProtocol, _ name: String, _ rights: String) async throws -> String {
        let reply = try await client.call("/weevent/admin/addIdentity", method: .post, form: "name=\(name)&rights=\(rights.formEncoded)", headers: master)
        #expect(reply.status == 200, "\(reply.body)")
        return reply.object["token"] as? String ?? ""
    }

    private func extensions(_ client: any TestClientProtocol, _ eventID: String, headers: HTTPFields) async throws -> [String: String] {
        let reply = try await client.call("/weevent/rest/getEvent?eventId=\(eventID)", headers: headers)
        return reply.object["extensions"] as? [String: String] ?? [:]
    }

    @Test func anIdentityMayDoWhatItsRightsSayAndItsEventsNameIt() async throws {
        try await withAPI({ $0.server.masterAccessToken = "m-secret" }) { client in
            let token = try await add(client, "sensor", "publish,read@1:sensors/# read@1:public")
            let sensor = bearer(token)
            #expect(try await client.call("/weevent/rest/open?topic=sensors/t1", headers: sensor).body == "true", "publish may create its topic")
            #expect(try await client.call("/weevent/rest/open?topic=alerts", headers: master).body == "true")
            #expect(try await client.call("/weevent/rest/open?topic=public", headers: master).body == "true")

            let published = try await client.call("/weevent/rest/publish?topic=sensors/t1&content=21.5&weevent-unit=C", headers: sensor)
            let id = try #require(published.object["eventId"] as? String, "\(published.body)")
            #expect(try await extensions(client, id, headers: sensor) == ["weevent-publisher": "sensor", "weevent-unit": "C"])
            let proof = try await client.call("/weevent/rest/proof?eventId=\(id)", headers: sensor)
            #expect((proof.object["event"] as? [String: Any]).flatMap { $0["extensions"] as? [String: String] }?["weevent-publisher"] == "sensor")

            // Elsewhere: 403 naming the action, topic, group and identity.
            let refused = try await client.expectError("/weevent/rest/publish?topic=alerts&content=x", headers: sensor, code: 100704, status: 403)
            #expect(refused == "publish is not granted on topic 'alerts' in group 1 (identity sensor)")
            try await client.expectError("/weevent/rest/publish?topic=public&content=x", headers: sensor, code: 100704, status: 403)
            try await client.expectError("/weevent/rest/publish?topic=sensors/t1&content=x&groupId=2", headers: sensor, code: 100704, status: 403)
            try await client.expectError("/weevent/rest/close?topic=sensors/t1", headers: sensor, code: 100704, status: 403)
            let admin = try await client.expectError("/weevent/admin/listGroup", headers: sensor, code: 100704, status: 403)
            #expect(admin == "admin is not granted (identity sensor)")
            try await client.expectError("/weevent/metrics", headers: sensor, code: 100704, status: 403)
            try await client.expectError("/weevent/master/mqtt_list_topic", headers: sensor, code: 100704, status: 403)

            // Reading: a filter is allowed only when the rights cover all of it.
            #expect(try await client.call("/weevent/rest/events?topic=sensors/%2B", headers: sensor).status == 200)
            #expect(try await client.call("/weevent/rest/events?topic=sensors/%23,public", headers: sensor).status == 200)
            let wide = try await client.expectError("/weevent/rest/events?topic=%23", headers: sensor, code: 100704, status: 403)
            #expect(wide.contains("read is not granted on every topic of '#' in group 1"), "\(wide)")
            try await client.expectError("/weevent/rest/events?topic=sensors/%23,alerts", headers: sensor, code: 100704, status: 403)
            try await client.expectError("/weevent/rest/block?height=1", headers: sensor, code: 100704, status: 403)
            let alert = try await client.call("/weevent/rest/publish?topic=alerts&content=fire", headers: master)
            let alertID = try #require(alert.object["eventId"] as? String)
            try await client.expectError("/weevent/rest/getEvent?eventId=\(alertID)", headers: sensor, code: 100704, status: 403)
            try await client.expectError("/weevent/rest/proof?eventId=\(alertID)", headers: sensor, code: 100704, status: 403)
            #expect(try await extensions(client, alertID, headers: master) == ["weevent-publisher": "master"])
            try await client.expectError("/weevent/rest/state?topic=alerts", headers: sensor, code: 100704, status: 403)
            #expect(try await client.call("/weevent/rest/exist?topic=public", headers: sensor).body == "true")

            // rest/list shows only the topics the identity holds a right on.
            let listed = try await client.call("/weevent/rest/list", headers: sensor)
            let names = (listed.object["topicInfoList"] as? [[String: Any]] ?? []).compactMap { $0["topicName"] as? String }
            #expect(names.sorted() == ["public", "sensors/t1"], "\(listed.body)")
            #expect(listed.object["total"] as? Int == 2)

            // Without a token: the default rights, and no publisher.
            let anonymous = try await client.call("/weevent/rest/publish?topic=alerts&content=x")
            let anonymousID = try #require(anonymous.object["eventId"] as? String, "\(anonymous.body)")
            #expect(try await extensions(client, anonymousID, headers: [:]).isEmpty)
            // A token that names nobody is refused, even where no token is needed.
            try await client.expectError("/weevent/rest/publish?topic=alerts&content=x", headers: bearer("wev_nobody"), code: 100701, status: 401)
        }
    }

    /// Nobody sets the publisher but the broker: not a caller without a token, not the master.
    @Test func thePublisherExtensionIsTheBrokersOwn() async throws {
        try await withAPI({ $0.server.masterAccessToken = "m-secret" }) { client in
            _ = try await client.call("/weevent/rest/open?topic=t", headers: master)
            for headers in [[:], master] {
                for key in ["weevent-publisher", "weevent-Publisher"] {
                    let message = try await client.expectError(
                        "/weevent/rest/publish?topic=t&content=x&\(key)=mallory", headers: headers, code: 100206)
                    #expect(message.contains("reserved"), "\(message)")
                }
            }
        }
    }

    @Test func grantRevokeAndRenewTakeEffectAtOnce() async throws {
        try await withAPI({ $0.server.masterAccessToken = "m-secret" }) { client in
            _ = try await client.call("/weevent/rest/open?topic=a", headers: master)
            _ = try await client.call("/weevent/rest/open?topic=b", headers: master)
            let token = try await add(client, "app", "publish:a")
            try await client.expectError("/weevent/rest/publish?topic=b&content=x", headers: bearer(token), code: 100704, status: 403)
            let granted = try await client.call("/weevent/admin/grantIdentity?name=app&rights=publish:b", headers: master)
            #expect((granted.object["rights"] as? [Any])?.count == 2, "\(granted.body)")
            #expect(try await client.call("/weevent/rest/publish?topic=b&content=x", headers: bearer(token)).status == 200)
            let revoked = try await client.call("/weevent/admin/revokeIdentity?name=app&rights=publish:b", headers: master)
            #expect((revoked.object["rights"] as? [Any])?.count == 1, "\(revoked.body)")
            try await client.expectError("/weevent/rest/publish?topic=b&content=x", headers: bearer(token), code: 100704, status: 403)
            try await client.expectError("/weevent/admin/revokeIdentity?name=app&rights=read:b", headers: master, code: 100708)

            let renewed = try await client.call("/weevent/admin/renewIdentityToken?name=app", headers: master)
            let newToken = try #require(renewed.object["token"] as? String)
            #expect(newToken != token)
            try await client.expectError("/weevent/rest/publish?topic=a&content=x", headers: bearer(token), code: 100701, status: 401)
            #expect(try await client.call("/weevent/rest/publish?topic=a&content=x", headers: bearer(newToken)).status == 200)

            #expect(try await client.call("/weevent/admin/revokeIdentity?name=app", headers: master).body == "true")
            try await client.expectError("/weevent/rest/publish?topic=a&content=x", headers: bearer(newToken), code: 100701, status: 401)
            try await client.expectError("/weevent/admin/revokeIdentity?name=app", headers: master, code: 100706, status: 404)
            try await client.expectError("/weevent/admin/grantIdentity?name=app&rights=read", headers: master, code: 100706, status: 404)
        }
    }

    @Test func theListShowsNamesAndRightsButNeverATokenAndBadInputIsNamed() async throws {
        try await withAPI({ $0.server.masterAccessToken = "m-secret" }) { client in
            let token = try await add(client, "reader", "read@1,2:a/+")
            let listed = try await client.call("/weevent/admin/listIdentity", headers: master)
            #expect(!listed.body.contains(token) && !listed.body.contains("token"), "\(listed.body)")
            let first = try #require((listed.json as? [[String: Any]])?.first)
            #expect(first["name"] as? String == "reader")
            let right = try #require((first["rights"] as? [[String: Any]])?.first)
            #expect(right["actions"] as? [String] == ["read"] && right["groups"] as? [String] == ["1", "2"] && right["topics"] as? [String] == ["a/+"])

            try await client.expectError("/weevent/admin/addIdentity?name=reader&rights=read", headers: master, code: 100707, status: 409)
            try await client.expectError("/weevent/admin/addIdentity?name=master&rights=read", headers: master, code: 100705)
            try await client.expectError("/weevent/admin/addIdentity?name=a%20b", headers: master, code: 100705)
            let bad = try await client.expectError("/weevent/admin/addIdentity?name=x&rights=write:a", headers: master, code: 100708)
            #expect(bad.contains("'write' is not an action"), "\(bad)")
            try await client.expectError("/weevent/admin/listIdentity", code: 100701, status: 401)
        }
    }

    /// With no token configured, the broker is open until the first identity exists; that one
    /// must hold admin, or nobody could manage identities afterwards.
    @Test func withoutTokensTheFirstIdentityMustHoldAdmin() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=t")
            #expect(try await client.call("/weevent/admin/listGroup").status == 200, "open")
            let refused = try await client.expectError("/weevent/admin/addIdentity?name=app&rights=publish", code: 100708)
            #expect(refused.contains("nobody could manage identities"), "\(refused)")
            let reply = try await client.call("/weevent/admin/addIdentity?name=ops&rights=admin")
            let ops = bearer(try #require(reply.object["token"] as? String, "\(reply.body)"))
            // No longer open: callers without a token keep the default rights only.
            try await client.expectError("/weevent/admin/listGroup", code: 100701, status: 401)
            #expect(try await client.call("/weevent/rest/publish?topic=t&content=x").status == 200)
            #expect(try await client.call("/weevent/admin/listGroup", headers: ops).status == 200)
            try await client.expectError("/weevent/admin/revokeIdentity?name=ops", headers: ops, code: 100708)
            try await client.expectError("/weevent/admin/revokeIdentity?name=ops&rights=admin", headers: ops, code: 100708)
        }
    }

    /// An identity with a registered key: a valid signature is stored with the event; a wrong
    /// one, a missing one where required, and a replay under another topic are refused.
    @Test func signedEventsAreCheckedAtPublishAndStored() async throws {
        try await withAPI({ $0.server.masterAccessToken = "m-secret" }) { client in
            let token = try await add(client, "sensor", "publish:t publish:u publish@2:t")
            let sensor = bearer(token)
            for topic in ["t", "u"] { _ = try await client.call("/weevent/rest/open?topic=\(topic)", headers: master) }
            let seed = [UInt8](repeating: 7, count: 32)
            let publicKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed).publicKey.rawRepresentation.base64EncodedString()
            func signature(topic: String, content: String, group: String = "1", extensions: [String: String] = [:]) throws -> String {
                let message = EventSignature.message(group: group, topic: topic, publisher: "sensor", content: Array(content.utf8), extensions: extensions)
                return try EventSignature.sign(message, privateKey: seed).formEncoded
            }
            // Before a key is registered a signature means nothing: refused.
            let early = try await client.expectError(
                "/weevent/rest/publish?topic=t&content=hi&weevent-signature=\(try signature(topic: "t", content: "hi"))", headers: sensor, code: 100709)
            #expect(early.contains("identity sensor has none"), "\(early)")
            let set = try await client.call("/weevent/admin/setIdentityKey?name=sensor&publicKey=\(publicKey.formEncoded)", headers: master)
            #expect(set.object["publicKey"] as? String == publicKey && set.object["signaturesRequired"] as? Bool == false, "\(set.body)")

            let good = try signature(topic: "t", content: "21.5", extensions: ["weevent-unit": "C"])
            let published = try await client.call("/weevent/rest/publish?topic=t&content=21.5&weevent-unit=C&weevent-signature=\(good)", headers: sensor)
            let id = try #require(published.object["eventId"] as? String, "\(published.body)")
            let stored = try await extensions(client, id, headers: master)
            #expect(stored["weevent-publisher"] == "sensor" && stored["weevent-unit"] == "C")
            #expect(stored["weevent-signature"]?.formEncoded == good)

            let wrong = try await client.expectError(
                "/weevent/rest/publish?topic=t&content=21.6&weevent-unit=C&weevent-signature=\(good)", headers: sensor, code: 100709)
            #expect(wrong.contains("does not verify under identity sensor's key"), "\(wrong)")
            try await client.expectError(
                "/weevent/rest/publish?topic=u&content=21.5&weevent-unit=C&weevent-signature=\(good)", headers: sensor, code: 100709)
            try await client.expectError(
                "/weevent/rest/publish?topic=t&content=21.5&weevent-unit=C&weevent-signature=\(good)&groupId=2", headers: sensor, code: 100709)
            try await client.expectError("/weevent/rest/publish?topic=t&content=21.5&weevent-unit=F&weevent-signature=\(good)", headers: sensor, code: 100709)
            // Another caller cannot pass it off: the signature covers the publisher's name.
            try await client.expectError("/weevent/rest/publish?topic=t&content=21.5&weevent-unit=C&weevent-signature=\(good)", headers: master, code: 100709)
            try await client.expectError("/weevent/rest/publish?topic=t&content=21.5&weevent-unit=C&weevent-signature=\(good)", code: 100709)

            // Unsigned is fine until signatures are required.
            #expect(try await client.call("/weevent/rest/publish?topic=t&content=plain", headers: sensor).status == 200)
            _ = try await client.call("/weevent/admin/setIdentityKey?name=sensor&publicKey=\(publicKey.formEncoded)&signaturesRequired=true", headers: master)
            let missing = try await client.expectError("/weevent/rest/publish?topic=t&content=plain", headers: sensor, code: 100709)
            #expect(missing.contains("identity sensor must sign its events"), "\(missing)")
            #expect(
                try await client.call("/weevent/rest/publish?topic=t&content=hi&weevent-signature=\(try signature(topic: "t", content: "hi"))", headers: sensor)
                    .status == 200)

            try await client.expectError("/weevent/admin/setIdentityKey?name=sensor&publicKey=AAAA", headers: master, code: 100709)
            try await client.expectError("/weevent/admin/setIdentityKey?name=sensor&signaturesRequired=true", headers: master, code: 100709)
            try await client.expectError("/weevent/admin/setIdentityKey?name=sensor&signaturesRequired=maybe", headers: master, code: 200001)
            let cleared = try await client.call("/weevent/admin/setIdentityKey?name=sensor", headers: master)
            #expect(cleared.object["publicKey"] == nil && cleared.object["signaturesRequired"] as? Bool == false, "\(cleared.body)")
        }
    }

    @Test func accessAnonymousNoneRefusesCallersWithoutAToken() async throws {
        try await withAPI({ $0.server.anonymousRights = Rights.none }) { client in
            let message = try await client.expectError("/weevent/rest/open?topic=t", code: 100701, status: 401)
            #expect(message.contains("publish is not granted on topic 't' in group 1 without a token"), "\(message)")
            try await client.expectError("/weevent/rest/events?topic=t", code: 100701, status: 401)
            #expect(try await client.call("/weevent/admin/health").status == 200, "health stays open")
        }
    }
}

extension String {
    /// Form-encoded, spaces as `+`.
    var formEncoded: String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~ ")
        return (addingPercentEncoding(withAllowedCharacters: allowed) ?? self).replacingOccurrences(of: " ", with: "+")
    }
}
