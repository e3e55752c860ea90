import BrokerConfiguration
import HTTPTypes
import Testing
import WeEvent
@testable import Server

/// Which browser requests are refused: cross-site ones, and those for a host name the broker
/// does not answer to (DNS rebinding). Requests without browser headers (curl) always pass.
@Suite struct BrowserGuardTests {
    private let loopbackOnly = BrowserGuard(allowedHosts: ["localhost", "127.0.0.1", "::1"])

    private func check(
        _ guardrail: BrowserGuard, _ headers: [(String, String)], method: HTTPRequest.Method = .get,
        path: String = "/weevent/rest/publish", authority: String? = "127.0.0.1:8080"
    ) -> BrowserGuard.Refusal? {
        var fields = HTTPFields()
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        return guardrail.check(method: method, path: path, headers: fields, authority: authority)
    }

    @Test func requestsWithoutBrowserHeadersPassWhateverTheirHost() {
        #expect(check(loopbackOnly, [], authority: "localhost:8080") == nil)
        #expect(check(loopbackOnly, [], authority: "evil.example:8080") == nil)
        #expect(check(loopbackOnly, [], authority: nil) == nil)
    }

    @Test func theBrokersOwnPagesPass() {
        #expect(check(loopbackOnly, [("Sec-Fetch-Site", "same-origin"), ("Origin", "http://127.0.0.1:8080")], method: .post) == nil)
        #expect(check(loopbackOnly, [("Sec-Fetch-Site", "none")], authority: "localhost:8080") == nil)
        #expect(check(loopbackOnly, [("Origin", "http://[::1]:8080")], authority: "[::1]:8080") == nil)
        #expect(check(loopbackOnly, [("Origin", "http://localhost")], authority: "LOCALHOST.") == nil)
    }

    @Test func crossSiteRequestsAreRefused() {
        #expect(check(loopbackOnly, [("Sec-Fetch-Site", "cross-site")]) == .crossSite("Sec-Fetch-Site: cross-site"))
        #expect(check(loopbackOnly, [("Sec-Fetch-Site", "same-site")]) != nil)
        #expect(check(loopbackOnly, [("Origin", "http://evil.example")], method: .post) != nil)
        #expect(check(loopbackOnly, [("Origin", "null")], method: .post) != nil)
        #expect(check(loopbackOnly, [("Origin", "http://127.0.0.1:9999")], method: .post) != nil, "another port is another origin")
        // The scheme is not compared: behind a TLS proxy the page is https, the broker plain HTTP.
        #expect(check(loopbackOnly, [("Origin", "https://127.0.0.1:8080")], method: .post) == nil)
        #expect(check(loopbackOnly, [("Origin", "https://127.0.0.1")], method: .post, authority: "127.0.0.1") == nil)
        // The console's pages may be opened from a link on any site; what they call is checked.
        #expect(check(loopbackOnly, [("Sec-Fetch-Site", "cross-site")], path: "/weevent/console/") == nil)
        #expect(check(loopbackOnly, [("Sec-Fetch-Site", "cross-site")], method: .post, path: "/weevent/console/") != nil)
    }

    /// A page whose name was re-pointed at the broker's address is same-origin to itself: its
    /// Host gives it away.
    @Test func aRebindingPageIsRefusedByItsHostName() {
        let headers = [("Sec-Fetch-Site", "same-origin"), ("Origin", "http://evil.example:8080")]
        #expect(check(loopbackOnly, headers, method: .post, authority: "evil.example:8080") == .host("evil.example"))
        #expect(check(BrowserGuard(allowedHosts: nil), headers, method: .post, authority: "evil.example:8080") == nil, "* allows any")
    }

    @Test func theDefaultHostsFollowWhereTheBrokerListens() throws {
        var configuration = try Configuration(properties: Properties(parsing: "server.host=127.0.0.1"))
        #expect(BrowserGuard(configuration).allowedHosts == ["localhost", "127.0.0.1", "::1"])
        configuration = try Configuration(properties: Properties(parsing: "server.host=0.0.0.0"))
        let everywhere = try #require(BrowserGuard(configuration).allowedHosts)
        #expect(everywhere.isSuperset(of: ["localhost", "127.0.0.1", "::1"]))
        #expect(!everywhere.contains("0.0.0.0"))
        configuration = try Configuration(properties: Properties(parsing: "server.allowed-hosts=Broker.Example.COM, 10.0.0.5"))
        #expect(BrowserGuard(configuration).allowedHosts == ["broker.example.com", "10.0.0.5"])
        configuration = try Configuration(properties: Properties(parsing: "server.allowed-hosts=*"))
        #expect(BrowserGuard(configuration).allowedHosts == nil)
        #expect(throws: ConfigurationError.self) { try Configuration(properties: Properties(parsing: "server.allowed-hosts=http://x/")) }
    }
}
