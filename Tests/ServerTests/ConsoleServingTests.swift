import ConsoleAssets
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing
import TestSupport
import WeEvent
@testable import Server

/// The console's files as the broker serves them, and the endpoints made for it (rest/block,
/// admin/status). What the pages do in a browser is IntegrationTests/ConsoleBrowserTests.
@Suite struct ConsoleServingTests {
    @Test func theEmbeddedFilesAreThoseOfTheConsoleDirectory() async throws {
        let result = try await run("/usr/bin/env", ["python3", repositoryRoot + "/scripts/console-assets.py", "--check"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(ConsoleAssets.files["index.html"] != nil)
    }

    @Test func theConsoleIsServedWithItsTypesAndRevalidated() async throws {
        try await withAPI { client in
            let moved = try await client.execute(uri: "/weevent/console", method: .get) { $0 }
            #expect(moved.status == .movedPermanently && moved.headers[.location] == "console/")
            // `//weevent/console` must not send the browser to a host named "weevent".
            let doubled = try await client.execute(uri: "//weevent/console", method: .get) { $0 }
            let location = doubled.headers[.location] ?? ""
            #expect(doubled.status == .movedPermanently && location == "console/", "\(doubled.status) \(location)")
            let page = try await client.execute(uri: "/weevent/console/", method: .get) { $0 }
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
            #expect(String(buffer: page.body).contains("<script type=\"module\""))
            let etag = try #require(page.headers[.eTag])
            let again = try await client.execute(uri: "/weevent/console/", method: .get, headers: [.ifNoneMatch: etag]) { $0 }
            #expect(again.status == .notModified && again.body.readableBytes == 0)
            for (name, asset) in ConsoleAssets.files where name.hasSuffix(".js") {
                let script = try await client.execute(uri: "/weevent/console/\(name)", method: .get) { $0 }
                #expect(script.status == .ok && script.headers[.contentType] == "text/javascript; charset=utf-8", "\(name)")
                #expect(String(buffer: script.body) == asset.body)
            }
            let missing = try await client.call("/weevent/console/missing.js")
            #expect(missing.status == 404)
        }
    }

    @Test func aBlockIsShownWithItsHeaderAndEvents() async throws {
        try await withTestBroker { client, ledgers in
            _ = try await client.call("/weevent/rest/open?topic=a")
            var ids: [String] = []
            for n in 1...3 {
                ids.append(try #require(try await client.call("/weevent/rest/publish?topic=a&content=e\(n)").object["eventId"] as? String))
            }
            let info = try await ledgers.ledger("1").chainInfo()
            let top = try await client.call("/weevent/rest/block?height=\(info.blockHeight)")
            #expect(top.status == 200, "\(top.body)")
            #expect(top.object["hash"] as? String == info.lastBlockHash)
            #expect(top.object["height"] as? Int == Int(info.blockHeight))
            // Down the chain: each block names the one before it; together they hold every event once.
            var seen: [String] = []
            var height = Int(info.blockHeight)
            var expectedHash = info.lastBlockHash
            while height >= 1 {
                let block = try await client.call("/weevent/rest/block?height=\(height)").object
                #expect(block["hash"] as? String == expectedHash)
                let events = try #require(block["events"] as? [[String: Any]])
                #expect(events.count == block["eventCount"] as? Int)
                #expect(block["eventsTruncated"] as? Bool == false)
                seen = events.compactMap { $0["eventId"] as? String } + seen
                expectedHash = try #require(block["previousHash"] as? String)
                height -= 1
            }
            #expect(seen == ids)
            #expect(expectedHash == String(repeating: "0", count: 64))
            for bad in ["0", "-1", "x", "", String(info.blockHeight + 1), "99999999999999999999"] {
                let reply = try await client.call("/weevent/rest/block?height=\(bad)")
                #expect(reply.code == 100307 && reply.status == 400, "\(bad): \(reply.body)")
            }
        }
    }

    @Test func statusSaysWhatThisInstanceRuns() async throws {
        try await withTestBroker(bridge: true) { client, _ in
            let status = try await client.call("/weevent/admin/status").object
            #expect(status["store"] as? String == "sqlite")
            #expect(status["groups"] as? [String] == ["1"])
            #expect((status["bridge"] as? [String: Any])?["configured"] as? Bool == true)
            #expect((status["zookeeper"] as? [String: Any])?["configured"] as? Bool == false)
            #expect(status["cluster"] == nil)
        }
        try await withTestBroker(configure: { $0.server.adminAccessToken = "s3cret" }) { client, _ in
            let refused = try await client.call("/weevent/admin/status")
            #expect(refused.code == 100701)
            let allowed = try await client.call("/weevent/admin/status", headers: [.authorization: "Bearer s3cret"])
            #expect(allowed.status == 200)
        }
    }
}
