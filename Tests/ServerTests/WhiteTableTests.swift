import Foundation
import Hummingbird
import Ledger
import WeEvent
import HummingbirdTesting
import HTTPTypes
import NIOCore
import Testing
@testable import Server

@Suite struct WhiteTableTests {
    private func ip(_ text: String) -> IPAddress { IPAddress(text)! }
    private func ranges(_ texts: String...) -> [IPRange] { texts.map { IPRange($0)! } }

    @Test func emptyTableAllowsEveryone() throws {
        let table = IPWhiteTable([])
        #expect(table.allows(ip("203.0.113.9")))
        #expect(table.allows(nil))
    }

    @Test func listedAddressesRangesAndLoopbackOnly() throws {
        let table = IPWhiteTable(ranges("192.0.2.10", "2001:db8::1", "198.51.100.0/24", "2001:db8:1::/48"))
        #expect(table.allows(ip("192.0.2.10")))
        #expect(table.allows(ip("2001:db8::1")))
        #expect(table.allows(ip("::ffff:192.0.2.10")))
        #expect(table.allows(ip("198.51.100.200")))
        #expect(table.allows(ip("2001:db8:1:ffff::9")))
        #expect(table.allows(ip("127.0.0.1")))
        #expect(table.allows(ip("::1")))
        #expect(!table.allows(ip("192.0.2.11")))
        #expect(!table.allows(ip("198.51.101.1")))
        #expect(!table.allows(ip("2001:db8::2")))
        #expect(!table.allows(nil))
    }

    @Test func forwardedForIsBelievedOnlyFromTrustedProxies() throws {
        let proxies = TrustedProxies(ranges("10.0.0.0/8"))
        let proxy = try SocketAddress(ipAddress: "10.0.0.5", port: 1)
        let stranger = try SocketAddress(ipAddress: "203.0.113.9", port: 1)
        // A peer that is not a trusted proxy is the client, whatever it claims.
        #expect(proxies.client(peer: stranger, forwardedFor: ["192.0.2.10"]) == ip("203.0.113.9"))
        // A trusted proxy: the rightmost address that is not itself a trusted proxy.
        #expect(proxies.client(peer: proxy, forwardedFor: ["192.0.2.10"]) == ip("192.0.2.10"))
        #expect(proxies.client(peer: proxy, forwardedFor: ["198.51.100.1, 192.0.2.10, 10.0.0.9"]) == ip("192.0.2.10"))
        #expect(proxies.client(peer: proxy, forwardedFor: ["198.51.100.1", "192.0.2.10"]) == ip("192.0.2.10"))
        #expect(proxies.client(peer: proxy, forwardedFor: ["[2001:db8::7]"]) == ip("2001:db8::7"))
        #expect(proxies.client(peer: proxy, forwardedFor: ["10.0.0.8, 10.0.0.9"]) == ip("10.0.0.8"))
        #expect(proxies.client(peer: proxy, forwardedFor: []) == ip("10.0.0.5"))
        // Something that is not an address: the client is unknown.
        #expect(proxies.client(peer: proxy, forwardedFor: ["192.0.2.10, not-an-ip"]) == nil)
        #expect(TrustedProxies([]).client(peer: proxy, forwardedFor: ["192.0.2.10"]) == ip("10.0.0.5"))
    }

    @Test func aClientOutsideTheTableGets403WithACode() async throws {
        // The router test channel has no peer address, so it stands for an unlisted client.
        try await withAPI({ $0.server.ipWhiteTable = ranges("192.0.2.10") }) { client in
            try await client.expectError("/weevent/rest/open?topic=t", code: 100700, status: 403)
        }
    }

    @Test func loopbackMayCallWhateverTheTableSays() async throws {
        try await withTestBroker(configure: { $0.server.ipWhiteTable = ranges("192.0.2.10") }, live: true) { client, _ in
            let reply = try await client.call("/weevent/rest/open?topic=t")
            #expect(reply.status == 200 && reply.body == "true")
        }
    }

    /// Behind a proxy on loopback that the broker trusts, the forwarded client is checked, not the proxy.
    @Test func behindATrustedProxyTheForwardedClientIsChecked() async throws {
        try await withTestBroker(
            configure: {
                $0.server.ipWhiteTable = ranges("192.0.2.0/24"); $0.server.trustedProxies = ranges("127.0.0.1")
            }, live: true
        ) { client, _ in
            let xff = HTTPField.Name("X-Forwarded-For")!
            #expect(try await client.call("/weevent/rest/exist?topic=t", headers: [xff: "192.0.2.44"]).status == 200)
            try await client.expectError("/weevent/rest/exist?topic=t", headers: [xff: "198.51.100.1"], code: 100700, status: 403)
            try await client.expectError("/weevent/rest/exist?topic=t", headers: [xff: "junk"], code: 100700, status: 403)
        }
    }
}
