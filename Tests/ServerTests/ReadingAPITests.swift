import BrokerConfiguration
import Foundation
import TestSupport
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing
import WeEvent
@testable import Server
@testable import Subscriptions

/// The router with callback subscriptions wired in (their delivery service is not run here).
/// Callback subscriptions wired in; callbacks may go to loopback, as `subscription.callback.allowed-ranges=127.0.0.0/8` allows.
func withSubscriptionAPI(
    _ configure: @escaping (inout BrokerConfiguration.Configuration) -> Void = { _ in },
    _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    try await withTestBroker(
        configure: {
            $0.subscriptions.callbackAllowedRanges = [IPRange("127.0.0.0/8")!]; configure(&$0)
        }, subscriptions: true
    ) { client, _ in try await body(client) }
}

/// Runs scripts/check-proof.py on a proof; its exit status and output.
func checkProof(_ json: String) async throws -> (Int32, String) {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("proof-\(UUID().uuidString).json").path
    try json.write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let result = try await run("/usr/bin/env", ["python3", repositoryRoot + "/scripts/check-proof.py", path])
    return (result.status, result.stdout + result.stderr)
}

/// Changes the character `offset` characters after the first `marker`: a digit to the next digit, a letter to `a` or `b`.
func changeOneByte(_ text: String, after marker: String, offset: Int = 0) throws -> String {
    let range = try #require(text.range(of: marker))
    var chars = Array(text)
    let index = text.distance(from: text.startIndex, to: range.upperBound) + offset
    if let digit = chars[index].wholeNumberValue {
        chars[index] = Character(String((digit + 1) % 10))
    } else {
        chars[index] = chars[index] == "a" ? "b" : "a"
    }
    return String(chars)
}

@Suite struct ReadingAPITests {
    @Test func proofPassesTheIndependentCheckerAndOneChangedByteFails() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=audit")
            // Several events per block (concurrent publishers) and several blocks after.
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<40 {
                    group.addTask {
                        let reply = try await client.call("/weevent/rest/publish?topic=audit&content=reading-\(i)&weevent-unit=celsius")
                        return try #require(reply.object["eventId"] as? String)
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            for i in 0..<3 { _ = try await client.call("/weevent/rest/publish?topic=audit&content=later-\(i)") }
            let info = try await client.call("/weevent/admin/blockchaininfo").object

            let target = try #require(ids.min { (EventID($0)?.sequence ?? 0) < (EventID($1)?.sequence ?? 0) })
            let reply = try await client.call("/weevent/rest/proof?eventId=\(target)&form=chain")
            #expect(reply.status == 200, "\(reply.body)")
            let proof = reply.object
            #expect(proof["eventId"] as? String == target)
            #expect((proof["head"] as? [String: Any])?["hash"] as? String == info["lastBlockHash"] as? String)
            #expect(((proof["links"] as? [Any])?.count ?? 0) >= 3)

            let (status, output) = try await checkProof(reply.body)
            #expect(status == 0, "\(output)")
            #expect(output.hasPrefix("OK"))

            var tampered = [
                try changeOneByte(reply.body, after: #""content":""#, offset: 2),
                try changeOneByte(reply.body, after: #""eventHash":""#, offset: 5),
                try changeOneByte(reply.body, after: #""links":[{"eventCount":"#, offset: 0),
                try changeOneByte(reply.body, after: #""merkleRoot":""#, offset: 7),
                try changeOneByte(reply.body, after: #""timestamp":"#, offset: 12),
                try changeOneByte(reply.body, after: #""head":{"hash":""#, offset: 63),
            ]
            if reply.body.contains(#""sibling":""#) {
                tampered.append(try changeOneByte(reply.body, after: #""sibling":""#, offset: 10))
            }
            for text in tampered {
                #expect(text.count == reply.body.count)
                let (status, output) = try await checkProof(text)
                #expect(status == 1, "a changed proof passed: \(output)")
            }
        }
    }

    /// A proof holds at most rest.proof.max-links headers: past that, a clear error saying how
    /// to ask; with `head` the proof ties the event to that block, which the checker accepts.
    @Test func proofSizeIsBoundedAndHeadPicksWhereItEnds() async throws {
        try await withAPI({ $0.rest.proofMaxLinks = 5 }) { client in
            _ = try await client.call("/weevent/rest/open?topic=p")
            let first = try #require(EventID(try await publish(client, "p", "first")))
            for i in 0..<8 { _ = try await publish(client, "p", "later-\(i)") }
            let height = try #require(try await client.call("/weevent/admin/blockchaininfo").object["blockHeight"] as? Int)
            #expect(height >= Int(first.blockHeight) + 8)

            let refused = try await client.call("/weevent/rest/proof?eventId=\(first)&form=chain")
            #expect(refused.code == 100310 && refused.status == 400, "\(refused.body)")
            #expect((refused.object["message"] as? String)?.contains("ask with head=") == true)

            let head = first.blockHeight + 5
            let reply = try await client.call("/weevent/rest/proof?eventId=\(first)&form=chain&head=\(head)")
            #expect(reply.status == 200, "\(reply.body)")
            let links = try #require(reply.object["links"] as? [[String: Any]])
            #expect(links.count == 5)
            #expect((reply.object["head"] as? [String: Any])?["height"] as? Int == Int(head))
            let (status, output) = try await checkProof(reply.body)
            #expect(status == 0, "\(output)")

            #expect(try await client.call("/weevent/rest/proof?eventId=\(first)&form=chain&head=\(first.blockHeight)").status == 200)
            for bad in ["\(first.blockHeight - 1)", "\(height + 1)", "x", "-1", "18446744073709551616"] {
                try await client.expectError("/weevent/rest/proof?eventId=\(first)&form=chain&head=\(bad)", code: 100307)
            }
        }
    }

    @Test func proofOfAnUnknownEventIsAWeEventError() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=p")
            let id = try #require(EventID(try await publish(client, "p", "x")))
            try await client.expectError("/weevent/rest/proof?eventId=\(id.topicHash)-9-\(id.blockHeight)", code: 100303, status: 404)
            try await client.expectError("/weevent/rest/proof?eventId=\(id.topicHash)-1-99", code: 100304)
            try await client.expectError("/weevent/rest/proof?eventId=", code: 100300)
        }
    }

    @Test func eventsPagesThroughHistoryWithTheNextOffset() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=h")
            _ = try await client.call("/weevent/rest/open?topic=other")
            var ids: [String] = []
            for i in 0..<7 {
                ids.append(try await publish(client, "h", "h\(i)"))
                _ = try await publish(client, "other", "o\(i)")
            }
            var offset = "OFFSET_FIRST"
            var seen: [String] = []
            var contents: [String] = []
            for _ in 0..<5 {
                let page = try await client.call("/weevent/rest/events?topic=h&offset=\(offset)&limit=3").object
                let events = try #require(page["events"] as? [[String: Any]])
                if events.isEmpty { break }
                seen += events.compactMap { $0["eventId"] as? String }
                contents += events.compactMap { ($0["content"] as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } }
                offset = try #require(page["nextOffset"] as? String)
            }
            #expect(seen == ids)
            #expect(contents == (0..<7).map { "h\($0)" })
            // Caught up: an empty page that keeps the offset for later.
            let end = try await client.call("/weevent/rest/events?topic=h&offset=\(offset)").object
            #expect((end["events"] as? [Any])?.isEmpty == true)
            #expect(end["nextOffset"] as? String == offset)
            _ = try await publish(client, "h", "late")
            let late = try await client.call("/weevent/rest/events?topic=h&offset=\(offset)").object
            #expect(((late["events"] as? [[String: Any]])?.first?["content"] as? String) == Data("late".utf8).base64EncodedString())
            try await client.expectError("/weevent/rest/events?topic=h&limit=0", code: 100107)
            try await client.expectError("/weevent/rest/events?topic=h&limit=101", code: 100107)
        }
    }

    /// Callbacks cannot be aimed at the broker's own network: refused at subscribe time by
    /// default, allowed range by range.
    @Test func callbacksToNonPublicAddressesAreRefusedUnlessAllowed() async throws {
        try await withTestBroker(subscriptions: true) { client, _ in
            _ = try await client.call("/weevent/rest/open?topic=s")
            for url in [
                "http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook", "http://169.254.169.254/latest/meta-data",
                "http://10.1.2.3/hook", "http://192.168.0.10/hook", "https://[fe80::1]/hook", "http://0.0.0.0:9/hook",
                "http://[::ffff:127.0.0.1]:9/hook",
                // IPv4-compatible, IPv4-translated, 6to4 to loopback and to a private net, site-local, Teredo.
                "http://[::7f00:1]:9/hook", "http://[::ffff:0:7f00:1]:9/hook", "http://[2002:7f00:1::1]:9/hook",
                "http://[2002:a01:203::1]/hook", "http://[fec0::1]/hook", "http://[2001:0:4136:e378::1]/hook",
            ] {
                let encoded = url.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                try await client.expectError("/weevent/rest/subscribe?topic=s&url=\(encoded)", code: 100509)
            }
            try await client.expectError("/weevent/rest/subscribe?topic=s&url=http%3A%2F%2Fno-such-host.invalid%2Fhook", code: 100501)
            #expect(try await client.call("/weevent/admin/listSubscription").body == "[]")
            // A public address is accepted (nothing listens there; delivery is not running here).
            #expect(try await client.call("/weevent/rest/subscribe?topic=s&url=http%3A%2F%2F192.0.2.1%2Fhook").status == 200)
            // 6to4 to a public address is as public as that address.
            #expect(try await client.call("/weevent/rest/subscribe?topic=s&url=http%3A%2F%2F%5B2002%3Ac000%3A201%3A%3A1%5D%2Fhook").status == 200)
        }
        try await withTestBroker(configure: { $0.subscriptions.callbackAllowedRanges = [IPRange("10.1.0.0/16")!] }, subscriptions: true) { client, _ in
            _ = try await client.call("/weevent/rest/open?topic=s")
            #expect(try await client.call("/weevent/rest/subscribe?topic=s&url=http%3A%2F%2F10.1.2.3%2Fhook").status == 200)
            try await client.expectError("/weevent/rest/subscribe?topic=s&url=http%3A%2F%2F10.2.0.1%2Fhook", code: 100509)
        }
    }

    /// A page of a rare topic looks at rest.events.max-scan positions, not the whole ledger: it
    /// says where to go on and that there is more; following the pages finds the rare event.
    @Test func aPageOfARareTopicLooksAtABoundedStretch() async throws {
        try await withTestBroker(configure: { $0.rest.eventsMaxScan = 100 }) { client, ledgers in
            _ = try await client.call("/weevent/rest/open?topic=common")
            _ = try await client.call("/weevent/rest/open?topic=rare")
            let ledger = try ledgers.ledger("1")
            _ = try await ledger.publish((0..<250).map { NewEvent(topic: "common", content: Array("c\($0)".utf8)) })
            let rare = try await ledger.publish(NewEvent(topic: "rare", content: Array("r".utf8)))
            let first = try await client.call("/weevent/rest/events?topic=rare&offset=OFFSET_FIRST")
            #expect((first.object["events"] as? [Any])?.isEmpty == true, "\(first.body.prefix(300))")
            #expect(first.object["more"] as? Bool == true)
            let secondOffset = try #require(first.object["nextOffset"] as? String)
            #expect(try await ledger.position(of: try EventID.parse(secondOffset)) == 100)
            var offset = secondOffset
            var found: [String] = []
            for _ in 0..<5 {
                let page = try await client.call("/weevent/rest/events?topic=rare&offset=\(offset)")
                found += ((page.object["events"] as? [[String: Any]]) ?? []).compactMap { $0["eventId"] as? String }
                offset = try #require(page.object["nextOffset"] as? String)
                if page.object["more"] as? Bool == false { break }
            }
            #expect(found == [rare.description])
        }
    }

    /// Twenty subscribes at once against a limit of five: five subscriptions, fifteen 100508.
    @Test func subscribesAtOnceNeverPassTheCap() async throws {
        try await withSubscriptionAPI({ $0.subscriptions.maxCount = 5 }) { client in
            _ = try await client.call("/weevent/rest/open?topic=s")
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await client.call("/weevent/rest/subscribe?topic=s&url=http%3A%2F%2F127.0.0.1%3A9%2Fhook").status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 5)
            let listed = try await client.call("/weevent/admin/listSubscription")
            #expect((listed.json as? [Any])?.count == 5, "\(listed.body)")
        }
    }

    @Test func theNumberOfSubscriptionsIsCapped() async throws {
        try await withSubscriptionAPI({ $0.subscriptions.maxCount = 2 }) { client in
            _ = try await client.call("/weevent/rest/open?topic=s")
            let url = "http%3A%2F%2F127.0.0.1%3A9%2Fhook"
            let first = try await client.call("/weevent/rest/subscribe?topic=s&url=\(url)")
            #expect(try await client.call("/weevent/rest/subscribe?topic=s&url=\(url)").status == 200)
            let refused = try await client.call("/weevent/rest/subscribe?topic=s&url=\(url)")
            #expect(refused.code == 100508 && refused.status == 400)
            #expect((refused.object["message"] as? String)?.contains("subscription.max-count is 2") == true)
            // Resuming an existing one is not a new subscription; removing one makes room.
            #expect(try await client.call("/weevent/rest/subscribe?topic=s&url=\(url)&subscriptionId=\(first.body)").body == first.body)
            #expect(try await client.call("/weevent/rest/unSubscribe?subscriptionId=\(first.body)").body == "true")
            #expect(try await client.call("/weevent/rest/subscribe?topic=s&url=\(url)").status == 200)
        }
    }

    @Test func subscribeAnswersAnIdThatResumesAndUnsubscribes() async throws {
        try await withSubscriptionAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=s")
            _ = try await client.call("/weevent/rest/open?topic=t")
            let url = "http%3A%2F%2F127.0.0.1%3A9%2Fhook"
            let reply = try await client.call("/weevent/rest/subscribe?topic=s&url=\(url)")
            #expect(reply.status == 200)
            let id = reply.body
            #expect(UUID(uuidString: id) != nil)
            #expect(try await client.call("/weevent/rest/subscribe?topic=s&url=\(url)&subscriptionId=\(id)").body == id)
            let listed = try await client.call("/weevent/admin/listSubscription")
            let entries = try #require(listed.json as? [[String: Any]])
            #expect(entries.count == 1)
            #expect(entries.first?["subscriptionId"] as? String == id)
            #expect(entries.first?["topic"] as? String == "s")
            #expect(entries.first?["url"] as? String == "http://127.0.0.1:9/hook")
            #expect(entries.first?["delivered"] as? Int == 0)

            try await client.expectError("/weevent/rest/subscribe?topic=t&url=\(url)&subscriptionId=\(id)", code: 100507, status: 409)
            // Knowing the id does not let a caller take its deliveries elsewhere.
            let elsewhere = "http%3A%2F%2F127.0.0.1%3A10%2Fmine"
            try await client.expectError("/weevent/rest/subscribe?topic=s&url=\(elsewhere)&subscriptionId=\(id)", code: 100507, status: 409)
            #expect(try await client.call("/weevent/admin/listSubscription").body.contains("127.0.0.1:9/hook"))
            try await client.expectError("/weevent/rest/subscribe?topic=s&url=\(url)&subscriptionId=\(UUID().uuidString)", code: 100504, status: 404)
            try await client.expectError("/weevent/rest/subscribe?topic=s&url=\(url)&subscriptionId=not-an-id", code: 100505)
            try await client.expectError("/weevent/rest/subscribe?topic=s&url=ftp://x/y", code: 100501)
            try await client.expectError("/weevent/rest/subscribe?topic=s", code: 100501)
            try await client.expectError("/weevent/rest/subscribe?topic=s&url=\(url)&offset=", code: 100500)
            try await client.expectError("/weevent/rest/subscribe?topic=missing&url=\(url)", code: 100101, status: 404)
            try await client.expectError("/weevent/rest/unSubscribe", code: 100503)
            try await client.expectError("/weevent/rest/unSubscribe?subscriptionId=x", code: 100505)

            #expect(try await client.call("/weevent/rest/unSubscribe?subscriptionId=\(id)").body == "true")
            try await client.expectError("/weevent/rest/unSubscribe?subscriptionId=\(id)", code: 100504, status: 404)
            #expect(try await client.call("/weevent/admin/listSubscription").body == "[]")
        }
    }
}
