import Foundation
import TestSupport
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real executable at its edges: who may call it, and what a bad configuration does to start-up.
@Suite(.timeLimit(.minutes(3)))
struct StartupAndAccessTests {
    /// With a white table, a client calling over a non-loopback address that is not listed gets 403.
    @Test func whiteTableRefusesUnlistedClients() async throws {
        guard let ip = nonLoopbackIPv4() else {
            Issue.record("this machine has no non-loopback IPv4 address to test from")
            return
        }
        let broker = try BrokerProcess(extraConfig: "ip.check.white-table=192.0.2.77")
        defer { broker.remove() }
        try await broker.start()
        let refused = try await http("http://\(ip):\(broker.port)/weevent/rest/exist?topic=x")
        #expect(refused.status == 403)
        #expect(refused.object["code"] as? Int == 100700)
        #expect(try await http("\(broker.baseURL)/rest/exist?topic=x").status == 200)

        let listed = try BrokerProcess(extraConfig: "ip.check.white-table=\(ip)")
        defer { listed.remove() }
        try await listed.start()
        #expect(try await http("http://\(ip):\(listed.port)/weevent/rest/exist?topic=x").text == "false")
    }

    @Test func malformedConfigurationStopsStartUpNamingKeyAndLine() async throws {
        let broker = try BrokerProcess(extraConfig: "server.port=eighty")
        defer { broker.remove() }
        let (status, output) = try await broker.run(["serve", "--config", broker.configPath])
        #expect(status == 2)
        // server.port appears twice; the last one (line 9) wins and is the one named.
        #expect(output.contains("weevent.properties:9: server.port: 'eighty' is not an integer in 1...65535"), "\(output)")
    }
}
