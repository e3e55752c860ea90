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

    /// The first start makes the checkpoint signing key (0600) and logs each group's verifier
    /// key; `weevent key show` prints the same keys; a file that is not a key stops the start.
    @Test func theFirstStartMakesTheSigningKeyAndKeyShowPrintsItsVerifierKeys() async throws {
        let broker = try BrokerProcess(extraConfig: "ledger.groups=1,2\nledger.origin=events.example.com")
        defer { broker.remove() }
        try await broker.start()
        let keyPath = broker.directory + "/data/signing.key"
        let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let log = broker.log()
        #expect(log.contains("made a new checkpoint signing key"), "\(log)")
        let (status, output) = try await broker.run(["key", "show", "--config", broker.configPath])
        #expect(status == 0, "\(output)")
        let keys = output.split(separator: "\n").map(String.init)
        #expect(keys.count == 2 && keys[0].hasPrefix("events.example.com/1+") && keys[1].hasPrefix("events.example.com/2+"), "\(output)")
        #expect(keys.allSatisfy { log.contains($0) }, "the start logged the same verifier keys")

        let broken = try BrokerProcess(extraConfig: "ledger.signing-key=\(broker.configPath)")
        defer { broken.remove() }
        let (refused, why) = try await broken.run(["serve", "--config", broken.configPath])
        #expect(refused == 2, "\(why)")
        #expect(why.contains("ledger.signing-key") && why.contains("is not an Ed25519 note signer key"), "\(why)")

        // A witness key whose key ID does not match its name and key is refused at start.
        let badWitness = try BrokerProcess(extraConfig: "ledger.witnesses=w2+00000000+BJ61XR8i09JfRzNi/dAOACCssOqjSJKk5YgCXO69D9e4")
        defer { badWitness.remove() }
        let (stopped, said) = try await badWitness.run(["serve", "--config", badWitness.configPath])
        #expect(stopped == 2 && said.contains("ledger.witnesses") && said.contains("key ID does not match"), "\(said)")
    }

    /// Listening on every interface with no access configured: the log says what anyone on the
    /// network can do; with a token, it says what callers without one may still do.
    @Test func openBeyondLoopbackIsWarnedAtStartUpAndATokenSilencesIt() async throws {
        let open = try BrokerProcess()
        defer { open.remove() }
        try await open.start()
        // Said once the identities were read (none here).
        #expect(await eventually(within: .seconds(5)) { open.log().contains("no access configured") })
        let log = open.log()
        #expect(log.contains("anyone who can reach port \(open.port) can publish and read every topic, bind MQTT topics"), "\(log)")

        let guarded = try BrokerProcess(extraConfig: "admin.access-token=t0ken")
        defer { guarded.remove() }
        try await guarded.start()
        // With a token, what callers without one keep is said instead.
        #expect(await eventually(within: .seconds(5)) { guarded.log().contains("callers without a token may publish, read and request") })
        #expect(!guarded.log().contains("no access configured"), "\(guarded.log())")
        let refused = try await http("\(guarded.baseURL)/admin/listGroup")
        #expect(refused.status == 401 && refused.object["code"] as? Int == 100701)
    }

    @Test func malformedConfigurationStopsStartUpNamingKeyAndLine() async throws {
        let broker = try BrokerProcess(extraConfig: "server.port=eighty")
        defer { broker.remove() }
        let (status, output) = try await broker.run(["serve", "--config", broker.configPath])
        #expect(status == 2)
        // server.port appears twice; the last one (line 11) wins and is the one named.
        #expect(output.contains("weevent.properties:11: server.port: 'eighty' is not an integer in 1...65535"), "\(output)")
    }
}
