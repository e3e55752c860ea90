import BrokerConfiguration
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WeEvent
@testable import Server

/// Token buckets per identity and per address: past its limit a caller gets 429 (100710),
/// counted per identity; the configured tokens are never limited.
@Suite struct RateLimitTests {
    private let master: HTTPFields = [.authorization: "Bearer m-secret"]
    private func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    @Test func aBucketTakesItsBurstThenRefillsAtItsRate() {
        let limiter = RateLimiter(metrics: nil)
        let limit = RateLimit(perSecond: 2, burst: 3)
        let start = ContinuousClock.now
        for _ in 0..<3 { #expect(limiter.take("a", limit: limit, now: start) == nil) }
        let wait = limiter.take("a", limit: limit, now: start)
        #expect(wait == .milliseconds(500), "one token comes back every 500 ms")
        #expect(limiter.take("b", limit: limit, now: start) == nil, "another caller has its own bucket")
        #expect(limiter.take("a", limit: limit, now: start + .milliseconds(499)) != nil)
        #expect(limiter.take("a", limit: limit, now: start + .milliseconds(1000)) == nil)
        // A long pause refills up to the burst, not beyond.
        let later = start + .seconds(60)
        for _ in 0..<3 { #expect(limiter.take("a", limit: limit, now: later) == nil) }
        #expect(limiter.take("a", limit: limit, now: later) != nil)
    }

    @Test func pastItsLimitAnIdentityGets429AndTheRefusalIsCounted() async throws {
        // A stopped clock: no bucket refills while the test runs, however slow the machine.
        let stopped = ContinuousClock.now
        try await withTestBroker(
            configure: {
                $0.server.masterAccessToken = "m-secret"
                $0.server.rateLimit = RateLimit(perSecond: 1, burst: 2)
            },
            services: { $0.limiter = RateLimiter(metrics: $0.metrics?.factory, now: { stopped }) }
        ) { client, _ in
            let made = try await client.call("/weevent/admin/addIdentity?name=app&rights=publish", headers: master)
            let app = bearer(try #require(made.object["token"] as? String))
            _ = try await client.call("/weevent/rest/open?topic=t", headers: master)
            for _ in 0..<2 { #expect(try await client.call("/weevent/rest/publish?topic=t&content=x", headers: app).status == 200) }
            let refused = try await client.expectError("/weevent/rest/publish?topic=t&content=x", headers: app, code: 100710, status: 429)
            #expect(refused.contains("identity app may publish and request 1 times a second (burst 2); retry in"), "\(refused)")
            let retryAfter = try await client.execute(uri: "/weevent/rest/publish?topic=t&content=x", method: .get, headers: app) {
                $0.headers[.retryAfter]
            }
            #expect(retryAfter == "1")
            // The configured tokens are never limited.
            for _ in 0..<5 { #expect(try await client.call("/weevent/rest/publish?topic=t&content=x", headers: master).status == 200) }
            let metrics = try await client.call("/weevent/metrics", headers: master).body
            #expect(metrics.contains(#"weevent_rate_limited_total{identity="app"} 2"#), "\(metrics.prefix(2000))")

            // Its own limit wins over access.rate.*: 0 is none.
            let unlimited = try await client.call("/weevent/admin/setIdentityLimit?name=app&perSecond=0", headers: master)
            #expect((unlimited.object["rateLimit"] as? [String: Int]) == ["burst": 1, "perSecond": 0], "\(unlimited.body)")
            for _ in 0..<5 { #expect(try await client.call("/weevent/rest/publish?topic=t&content=x", headers: app).status == 200) }
            _ = try await client.call("/weevent/admin/setIdentityLimit?name=app&perSecond=1&burst=1", headers: master)
            #expect(try await client.call("/weevent/rest/publish?topic=t&content=x", headers: app).status == 200)
            try await client.expectError("/weevent/rest/publish?topic=t&content=x", headers: app, code: 100710, status: 429)
            let back = try await client.call("/weevent/admin/setIdentityLimit?name=app", headers: master)
            #expect(back.object["rateLimit"] == nil, "back to access.rate.*: \(back.body)")
            try await client.expectError("/weevent/admin/setIdentityLimit?name=app&perSecond=-1", headers: master, code: 200001)
            try await client.expectError("/weevent/admin/setIdentityLimit?name=app&perSecond=5&burst=0", headers: master, code: 200001)

            // Callers without a token share their address's bucket.
            for _ in 0..<2 { #expect(try await client.call("/weevent/rest/publish?topic=t&content=x").status == 200) }
            let anonymous = try await client.expectError("/weevent/rest/publish?topic=t&content=x", code: 100710, status: 429)
            #expect(anonymous.contains("this address (no token)"), "\(anonymous)")
        }
    }
}
