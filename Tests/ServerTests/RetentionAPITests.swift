import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing
import WeEvent
@testable import Server

/// admin/getRetention, setRetention, removeRetention and eraseEvent: what each answers, what
/// each refuses with which code and message, and that a group's settings are kept in its
/// ledger (the latest event of `$weevent/retention`), beside the configured defaults.
@Suite struct RetentionAPITests {
    @Test func settingsAreKeptInTheGroupsLedgerOverTheConfiguredOnes() async throws {
        try await withAPI({ $0.ledger.retention = RetentionPolicy(maxAge: 3_600_000) }) { client in
            let initial = try await client.call("/weevent/admin/getRetention").object
            #expect(initial["maxAge"] as? String == "1h" && initial["maxBytes"] is NSNull && (initial["topics"] as? [Any])?.isEmpty == true)
            #expect((initial["configured"] as? [String: Any])?["maxAge"] as? String == "1h" && initial["format"] as? Int == 2)

            let rule = try await client.call("/weevent/admin/setRetention?topic=sensors/%23&maxAge=7d").object
            #expect((rule["topics"] as? [[String: String]]) == [["pattern": "sensors/#", "maxAge": "7d"]])
            _ = try await client.call("/weevent/admin/setRetention?topic=records&maxAge=keep")
            let replaced = try await client.call("/weevent/admin/setRetention?topic=sensors/%23&maxAge=120s").object
            #expect((replaced["topics"] as? [[String: String]]) == [["pattern": "sensors/#", "maxAge": "2m"], ["pattern": "records", "maxAge": "keep"]])
            let group = try await client.call("/weevent/admin/setRetention?maxAge=none&maxBytes=10MiB").object
            #expect(group["maxAge"] is NSNull && group["maxBytes"] as? Int == 10 << 20)
            #expect((try await client.call("/weevent/admin/setRetention?maxAge=default").object)["maxAge"] as? String == "1h")
            let removed = try await client.call("/weevent/admin/removeRetention?topic=records").object
            #expect((removed["topics"] as? [[String: String]]) == [["pattern": "sensors/#", "maxAge": "2m"]])
            // Group 2 has its own settings (none), and every change is an event of group 1's $weevent/retention.
            #expect((try await client.call("/weevent/admin/getRetention?groupId=2").object["topics"] as? [Any])?.isEmpty == true)
            let history = try await client.call("/weevent/rest/events?topic=%24weevent/retention&offset=OFFSET_FIRST&limit=100").object
            #expect((history["events"] as? [Any])?.count == 6, "\(history)")
        }
    }

    @Test func badSettingsAreRefusedWithWhatIsWrong() async throws {
        try await withAPI { client in
            for (query, words) in [
                ("topic=a&maxAge=10", "maxAge '10' is not a duration"),
                ("topic=a", "maxAge is required with topic"),
                ("topic=a/%23/b&maxAge=1d", "is not one topic name or MQTT pattern"),
                ("topic=a,b&maxAge=1d", "is not one topic name or MQTT pattern"),
                ("topic=%24weevent/retention&maxAge=1d", "the policy itself"),
                ("maxAge=0s", "maxAge '0s' is not a duration"),
                ("maxBytes=many", "maxBytes 'many' is not a size"),
                ("", "give maxAge or maxBytes"),
            ] {
                let message = try await client.expectError("/weevent/admin/setRetention?\(query)", code: 100315)
                #expect(message.contains(words), "\(query): \(message)")
            }
            let missing = try await client.expectError("/weevent/admin/removeRetention?topic=nothing", code: 100315)
            #expect(missing.contains("has no rule for 'nothing'"))
            try await client.expectError("/weevent/admin/getRetention?groupId=9", code: 100305, status: 404)
        }
    }

    @Test func anErasureAnswersTheErasedEventAndIsRecorded() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=people")
            let published = try await client.call("/weevent/rest/publish?topic=people&content=jane&weevent-name=doe").object
            let id = try #require(published["eventId"] as? String)
            let erased = try await client.call("/weevent/admin/eraseEvent?eventId=\(id)").object
            let mark = try #require(erased["pruned"] as? [String: Any])
            #expect(erased["content"] as? String == "" && (erased["extensions"] as? [String: String]) == [:] && mark["reason"] as? String == "erased")
            let again = try await client.call("/weevent/admin/eraseEvent?eventId=\(id)").object
            #expect((again["pruned"] as? [String: Any])?["time"] as? Int == mark["time"] as? Int, "an erased event is answered as it is")
            let trail = try await client.call("/weevent/rest/events?topic=%24weevent/audit&offset=OFFSET_FIRST").object
            let events = try #require(trail["events"] as? [[String: Any]])
            #expect(events.count == 1, "one record, not one per call: \(events)")
            let trailID = try #require(events.first?["eventId"] as? String)
            try await client.expectError("/weevent/admin/eraseEvent?eventId=\(trailID)", code: 100316, status: 403)
            try await client.expectError("/weevent/admin/eraseEvent?eventId=", code: 100300)
            try await client.expectError("/weevent/admin/eraseEvent?eventId=317e7c4c-9-9", code: 100304)
        }
    }
}
