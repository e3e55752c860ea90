import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import TestSupport
import Testing
import WeEvent
@testable import Server

@Suite(.timeLimit(.minutes(2))) struct StreamLimitTests {
    @Test func pastTheStreamLimitAClientGets503UntilOneCloses() async throws {
        try await withTestBroker(configure: { $0.rest.streamMaxCount = 2 }, live: true) { client, _ in
            let port = try #require(client.port)
            _ = try await client.call("/weevent/rest/open?topic=t")
            var first: RawConnection? = try RawConnection(port: port, get: "/weevent/rest/stream?topic=t")
            #expect(await first?.read(until: ": weevent stream").found == true)
            let second = try RawConnection(port: port, get: "/weevent/rest/stream?topic=t")
            #expect(await second.read(until: ": weevent stream").found == true)
            let refused = try await client.call("/weevent/rest/stream?topic=t")
            #expect(refused.status == 503 && refused.code == 200003, "\(refused.body)")
            first = nil  // the client goes away
            _ = first
            try await eventuallyAdmitted(port: port)
        }
    }

    /// A client that stops reading while events keep coming: its writes wait on full socket
    /// buffers until `rest.stream.write-timeout-ms`, then the broker closes the stream and its place is free.
    @Test func aStreamWhoseClientStopsReadingIsClosedAfterTheWriteTimeout() async throws {
        try await withTestBroker(
            configure: {
                $0.rest.streamMaxCount = 1; $0.rest.streamWriteTimeout = .milliseconds(500)
            }, live: true
        ) { client, ledgers in
            let port = try #require(client.port)
            _ = try await client.call("/weevent/rest/open?topic=t")
            // A small receive buffer: the broker's writes fill it soon.
            let stalled = try RawConnection(port: port, get: "/weevent/rest/stream?topic=t", receiveBuffer: 4096)
            #expect(await stalled.read(until: ": weevent stream").found)
            // The stalled stream holds the only place. (Asked before the publishes: after them the
            // write timeout may already have closed it, and this call would then be a stream of
            // its own that never ends.)
            let refused = try await client.call("/weevent/rest/stream?topic=t")
            #expect(refused.code == 200003)
            // Far more than every socket buffer between the two holds.
            let ledger = try ledgers.ledger("1")
            let content = [UInt8](repeating: UInt8(ascii: "z"), count: 10_000)
            for _ in 0..<4 {
                _ = try await ledger.publish(Array(repeating: NewEvent(topic: "t", content: content), count: 500))
            }
            try await eventuallyAdmitted(port: port)
            #expect(await stalled.drainUntilClosed())
        }
    }

    /// Polls until a new stream gets its first comment (up to 20 s).
    func eventuallyAdmitted(port: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for _ in 0..<40 {
            let probe = try RawConnection(port: port, get: "/weevent/rest/stream?topic=t")
            let answer = await probe.read(until: "\r\n\r\n")
            if answer.text.hasPrefix("HTTP/1.1 200") { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        Issue.record("no stream admitted within 20 s", sourceLocation: sourceLocation)
    }
}
