import Foundation
import TestSupport
import Testing

/// `weevent identity` against live brokers, and identities shared by a cluster's instances.
@Suite(.timeLimit(.minutes(5)))
struct IdentityCommandTests {
    @Test func theCommandAddsListsGrantsRevokesAndRenews() async throws {
        let broker = try BrokerProcess(extraConfig: "master.access-token=m-secret")
        defer { broker.remove() }
        try await broker.start()
        let master = ["WEEVENT_TOKEN": "m-secret"]
        let url = broker.baseURL.replacingOccurrences(of: "/weevent", with: "")
        func identity(_ arguments: [String], _ environment: [String: String] = master) async throws -> (Int32, String) {
            try await broker.run(["identity"] + arguments + ["--broker", url], environment: environment)
        }

        let (added, addOutput) = try await identity(["add", "app", "publish,read@1:app/#"])
        #expect(added == 0, "\(addOutput)")
        let token = try #require(addOutput.split(separator: "\n").first { $0.hasPrefix("wev_") }.map(String.init), "\(addOutput)")
        #expect(addOutput.contains("rights: publish,read@1:app/#"), "\(addOutput)")
        #expect(try await http("\(broker.baseURL)/rest/open?topic=app/x", token: token).text == "true")
        #expect(try await http("\(broker.baseURL)/rest/open?topic=other", token: token).status == 403)

        let (_, listed) = try await identity(["list"])
        #expect(listed.contains("app  publish,read@1:app/#"), "\(listed)")
        #expect(!listed.contains(token))
        let (granted, grantOutput) = try await identity(["grant", "app", "publish:other"])
        #expect(granted == 0 && grantOutput.contains("app: publish,read@1:app/# publish@*:other"), "\(grantOutput)")
        #expect(try await http("\(broker.baseURL)/rest/open?topic=other", token: token).text == "true")
        let (revokedRight, revokeOutput) = try await identity(["revoke", "app", "publish:other"])
        #expect(revokedRight == 0 && revokeOutput.contains("app: publish,read@1:app/#"), "\(revokeOutput)")
        #expect(try await http("\(broker.baseURL)/rest/publish?topic=other&content=x", token: token).status == 403)

        let (limited, limitOutput) = try await identity(["limit", "app", "--per-second", "5", "--burst", "10"])
        #expect(limited == 0 && limitOutput.contains("app: 5/s, burst 10"), "\(limitOutput)")
        let (_, defaultOutput) = try await identity(["limit", "app", "--default"])
        #expect(defaultOutput.contains("app: the configured limit (access.rate.*)"), "\(defaultOutput)")
        let (renewed, renewOutput) = try await identity(["renew", "app"])
        let newToken = try #require(renewOutput.split(separator: "\n").first { $0.hasPrefix("wev_") }.map(String.init), "\(renewOutput)")
        #expect(renewed == 0 && newToken != token)
        #expect(try await http("\(broker.baseURL)/rest/publish?topic=app/x&content=x", token: token).status == 401)
        #expect(try await http("\(broker.baseURL)/rest/publish?topic=app/x&content=x", token: newToken).status == 200)

        // The token may come from a file too; refusals exit 1 with the broker's reason.
        let file = broker.directory + "/token"
        try "m-secret\n".write(toFile: file, atomically: true, encoding: .utf8)
        let (removed, removeOutput) = try await identity(["revoke", "app", "--token-file", file], [:])
        #expect(removed == 0 && removeOutput.contains("identity app removed"), "\(removeOutput)")
        #expect(try await http("\(broker.baseURL)/rest/publish?topic=app/x&content=x", token: newToken).status == 401)
        let (unknown, unknownOutput) = try await identity(["revoke", "app"])
        #expect(unknown == 1 && unknownOutput.contains("100706"), "\(unknownOutput)")
        let (noToken, noTokenOutput) = try await identity(["list"], ["WEEVENT_TOKEN": ""])
        #expect(noToken == 1 && noTokenOutput.contains("100701"), "\(noTokenOutput)")
        let (badRight, badRightOutput) = try await identity(["add", "x", "write:a"])
        #expect(badRight == 1 && badRightOutput.contains("'write' is not an action"), "\(badRightOutput)")
        let (unreachable, unreachableOutput) = try await broker.run(
            ["identity", "list", "--broker", "http://127.0.0.1:\(try freePort())"], environment: master)
        #expect(unreachable == 3, "\(unreachableOutput)")
    }

    /// An identity that must sign: a key made and registered with the command, an event signed
    /// with it and published, its proof (both forms) checked by scripts/check-proof.py with the
    /// publisher's key, and refused with another key.
    @Test func aSignedEventIsCheckedByCheckProofWithThePublishersKey() async throws {
        let broker = try BrokerProcess(extraConfig: "master.access-token=m-secret")
        defer { broker.remove() }
        try await broker.start()
        let url = broker.baseURL.replacingOccurrences(of: "/weevent", with: "")
        let master = ["WEEVENT_TOKEN": "m-secret"]
        let keyFile = broker.directory + "/signer.key"
        let (made, publicKeyOutput) = try await broker.run(["identity", "keygen", "--key", keyFile])
        // Standard output (the key), then standard error (that a key file was made).
        let publicKey = try #require(publicKeyOutput.split(separator: "\n").first.map(String.init), "\(publicKeyOutput)")
        #expect(made == 0 && publicKey.count == 44 && publicKeyOutput.contains("made a new signing key"), "\(publicKeyOutput)")
        let mode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let (_, added) = try await broker.run(["identity", "add", "signer", "publish:t", "--broker", url], environment: master)
        let token = try #require(added.split(separator: "\n").first { $0.hasPrefix("wev_") }.map(String.init), "\(added)")
        let (keyed, keyOutput) = try await broker.run(
            ["identity", "key", "signer", "--public-key", publicKey, "--required", "--broker", url], environment: master)
        #expect(keyed == 0 && keyOutput.contains("signatures required"), "\(keyOutput)")
        _ = try await http("\(broker.baseURL)/rest/open?topic=t", token: "m-secret")

        let content = #"{"open":true}"#
        let (signed, signature) = try await broker.run(
            ["identity", "sign", "--key", keyFile, "--publisher", "signer", "--topic", "t", "--content", content, "--extension", "weevent-door=front"])
        #expect(signed == 0, "\(signature)")
        let value = signature.trimmingCharacters(in: .whitespacesAndNewlines).percentEncoded
        let unsigned = try await http("\(broker.baseURL)/rest/publish?topic=t&content=\(content.percentEncoded)&weevent-door=front", token: token)
        #expect(unsigned.status == 400 && unsigned.object["code"] as? Int == 100709, "\(unsigned.text)")
        let published = try await http(
            "\(broker.baseURL)/rest/publish?topic=t&content=\(content.percentEncoded)&weevent-door=front&weevent-signature=\(value)", token: token)
        let eventID = try #require(published.object["eventId"] as? String, "\(published.text)")
        try await Task.sleep(for: .milliseconds(1500))  // a checkpoint covers it

        for form in ["tree", "chain"] {
            let proofFile = broker.directory + "/proof-\(form).json"
            try (try await http("\(broker.baseURL)/rest/proof?eventId=\(eventID)&form=\(form)")).body.write(to: URL(fileURLWithPath: proofFile))
            let checker = ["python3", repositoryRoot + "/scripts/check-proof.py", proofFile, "--publisher-key"]
            let good = try await run("/usr/bin/env", checker + ["signer=\(publicKey)"])
            #expect(good.status == 0 && good.stdout.contains("published and signed by signer (signature verified)"), "\(form): \(good.stdout)\(good.stderr)")
            let otherKey = Data(repeating: 9, count: 32).base64EncodedString()
            let bad = try await run("/usr/bin/env", checker + ["signer=\(otherKey)"])
            #expect(bad.status == 1 && bad.stdout.contains("the signature of signer does not verify"), "\(form): \(bad.stdout)")
        }
    }

    /// Two instances on one shared store: an identity made on one works on the other, and once
    /// revoked on one it is refused on the other within a second.
    @Test func anIdentityRevokedOnOneInstanceIsRefusedOnTheOtherWithinOneSecond() async throws {
        let server = try await PostgresServer.shared.value
        let schema = uniqueSchema("identities")
        let config = SharedLedgerTests.sharedLedger(server, schema: schema) + "\nmaster.access-token=m-secret"
        let one = try BrokerProcess(extraConfig: config)
        let other = try BrokerProcess(extraConfig: config)
        defer {
            one.remove()
            other.remove()
        }
        try await one.start()
        try await other.start()
        let made = try await http("\(one.baseURL)/admin/addIdentity?name=app&rights=publish:t", token: "m-secret")
        let token = try #require(made.object["token"] as? String, "\(made.text)")
        _ = try await http("\(one.baseURL)/rest/open?topic=t", token: "m-secret")
        #expect(await eventually(within: .seconds(1)) { (try? await http("\(other.baseURL)/rest/publish?topic=t&content=x", token: token).status) == 200 })

        let revoked = try await http("\(one.baseURL)/admin/revokeIdentity?name=app", token: "m-secret")
        #expect(revoked.text == "true")
        let started = ContinuousClock.now
        // For the record: when the other instance first refused it (an upper bound, each try
        // being a request of its own on a machine that may be busy).
        var refusedAfter: Duration?
        while ContinuousClock.now - started < .seconds(1) {
            if try await http("\(other.baseURL)/rest/publish?topic=t&content=x", token: token).status == 401 {
                refusedAfter = ContinuousClock.now - started
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        print("revoked on one instance, refused on the other after \(refusedAfter.map { "\($0)" } ?? "more than 1 s")")
        // What the promise says: any call that reaches the other instance one second after the
        // revocation is refused.
        let rest = .seconds(1) - (ContinuousClock.now - started)
        if rest > .zero { try await Task.sleep(for: rest) }
        let late = try await http("\(other.baseURL)/rest/publish?topic=t&content=x", token: token)
        #expect(late.status == 401 && late.object["code"] as? Int == 100701, "\(late.text)")
    }
}
