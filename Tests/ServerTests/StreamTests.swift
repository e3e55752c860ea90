import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import Synchronization
import Testing
import WeEvent
@testable import Server

/// One `id:`/`data:` message of an event stream.
struct StreamedEvent: Sendable, Equatable {
    let id: String
    let topic: String
    let content: String
}

/// Runs `body` against the broker served on a loopback port (SSE needs a real socket).
func withLiveAPI(_ body: @escaping @Sendable (_ client: any TestClientProtocol, _ base: String) async throws -> Void) async throws {
    try await withLiveAPI { client, base, _ in try await body(client, base) }
}

func withLiveAPI(_ body: @escaping @Sendable (_ client: any TestClientProtocol, _ base: String, _ ledger: any EventLedger) async throws -> Void) async throws {
    try await withTestBroker(blockMaxDelay: 1, live: true) { client, ledgers in
        try await body(client, "http://127.0.0.1:\(client.port!)/weevent", try ledgers.ledger("1"))
    }
}

/// Opens an SSE stream, runs `whileOpen` once the broker said the stream is live, and
/// collects events until `until` says enough (or 60 s pass, which fails the test).
func streamEvents(
    _ http: HTTPClient, _ url: String, headers: [(String, String)] = [],
    whileOpen: @escaping @Sendable () async throws -> Void = {},
    until done: @escaping @Sendable ([StreamedEvent]) -> Bool
) async throws -> [StreamedEvent] {
    var request = HTTPClientRequest(url: url)
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    let response = try await http.execute(request, timeout: .seconds(120))
    #expect(response.status == .ok)
    #expect(response.headers.first(name: "content-type")?.hasPrefix("text/event-stream") == true)
    return try await withThrowingTaskGroup(of: [StreamedEvent]?.self) { group in
        group.addTask {
            var pending = ""
            var events: [StreamedEvent] = []
            var opened = false
            for try await buffer in response.body {
                pending += String(buffer: buffer)
                while let end = pending.range(of: "\n\n") {
                    let block = pending[..<end.lowerBound]
                    pending = String(pending[end.upperBound...])
                    if block.hasPrefix(": weevent stream") && !opened {
                        opened = true
                        try await whileOpen()
                    }
                    var id = ""
                    var data = ""
                    for line in block.split(separator: "\n") {
                        if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                        if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                    }
                    guard !id.isEmpty else { continue }
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
                    let content = Data(base64Encoded: object["content"] as? String ?? "").map { String(decoding: $0, as: UTF8.self) } ?? ""
                    #expect(object["eventId"] as? String == id)
                    events.append(StreamedEvent(id: id, topic: object["topic"] as? String ?? "", content: content))
                    if done(events) { return events }
                }
            }
            return events
        }
        group.addTask {
            // A hang guard, not a timing check: a full run on 2 cores starts every suite at once.
            try await Task.sleep(for: .seconds(180))
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        return try #require(first, "stream \(url) did not deliver in time")
    }
}

func publish(_ client: any TestClientProtocol, _ topic: String, _ content: String) async throws -> String {
    let reply = try await client.call("/weevent/rest/publish?topic=\(topic)&content=\(content)")
    return try #require(reply.object["eventId"] as? String, "\(reply.body)")
}

/// An SSE-capable client with room for many streams to one host.
func withHTTPClient(_ body: (HTTPClient) async throws -> Void) async throws {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        try await body(http)
    } catch {
        try? await http.shutdown()
        throw error
    }
    try await http.shutdown()
}

/// Values shared by concurrent test tasks.
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}

// The limit is a stop for a hung stream, not a speed check: the hundred-stream burst takes
// 110-127 s in a debug build while the rest of `make test` (the browsers, the mosquitto tool
// comparisons) runs beside it.
@Suite(.timeLimit(.minutes(5)))
struct StreamTests {
    @Test func streamFromFirstReplaysHistoryThenContinuesLive() async throws {
        try await withLiveAPI { client, base in
            try await withHTTPClient { http in
                _ = try await client.call("/weevent/rest/open?topic=live")
                var ids: [String] = []
                for i in 0..<3 { ids.append(try await publish(client, "live", "old-\(i)")) }
                let live = Shared<[String]>([])
                let events = try await streamEvents(
                    http, "\(base)/rest/stream?topic=live&offset=OFFSET_FIRST",
                    whileOpen: {
                        for i in 0..<3 {
                            let id = try await publish(client, "live", "new-\(i)")
                            live.withLock { $0.append(id) }
                        }
                    }, until: { $0.count >= 6 })
                #expect(events.map(\.content) == ["old-0", "old-1", "old-2", "new-0", "new-1", "new-2"])
                #expect(events.map(\.id) == ids + live.withLock { $0 })
            }
        }
    }

    @Test func streamFromAnEventIdAndLastEventIDResumeRightAfterIt() async throws {
        try await withLiveAPI { client, base in
            try await withHTTPClient { http in
                _ = try await client.call("/weevent/rest/open?topic=resume")
                var ids: [String] = []
                for i in 0..<6 { ids.append(try await publish(client, "resume", "e\(i)")) }

                let fromOffset = try await streamEvents(http, "\(base)/rest/stream?topic=resume&offset=\(ids[1])", until: { $0.count >= 4 })
                #expect(fromOffset.map(\.id) == Array(ids[2...]))

                let fromHeader = try await streamEvents(
                    http, "\(base)/rest/stream?topic=resume&offset=OFFSET_FIRST", headers: [("Last-Event-ID", ids[3])], until: { $0.count >= 2 }
                )
                #expect(fromHeader.map(\.content) == ["e4", "e5"])

                // A block height starts at the first event of that block.
                let height = try #require(EventID(ids[4])).blockHeight
                let last = ids[5]
                let fromBlock = try await streamEvents(http, "\(base)/rest/stream?topic=resume&offset=\(height)", until: { $0.last?.id == last })
                #expect(fromBlock.first?.id == ids[4])
            }
        }
    }

    @Test func patternStreamGetsEveryMatchingTopicAndNoOther() async throws {
        try await withLiveAPI { client, base in
            try await withHTTPClient { http in
                for topic in ["iot/a/temp", "iot/b/temp", "iot/a/hum", "iot/temp", "other", "iot/z/temp"] {
                    _ = try await client.call("/weevent/rest/open?topic=\(topic)")
                }
                let expected = Shared<[String]>([])
                let events = try await streamEvents(
                    http, "\(base)/rest/stream?topic=iot/%2B/temp",
                    whileOpen: {
                        for round in 0..<3 {
                            for topic in ["iot/a/temp", "iot/a/hum", "iot/b/temp", "iot/temp", "other"] {
                                let id = try await publish(client, topic, "\(topic)-\(round)")
                                if topic.hasSuffix("/temp") && topic != "iot/temp" { expected.withLock { $0.append(id) } }
                            }
                        }
                        // The last one matches, so everything before it has been decided.
                        let sentinel = try await publish(client, "iot/z/temp", "end")
                        expected.withLock { $0.append(sentinel) }
                    }, until: { $0.last?.content == "end" })
                #expect(events.map(\.id) == expected.withLock { $0 })
                #expect(Set(events.map(\.topic)) == ["iot/a/temp", "iot/b/temp", "iot/z/temp"])
            }
        }
    }

    @Test func hundredConcurrentStreamsEachReceiveEveryEventOfABurst() async throws {
        try await withLiveAPI { client, base in
            try await withHTTPClient { http in
                _ = try await client.call("/weevent/rest/open?topic=burst")
                let streams = 100
                let burst = 400
                let opened = Shared(0)
                let published = Shared<[String]>([])
                let results = try await withThrowingTaskGroup(of: [StreamedEvent].self) { group in
                    for _ in 0..<streams {
                        group.addTask {
                            try await streamEvents(
                                http, "\(base)/rest/stream?topic=burst",
                                whileOpen: {
                                    opened.withLock { $0 += 1 }
                                }, until: { $0.count >= burst })
                        }
                    }
                    group.addTask {
                        while opened.withLock({ $0 }) < streams { try await Task.sleep(for: .milliseconds(20)) }
                        try await withThrowingTaskGroup(of: Void.self) { publishers in
                            for p in 0..<8 {
                                publishers.addTask {
                                    for i in 0..<(burst / 8) {
                                        let id = try await publish(client, "burst", "p\(p)-\(i)")
                                        published.withLock { $0.append(id) }
                                    }
                                }
                            }
                            try await publishers.waitForAll()
                        }
                        return []
                    }
                    var all: [[StreamedEvent]] = []
                    for try await events in group where !events.isEmpty { all.append(events) }
                    return all
                }
                let ids = Set(published.withLock { $0 })
                #expect(ids.count == burst)
                #expect(results.count == streams)
                for events in results {
                    #expect(Set(events.map(\.id)) == ids)
                    // Ledger order: sequence numbers of the one topic ascend.
                    let sequences = events.compactMap { EventID($0.id)?.sequence }
                    #expect(sequences == sequences.sorted())
                }
            }
        }
    }

    /// A reader that reads nothing while megabytes are published does not hold publishers
    /// up; when it reads, it gets every event in order (from the ledger, its buffer long gone).
    @Test func aStalledReaderDoesNotHoldPublishersAndLaterGetsEverything() async throws {
        try await withLiveAPI { client, base, ledger in
            try await withHTTPClient { http in
                _ = try await client.call("/weevent/rest/open?topic=stall")
                let response = try await http.execute(HTTPClientRequest(url: "\(base)/rest/stream?topic=stall"), timeout: .seconds(120))
                var body = response.body.makeAsyncIterator()
                var text = ""
                while !text.contains("\n\n"), let chunk = try await body.next() { text += String(buffer: chunk) }
                #expect(text.hasPrefix(": weevent stream"))
                text = String(text[text.range(of: "\n\n")!.upperBound...])

                // About 12 MB: far more than the stream's buffer and the socket's.
                let content = [UInt8](repeating: UInt8(ascii: "x"), count: 1500)
                var ids: [String] = []
                for _ in 0..<16 {
                    let results = try await ledger.publish(Array(repeating: NewEvent(topic: "stall", content: content), count: 500))
                    ids += try results.map { try $0.get().description }
                }
                var received: [String] = []
                while received.count < ids.count, let chunk = try await body.next() {
                    text += String(buffer: chunk)
                    var start = text.startIndex
                    while let end = text[start...].range(of: "\n\n") {
                        let block = text[start..<end.lowerBound]
                        if block.hasPrefix("id: ") { received.append(String(block.dropFirst(4).prefix { $0 != "\n" })) }
                        start = end.upperBound
                    }
                    text = String(text[start...])
                }
                #expect(received == ids)
            }
        }
    }

    @Test func streamParametersAreCheckedBeforeStreaming() async throws {
        try await withAPI { client in
            _ = try await client.call("/weevent/rest/open?topic=checked")
            try await client.expectError("/weevent/rest/stream?topic=checked&offset=", code: 100500)
            try await client.expectError("/weevent/rest/stream?topic=checked&offset=zz-1-1", code: 100302)
            try await client.expectError("/weevent/rest/stream?topic=checked&offset=99", code: 100307)
            try await client.expectError("/weevent/rest/stream?topic=checked&offset=0", code: 100307)
            try await client.expectError("/weevent/rest/stream?topic=a/%23/b", code: 100109)
            try await client.expectError("/weevent/rest/stream?topic=a%2Bb/c", code: 100109)
            try await client.expectError("/weevent/rest/stream?topic=nope", code: 100101, status: 404)
            try await client.expectError("/weevent/rest/stream", code: 100103)
            // At most rest.filter.max-items (100) topics and patterns, repeats counted once.
            let tooMany = (0...100).map { "p\($0)/%2B" }.joined(separator: ",")
            try await client.expectError("/weevent/rest/stream?topic=\(tooMany)", code: 100110)
            try await client.expectError("/weevent/rest/events?topic=\(tooMany)", code: 100110)
            let repeated = Array(repeating: "checked,p/%2B", count: 2000).joined(separator: ",")
            let page = try await client.call("/weevent/rest/events", method: .post, form: "topic=\(repeated)")
            #expect(page.status == 200 && page.object["events"] != nil, "\(page.body.prefix(200))")
        }
    }
}
