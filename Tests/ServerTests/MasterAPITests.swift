import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Server

@Suite struct MasterAPITests {
    @Test func addListAndRemoveBindingsAsTheSourceDocumentShows() async throws {
        try await withAPI(bridge: true) { client in
            #expect(try await client.call("/weevent/rest/open?topic=com.weevent.iot.event&groupId=1").body == "true")
            let add = try await client.call("/weevent/master/mqtt_add_inbound_topic?topic=com.weevent.iot.event&groupId=1")
            #expect(add.status == 200 && add.body == "true")
            // Adding it again is still true.
            #expect(try await client.call("/weevent/master/mqtt_add_inbound_topic?topic=com.weevent.iot.event&groupId=1").body == "true")
            _ = try await client.call("/weevent/rest/open?topic=com.weevent.iot.control&groupId=1")
            #expect(try await client.call("/weevent/master/mqtt_add_outbound_topic?topic=com.weevent.iot.control&groupId=1&qos=1").body == "true")

            let list = try #require(try await client.call("/weevent/master/mqtt_list_topic").json as? [[String: Any]])
            #expect(list.count == 2)
            let inbound = try #require(list.first { $0["direction"] as? String == "inbound" })
            #expect(inbound["topic"] as? String == "com.weevent.iot.event")
            #expect(inbound["mqttTopic"] as? String == "com.weevent.iot.event")
            #expect(inbound["qos"] as? Int == 2)  // mqtt.broker.qos default
            #expect(inbound["bridged"] as? Int == 0)
            let outbound = try #require(list.first { $0["direction"] as? String == "outbound" })
            #expect(outbound["qos"] as? Int == 1)
            #expect(outbound["checkpoint"] as? Int == 0)

            #expect(try await client.call("/weevent/master/mqtt_remove_inbound_topic?topic=com.weevent.iot.event&groupId=1").body == "true")
            try await client.expectError("/weevent/master/mqtt_remove_inbound_topic?topic=com.weevent.iot.event&groupId=1", code: 100101, status: 404)
            #expect(try await client.call("/weevent/master/mqtt_remove_outbound_topic?topic=com.weevent.iot.control").body == "true")
            #expect((try await client.call("/weevent/master/mqtt_list_topic").json as? [Any])?.isEmpty == true)
        }
    }

    @Test func wildcardFilterAndExplicitMQTTTopic() async throws {
        try await withAPI(bridge: true) { client in
            _ = try await client.call("/weevent/rest/open?topic=gateway.events")
            let add = try await client.call("/weevent/master/mqtt_add_inbound_topic?topic=gateway.events&mqttTopic=iot-2/type/%2B/id/%2B/evt/%2B/fmt/json")
            #expect(add.body == "true")
            let list = try #require(try await client.call("/weevent/master/mqtt_list_topic").json as? [[String: Any]])
            #expect(list.first?["mqttTopic"] as? String == "iot-2/type/+/id/+/evt/+/fmt/json")
        }
    }

    @Test func errors() async throws {
        try await withAPI(bridge: true) { client in
            try await client.expectError("/weevent/master/mqtt_add_inbound_topic?topic=never.opened", code: 100101, status: 404)
            _ = try await client.call("/weevent/rest/open?topic=t")
            try await client.expectError("/weevent/master/mqtt_add_inbound_topic?topic=t&mqttTopic=a/%23/b", code: 100109)
            try await client.expectError("/weevent/master/mqtt_add_outbound_topic?topic=t&mqttTopic=a/%2B", code: 100109)
            try await client.expectError("/weevent/master/mqtt_add_inbound_topic?topic=t&qos=3", code: 200001)
            try await client.expectError("/weevent/master/mqtt_add_inbound_topic?topic=t&qos=x", code: 200001)
            try await client.expectError("/weevent/master/mqtt_add_inbound_topic?topic=t&groupId=9", code: 100305, status: 404)
            try await client.expectError("/weevent/master/mqtt_add_inbound_topic?topic=", code: 100103)
        }
    }

    @Test func withoutABridgeEveryMasterEndpointIs100600() async throws {
        try await withAPI(bridge: false) { client in
            _ = try await client.call("/weevent/rest/open?topic=t")
            for path in ["mqtt_add_inbound_topic", "mqtt_remove_inbound_topic", "mqtt_add_outbound_topic", "mqtt_remove_outbound_topic", "mqtt_list_topic"] {
                try await client.expectError("/weevent/master/\(path)?topic=t", code: 100600)
            }
        }
    }

    /// With no bridge holding the new inbound binding's subscription, mqtt_add_inbound_topic
    /// answers, after mqtt.binding.live-wait-ms, that the binding is stored but not live yet;
    /// mqtt_list_topic shows it as not live. An outbound binding is live at once.
    @Test func aBindingThatIsNotLiveYetSaysSo() async throws {
        try await withTestBroker(configure: { $0.mqtt.bindingLiveWait = .milliseconds(300) }, bridge: true) { client, _ in
            _ = try await client.call("/weevent/rest/open?topic=t")
            let started = ContinuousClock.now
            let answer = try await client.call("/weevent/master/mqtt_add_inbound_topic?topic=t&mqttTopic=dev/%23")
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            #expect(answer.status == 202, "\(answer.body)")
            #expect(answer.object["stored"] as? Bool == true && answer.object["live"] as? Bool == false)
            #expect((answer.object["message"] as? String)?.contains("dev/#") == true, "\(answer.body)")
            let list = try await client.call("/weevent/master/mqtt_list_topic")
            let rows = (list.json as? [[String: Any]]) ?? []
            #expect(rows.first { $0["direction"] as? String == "inbound" }?["live"] as? Bool == false, "\(list.body)")
            #expect(try await client.call("/weevent/master/mqtt_add_outbound_topic?topic=t").body == "true")
        }
    }
}
