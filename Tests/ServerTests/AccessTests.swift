import BrokerConfiguration
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WeEvent
@testable import Server

/// master.access-token and admin.access-token: built-in identities with every right, how a token
/// is sent, and what callers without a token may still do.
@Suite struct AccessTests {
    static let adminPaths = [
        "/weevent/rest/close?topic=t", "/weevent/rest/unSubscribe?subscriptionId=7f0c3f5e-0d5b-4c4e-9d59-1f2b8c3b1a10",
        "/weevent/rest/subscribe?topic=t&url=http://192.0.2.1/cb", "/weevent/admin/listSubscription",
        "/weevent/admin/listGroup", "/weevent/admin/blockchaininfo", "/weevent/metrics",
    ]
    static let masterPaths = ["/weevent/master/mqtt_list_topic", "/weevent/master/mqtt_add_inbound_topic?topic=t"]
    static let openPaths = [
        "/weevent/rest/open?topic=u", "/weevent/rest/publish?topic=u&content=x", "/weevent/rest/exist?topic=u",
        "/weevent/rest/list", "/weevent/rest/events?topic=u", "/weevent/admin/health",
    ]

    private func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    @Test func withBothTokensEachTakesEverythingAndCallersWithoutOneKeepTheDefaultRights() async throws {
        try await withTestBroker(
            configure: {
                $0.server.masterAccessToken = "m-secret"; $0.server.adminAccessToken = "a-secret"
            },
            bridge: true, subscriptions: true
        ) { client, _ in
            _ = try await client.call("/weevent/rest/open?topic=t")
            for path in Self.adminPaths + Self.masterPaths {
                try await client.expectError(path, code: 100701, status: 401)
                try await client.expectError(path, headers: bearer("wrong"), code: 100701, status: 401)
                try await client.expectError(path, headers: bearer("m-secre"), code: 100701, status: 401)
                try await client.expectError(path, headers: bearer("m-secretx"), code: 100701, status: 401)
            }
            for path in Self.masterPaths {
                #expect(try await client.call(path, headers: bearer("a-secret")).status == 200, "\(path)")
                #expect(try await client.call(path, headers: bearer("m-secret")).status == 200, "\(path)")
            }
            for path in Self.adminPaths {
                for token in ["a-secret", "m-secret"] {
                    let reply = try await client.call(path, headers: bearer(token))
                    #expect(reply.code != 100701, "\(path) with \(token): \(reply.body)")
                }
            }
            for path in Self.openPaths {
                #expect(try await client.call(path).status == 200, "\(path)")
            }
        }
    }

    /// rest/open creates topics for anyone, but a topic the admin closed is reopened only with
    /// the admin (or master) token; without tokens configured, for anyone as before.
    @Test func reopeningATopicTheAdminClosedNeedsTheAdminToken() async throws {
        try await withTestBroker(configure: { $0.server.adminAccessToken = "a-secret" }) { client, _ in
            #expect(try await client.call("/weevent/rest/open?topic=door").body == "true")
            #expect(try await client.call("/weevent/rest/close?topic=door", headers: bearer("a-secret")).body == "true")
            let refused = try await client.expectError("/weevent/rest/open?topic=door", code: 100701, status: 401)
            #expect(refused.contains("manage is not granted on topic 'door' in group 1 without a token"), "\(refused)")
            try await client.expectError("/weevent/rest/open?topic=door", headers: bearer("wrong"), code: 100701, status: 401)
            #expect(try await client.call("/weevent/rest/exist?topic=door").body == "false")
            try await client.expectError("/weevent/rest/publish?topic=door&content=unlock", code: 100101, status: 404)
            #expect(try await client.call("/weevent/rest/open?topic=door", headers: bearer("a-secret")).body == "true")
            #expect(try await client.call("/weevent/rest/open?topic=door").body == "true", "open already")
        }
        try await withTestBroker { client, _ throws in
            #expect(try await client.call("/weevent/rest/open?topic=t").body == "true")
            #expect(try await client.call("/weevent/rest/close?topic=t").body == "true")
            #expect(try await client.call("/weevent/rest/open?topic=t").body == "true")
        }
    }

    @Test func theQueryAndFormTokenOfWeEventClientsStillWork() async throws {
        try await withTestBroker(configure: { $0.server.masterAccessToken = "s3cret" }, bridge: true) { client, _ in
            _ = try await client.call("/weevent/rest/open?topic=t")
            try await client.expectError("/weevent/master/mqtt_add_inbound_topic?topic=t&token=wrong", code: 100701, status: 401)
            #expect(try await client.call("/weevent/master/mqtt_add_inbound_topic?topic=t&token=s3cret").body == "true")
            let form = try await client.call("/weevent/master/mqtt_list_topic", method: .post, form: "token=s3cret")
            #expect(form.status == 200)
            // The scheme is case-insensitive, as HTTP says.
            #expect(try await client.call("/weevent/master/mqtt_list_topic", headers: [.authorization: "bearer s3cret"]).status == 200)
            // With only the master token, it guards the admin scope too.
            try await client.expectError("/weevent/rest/close?topic=t", code: 100701, status: 401)
            #expect(try await client.call("/weevent/rest/close?topic=t", headers: bearer("s3cret")).body == "true")
        }
    }

    @Test func withOnlyAnAdminTokenTheMasterScopeNeedsItToo() async throws {
        try await withTestBroker(configure: { $0.server.adminAccessToken = "adm" }, bridge: true) { client, _ in
            try await client.expectError("/weevent/master/mqtt_list_topic", code: 100701, status: 401)
            #expect(try await client.call("/weevent/master/mqtt_list_topic", headers: bearer("adm")).status == 200)
        }
    }

    @Test func withoutTokensEverythingIsOpen() async throws {
        try await withTestBroker(bridge: true, subscriptions: true) { client, _ in
            _ = try await client.call("/weevent/rest/open?topic=t")
            for path in Self.adminPaths + Self.masterPaths {
                let reply = try await client.call(path)
                #expect(reply.code != 100701, "\(path): \(reply.body)")
            }
        }
    }

    @Test func startUpWarnsWhenOpenBeyondLoopbackAndWhenCallersWithoutATokenKeepTheDefault() throws {
        var configuration = BrokerConfiguration.Configuration()
        configuration.server.host = "0.0.0.0"
        #expect(AccessControl.startupWarnings(configuration, identities: 0).first?.risk.contains("listens beyond loopback") == true)
        #expect(AccessControl.startupWarnings(configuration, identities: 1).first?.risk.contains("access.anonymous is not set") == true)
        for host in ["127.0.0.1", "::1", "localhost"] {
            configuration.server.host = host
            #expect(AccessControl.startupWarnings(configuration, identities: 0).isEmpty, "\(host)")
        }
        configuration.server.host = "0.0.0.0"
        configuration.server.adminAccessToken = "x"
        #expect(AccessControl.startupWarnings(configuration, identities: 0).first?.risk.contains("access.anonymous is not set") == true)
        configuration.server.anonymousRights = try Rights.parse(list: "read:public/#")
        #expect(AccessControl.startupWarnings(configuration, identities: 0).isEmpty)
    }

    @Test func theBearerSchemeIsReadInAnyCaseAndBlanksAroundTheTokenAreIgnored() {
        #expect(AccessControl.bearer("Bearer abc") == "abc")
        #expect(AccessControl.bearer("bEaReR   abc \t") == "abc")
        #expect(AccessControl.bearer("Bearer wev_é-1") == "wev_é-1")
        for refused in ["Basic abc", "Bearerabc", "Bearer ", "Bearer    ", "Bear", "", "Bearer\tabc"] {
            #expect(AccessControl.bearer(refused) == nil, "\(refused)")
        }
        #expect(AccessControl.bearer(nil) == nil)
    }

    @Test func digestsCompareByValue() {
        #expect(AccessControl.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!AccessControl.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!AccessControl.constantTimeEqual([1, 2, 3], [1, 2]))
    }
}
