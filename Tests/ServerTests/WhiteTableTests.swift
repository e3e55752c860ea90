import Foundation
import Hummingbird
import Ledger
import WeEvent
import HummingbirdTesting
import NIOCore
import Testing
@testable import Server

@Suite struct WhiteTableTests {
    @Test func emptyTableAllowsEveryone() throws {
        let table = IPWhiteTable([])
        #expect(table.allows(try SocketAddress(ipAddress: "203.0.113.9", port: 1)))
        #expect(table.allows(nil))
    }

    @Test func listedAddressesAndLoopbackOnly() throws {
        let table = IPWhiteTable(["192.0.2.10", "2001:db8::1"])
        #expect(table.allows(try SocketAddress(ipAddress: "192.0.2.10", port: 1)))
        #expect(table.allows(try SocketAddress(ipAddress: "2001:db8::1", port: 1)))
        #expect(table.allows(try SocketAddress(ipAddress: "::ffff:192.0.2.10", port: 1)))
        #expect(table.allows(try SocketAddress(ipAddress: "127.0.0.1", port: 1)))
        #expect(table.allows(try SocketAddress(ipAddress: "::1", port: 1)))
        #expect(!table.allows(try SocketAddress(ipAddress: "192.0.2.11", port: 1)))
        #expect(!table.allows(try SocketAddress(ipAddress: "2001:db8::2", port: 1)))
        #expect(!table.allows(nil))
    }

    @Test func aClientOutsideTheTableGets403WithACode() async throws {
        // The router test channel has no peer address, so it stands for an unlisted client.
        try await withAPI({ $0.ipWhiteTable = ["192.0.2.10"] }) { client in
            try await client.expectError("/weevent/rest/open?topic=t", code: 100700, status: 403)
        }
    }

    @Test func loopbackMayCallWhateverTheTableSays() async throws {
        try await withTestBroker(configure: { $0.ipWhiteTable = ["192.0.2.10"] }, live: true) { client, _ in
            let reply = try await client.call("/weevent/rest/open?topic=t")
            #expect(reply.status == 200 && reply.body == "true")
        }
    }
}
