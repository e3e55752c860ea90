import Testing
import TestSupport

@testable import Cluster

/// admin/status's view of the ZooKeeper ensemble: each server of the connection string asked
/// with `srvr`.
@Suite struct EnsembleProbeTests {
    @Test func theConnectionStringNamesEachServer() {
        let parsed = EnsembleProbe.addresses("zk1:2181, zk2:2182,[::1]:2183,[fe80::1],::1,zk3/weevent")
        #expect(parsed.map(\.host) == ["zk1", "zk2", "::1", "fe80::1", "::1", "zk3"])
        #expect(parsed.map(\.port) == [2181, 2182, 2183, 2181, 2181, 2181])
    }

    @Test func aServingServerTellsItsModeAndADeadOneWhyNot() async throws {
        let server = try await ZooKeeperServer.shared.value
        let dead = try await ZooKeeperServer.start()
        try await dead.stop()
        let servers = await EnsembleProbe.probe("127.0.0.1:\(server.port),localhost:\(dead.port)")
        #expect(servers.count == 2)
        #expect(servers[0].address == "127.0.0.1:\(server.port)" && servers[0].mode == "standalone" && servers[0].error == nil)
        #expect((servers[0].nodes ?? 0) > 0)
        #expect(servers[1].mode == nil && servers[1].error?.hasPrefix("cannot connect") == true, "\(servers[1])")
    }
}
