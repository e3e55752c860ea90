import BrokerConfiguration
import Bridge
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing
import WeEvent
@testable import Server

/// Runs `body` against the broker's router with fresh ledgers for groups 1 and 2.
func withAPI(
    _ configure: (inout BrokerConfiguration.Configuration) -> Void = { _ in },
    bridge: Bool = false,
    _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    try await withTestBroker(groups: ["1", "2"], configure: configure, bridge: bridge) { client, _ in try await body(client) }
}

struct Reply: Sendable {
    let status: Int
    let body: String

    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) }
    var object: [String: Any] { (json as? [String: Any]) ?? [:] }
    var code: Int? { object["code"] as? Int }
}

extension TestClientProtocol {
    func call(_ uri: String, method: HTTPRequest.Method = .get, form: String? = nil, headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = extra
        var body: ByteBuffer?
        if let form {
            headers[.contentType] = "application/x-www-form-urlencoded"
            body = ByteBuffer(string: form)
        }
        return try await execute(uri: uri, method: method, headers: headers, body: body) { response in
            Reply(status: Int(response.status.code), body: String(buffer: response.body))
        }
    }

    /// Asserts a WeEvent error: its code, its status and a message.
    /// Returns the message.
    @discardableResult
    func expectError(
        _ uri: String, headers: HTTPFields = [:], code: Int, status: Int = 400, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let reply = try await call(uri, headers: headers)
        #expect(reply.code == code, "\(uri) -> \(reply.body)", sourceLocation: sourceLocation)
        #expect(reply.status == status, "\(uri) -> \(reply.status)", sourceLocation: sourceLocation)
        let message = reply.object["message"] as? String ?? ""
        #expect(!message.isEmpty, sourceLocation: sourceLocation)
        return message
    }
}

@Suite struct RestAPITests {
    @Test func openIsTrueAlsoWhenTheTopicExists() async throws {
        try await withAPI { client in
            let first = try await client.call("/weevent/rest/open?topic=com.weevent.iot.event&groupId=1")
            #expect(first.status == 200 && first.body == "true")
            #expect(try await client.call("/weevent/rest/open?topic=com.weevent.iot.event&groupId=1").body == "true")
            #expect(try await client.call("/weevent/rest/exist?topic=com.weevent.iot.event").body == "true")
            #expect(try await client.call("/weevent/rest/exist?topic=com.weevent.iot.event&groupId=2").body == "false")
        }
    }

    @Test func publishThenGetEventReturnsContentAndExtensions() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=com.weevent.iot.control&groupId=1")
            let reply = try await client.call(
                "/weevent/rest/publish?topic=com.weevent.iot.control&groupId=1&content=hello&weevent-url=https://github.com/WeBankFinTech/WeEvent"
            )
            #expect(reply.status == 200)
            #expect(reply.object["status"] as? String == "SUCCESS")
            #expect(reply.object["topic"] as? String == "com.weevent.iot.control")
            let eventId = try #require(reply.object["eventId"] as? String)
            let id = try #require(EventID(eventId))
            #expect(id.topicHash == EventID.topicHash("com.weevent.iot.control"))
            #expect(id.sequence == 1)

            let event = try await client.call("/weevent/rest/getEvent?eventId=\(eventId)&groupId=1")
            #expect(event.status == 200)
            #expect(event.object["content"] as? String == Data("hello".utf8).base64EncodedString())
            #expect(event.object["eventId"] as? String == eventId)
            #expect(event.object["topic"] as? String == "com.weevent.iot.control")
            #expect((event.object["extensions"] as? [String: String]) == ["weevent-url": "https://github.com/WeBankFinTech/WeEvent"])
        }
    }

    /// Each durable publish is timed in `weevent_rest_publish_seconds`, served at /weevent/metrics
    /// (swift-metrics into the Prometheus registry), with the bridge's counters beside it.
    @Test func publishesAreTimedInTheMetrics() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=timed")
            for _ in 0..<3 { #expect(try await client.call("/weevent/rest/publish?topic=timed&content=x").status == 200) }
            let metrics = try await client.call("/weevent/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("weevent_rest_publish_seconds_count 3"), "\(metrics.body)")
            #expect(metrics.body.contains("# TYPE weevent_rest_publish_seconds histogram"), "\(metrics.body)")
        }
    }

    @Test func postFormBodyWorksLikeTheQueryString() async throws {
        try await withAPI { client in
            #expect(try await client.call("/weevent/rest/open", method: .post, form: "topic=form.topic").body == "true")
            let reply = try await client.call(
                "/weevent/rest/publish", method: .post, form: "topic=form.topic&content=a+b%26c%3D%E6%B8%A9&weevent-k=v"
            )
            let eventId = try #require(reply.object["eventId"] as? String)
            let event = try await client.call("/weevent/rest/getEvent", method: .post, form: "eventId=\(eventId)")
            #expect(event.object["content"] as? String == Data("a b&c=温".utf8).base64EncodedString())
        }
    }

    @Test func stateAndListDescribeTopics() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=s1")
            _ = try await client.call("/weevent/rest/open?topic=s2")
            _ = try await client.call("/weevent/rest/publish?topic=s1&content=x")
            let publish = try await client.call("/weevent/rest/publish?topic=s1&content=y")
            let id = try #require(EventID(publish.object["eventId"] as? String ?? ""))
            let state = try await client.call("/weevent/rest/state?topic=s1").object
            #expect(state["topicName"] as? String == "s1")
            #expect(state["sequenceNumber"] as? Int == 2)
            #expect(state["blockNumber"] as? Int == Int(id.blockHeight))
            #expect((state["createdTimestamp"] as? Int ?? 0) > 0)
            #expect((state["lastTimestamp"] as? Int ?? 0) >= (state["createdTimestamp"] as? Int ?? 0))

            let list = try await client.call("/weevent/rest/list?pageIndex=0&pageSize=1").object
            #expect(list["total"] as? Int == 2)
            #expect(list["pageIndex"] as? Int == 0)
            #expect(list["pageSize"] as? Int == 1)
            let infos = try #require(list["topicInfoList"] as? [[String: Any]])
            #expect(infos.map { $0["topicName"] as? String } == ["s1"])
            let second = try await client.call("/weevent/rest/list?pageIndex=1&pageSize=1").object
            #expect((second["topicInfoList"] as? [[String: Any]])?.first?["topicName"] as? String == "s2")
        }
    }

    @Test func closeRemovesTheTopicAndUnknownCloseIs100101() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=c")
            #expect(try await client.call("/weevent/rest/close?topic=c").body == "true")
            #expect(try await client.call("/weevent/rest/exist?topic=c").body == "false")
            try await client.expectError("/weevent/rest/close?topic=c", code: 100101, status: 404)
            try await client.expectError("/weevent/rest/state?topic=c", code: 100101, status: 404)
        }
    }

    @Test func topicErrors() async throws {
        try await withAPI { client in
            let long = String(repeating: "a", count: 65)
            try await client.expectError("/weevent/rest/open?topic=\(long)", code: 100102)
            try await client.expectError("/weevent/rest/open?topic=%E6%B8%A9%E5%BA%A6", code: 100106)
            try await client.expectError("/weevent/rest/open?topic=a/b/", code: 100106)
            try await client.expectError("/weevent/rest/open?topic=a/%2B/b", code: 100106)
            try await client.expectError("/weevent/rest/open?topic=a/%23", code: 100106)
            try await client.expectError("/weevent/rest/open?topic=", code: 100103)
            try await client.expectError("/weevent/rest/open?topic=%20%20", code: 100103)
            try await client.expectError("/weevent/rest/open", code: 100103)
            try await client.expectError("/weevent/rest/publish?topic=never.opened&content=x", code: 100101, status: 404)
            #expect(try await client.call("/weevent/rest/open?topic=\(String(repeating: "a", count: 64))").body == "true")
        }
    }

    @Test func contentAndExtensionLimits() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=big")
            let ok = try await client.call("/weevent/rest/publish", method: .post, form: "topic=big&content=\(String(repeating: "x", count: 10240))")
            #expect(ok.object["status"] as? String == "SUCCESS")
            let tooBig = try await client.call("/weevent/rest/publish", method: .post, form: "topic=big&content=\(String(repeating: "x", count: 10241))")
            #expect(tooBig.code == 100201 && tooBig.status == 400)
            try await client.expectError("/weevent/rest/publish?topic=big", code: 100200)
            try await client.expectError("/weevent/rest/publish?topic=big&content=", code: 100200)
            try await client.expectError("/weevent/rest/publish?topic=big&content=x&weevent-a=\(String(repeating: "v", count: 1100))", code: 100204)
        }
    }

    /// The bridge marks an inbound event with the MQTT topic it came from and never sends such an
    /// event back there; a client that could set that mark could silence an outbound binding.
    @Test func aClientCannotSetTheBridgesReservedExtension() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=cmd")
            for key in ["weevent-mqtt-topic", "weevent-MQTT-Topic"] {
                let reply = try await client.call("/weevent/rest/publish?topic=cmd&content=x&\(key)=device/cmd")
                #expect(reply.code == 100206 && reply.status == 400, "\(reply.body)")
                #expect((reply.object["message"] as? String)?.contains("reserved") == true, "\(reply.body)")
            }
            let form = try await client.call("/weevent/rest/publish", method: .post, form: "topic=cmd&content=x&weevent-mqtt-topic=device/cmd")
            #expect(form.code == 100206)
            #expect(try await client.call("/weevent/rest/state?topic=cmd").object["sequenceNumber"] as? Int == 0)
            // Other weevent- extensions are still the client's.
            #expect(try await client.call("/weevent/rest/publish?topic=cmd&content=x&weevent-mqtt-qos=1").object["status"] as? String == "SUCCESS")
        }
    }

    @Test func pagingErrors() async throws {
        try await withAPI { client in
            try await client.expectError("/weevent/rest/list?pageIndex=0&pageSize=0", code: 100107)
            try await client.expectError("/weevent/rest/list?pageIndex=0&pageSize=101", code: 100107)
            try await client.expectError("/weevent/rest/list?pageIndex=-1&pageSize=10", code: 100104)
            try await client.expectError("/weevent/rest/list?pageIndex=x&pageSize=10", code: 100104)
            #expect(try await client.call("/weevent/rest/list?pageIndex=0&pageSize=100").status == 200)
        }
    }

    /// Numbers from a request are range-checked before any arithmetic: each of these once
    /// killed the process (an Int overflow in pageIndex * pageSize, Int64(sequence) trapping).
    @Test func numbersBeyondWhatALedgerHoldsAreErrorsNotCrashes() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=n")
            _ = try await client.call("/weevent/rest/publish?topic=n&content=x")
            let page = try await client.call("/weevent/rest/list?pageIndex=\(Int.max)&pageSize=2")
            #expect(page.status == 200)
            #expect(page.object["total"] as? Int == 1)
            #expect((page.object["topicInfoList"] as? [Any])?.isEmpty == true)
            let hash = EventID.topicHash("n")
            let tooBig = "9223372036854775808"
            for id in ["\(hash)-\(tooBig)-1", "\(hash)-1-\(tooBig)", "\(hash)-18446744073709551615-1"] {
                try await client.expectError("/weevent/rest/getEvent?eventId=\(id)", code: 100302)
                try await client.expectError("/weevent/rest/proof?eventId=\(id)", code: 100302)
                try await client.expectError("/weevent/rest/events?topic=n&offset=\(id)", code: 100302)
                try await client.expectError("/weevent/rest/stream?topic=n&offset=\(id)", code: 100302)
                let resumed = try await client.call("/weevent/rest/stream?topic=n", headers: [.init("Last-Event-ID")!: id])
                #expect(resumed.code == 100302, "Last-Event-ID \(id) -> \(resumed.body)")
            }
            try await client.expectError("/weevent/rest/stream?topic=n&offset=\(tooBig)", code: 100307)
            try await client.expectError("/weevent/rest/events?topic=n&offset=\(tooBig)", code: 100307)
            // The largest number a ledger can hold is a well-formed id of an event that does not exist.
            try await client.expectError("/weevent/rest/getEvent?eventId=\(hash)-\(Int64.max)-1", code: 100303, status: 404)
        }
    }

    @Test func eventIdErrors() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=e")
            let publish = try await client.call("/weevent/rest/publish?topic=e&content=x")
            let id = try #require(EventID(publish.object["eventId"] as? String ?? ""))
            try await client.expectError("/weevent/rest/getEvent?eventId=not-an-id", code: 100302)
            try await client.expectError("/weevent/rest/getEvent?eventId=", code: 100300)
            try await client.expectError("/weevent/rest/getEvent?eventId=\(String(repeating: "1", count: 65))", code: 100301)
            try await client.expectError("/weevent/rest/getEvent?eventId=\(id.topicHash)-1-\(id.blockHeight + 1)", code: 100304)
            try await client.expectError("/weevent/rest/getEvent?eventId=\(id.topicHash)-5-\(id.blockHeight)", code: 100303, status: 404)
        }
    }

    @Test func unknownGroupIs100305OnEveryEndpoint() async throws {
        try await withAPI { client in
            for path in [
                "open?topic=t", "close?topic=t", "exist?topic=t", "state?topic=t", "list?pageIndex=0&pageSize=10",
                "publish?topic=t&content=x", "getEvent?eventId=2cf24dba-1-1",
            ] {
                try await client.expectError("/weevent/rest/\(path)&groupId=99", code: 100305, status: 404)
            }
            try await client.expectError("/weevent/admin/blockchaininfo?groupId=99", code: 100305, status: 404)
        }
    }

    @Test func adminEndpointsDescribeGroupsAndChains() async throws {
        try await withAPI { client in
            let groups = try await client.call("/weevent/admin/listGroup")
            #expect(groups.json as? [String] == ["1", "2"])
            _ = try await client.call("/weevent/rest/open?topic=a&groupId=2")
            _ = try await client.call("/weevent/rest/publish?topic=a&content=x&groupId=2")
            let info = try await client.call("/weevent/admin/blockchaininfo?groupId=2").object
            #expect(info["groupId"] as? String == "2")
            #expect(info["blockHeight"] as? Int == 1)
            #expect(info["eventCount"] as? Int == 1)
            #expect((info["lastBlockHash"] as? String)?.count == 64)
            let empty = try await client.call("/weevent/admin/blockchaininfo").object
            #expect(empty["blockHeight"] as? Int == 0)
            #expect(empty["lastBlockHash"] as? String == String(repeating: "0", count: 64))
        }
    }

    @Test func unknownEndpointAnswersJSON404() async throws {
        try await withAPI { client in
            let reply = try await client.call("/weevent/rest/nope")
            #expect(reply.status == 404)
            #expect(reply.code == 200001)
        }
    }

    @Test func malformedPercentEncodingIs200001() async throws {
        try await withAPI { client in
            try await client.expectError("/weevent/rest/open?topic=%G1", code: 200001)
        }
    }
}
