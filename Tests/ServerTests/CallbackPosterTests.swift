import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing
import WeEvent
@testable import Subscriptions

/// What one callback POST does with a receiver that redirects, answers without end, or stalls:
/// a real HTTP receiver on loopback (allowed by the policy, as `subscription.callback.allowed-ranges` would).
@Suite(.timeLimit(.minutes(2))) struct CallbackPosterTests {
    final class Hits: Sendable {
        let paths = Mutex<[String]>([])
        func record(_ path: String) { paths.withLock { $0.append(path) } }
        var all: [String] { paths.withLock { $0 } }
    }

    private func withReceiver(_ body: @escaping @Sendable (Int, Hits) async throws -> Void) async throws {
        let hits = Hits()
        let router = Router()
        router.post("ok") { request, _ in
            hits.record(request.uri.path); return Response(status: .ok)
        }
        router.post("redirect") { request, _ in
            hits.record(request.uri.path)
            return Response(status: .temporaryRedirect, headers: [.location: "/ok"])
        }
        router.post("endless") { request, _ in
            hits.record(request.uri.path)
            return Response(
                status: .ok,
                body: ResponseBody { writer in
                    let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
                    while !Task.isCancelled { try await writer.write(chunk) }
                })
        }
        router.post("stall") { request, _ in
            hits.record(request.uri.path)
            try await Task.sleep(for: .seconds(3))
            return Response(status: .ok)
        }
        router.post("dribble") { request, _ in
            hits.record(request.uri.path)
            return Response(
                status: .ok,
                body: ResponseBody { writer in
                    for _ in 0..<30 {
                        try await writer.write(ByteBuffer(string: "."))
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await writer.finish(nil)
                })
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(try #require(client.port), hits) }
    }

    private func loopbackPolicy(timeout: Duration = .seconds(30)) -> CallbackPolicy {
        var policy = CallbackPolicy()
        policy.allowedRanges = [IPRange("127.0.0.0/8")!]
        policy.timeout = timeout
        return policy
    }

    @Test func aRedirectIsAFailureAndIsNotFollowed() async throws {
        try await withReceiver { port, hits in
            let poster = CallbackPoster(policy: loopbackPolicy())
            let outcome = try await poster.post(Data("{}".utf8), to: "http://127.0.0.1:\(port)/redirect")
            await poster.shutdown()
            #expect(outcome == .failed("HTTP 307 from http://127.0.0.1:\(port)/redirect"))
            #expect(hits.all == ["/redirect"])
        }
    }

    @Test func anEndlessAnswerIsReadUpToTheCapOnly() async throws {
        try await withReceiver { port, _ in
            let poster = CallbackPoster(policy: loopbackPolicy(timeout: .seconds(30)))
            let outcome = try await poster.post(Data("{}".utf8), to: "http://localhost:\(port)/endless")
            await poster.shutdown()
            // Reading it all could never end (the deadline would make it a failure): the answer
            // counts as soon as the cap is read.
            #expect(outcome == .delivered)
        }
    }

    @Test func aStalledOrDribblingReceiverMeetsTheDeadline() async throws {
        try await withReceiver { port, _ in
            let poster = CallbackPoster(policy: loopbackPolicy(timeout: .milliseconds(600)))
            for path in ["stall", "dribble"] {
                let started = ContinuousClock.now
                let outcome = try await poster.post(Data("{}".utf8), to: "http://127.0.0.1:\(port)/\(path)")
                let elapsed = ContinuousClock.now - started
                #expect(outcome == .failed("no complete answer within 0.6 seconds from http://127.0.0.1:\(port)/\(path)"))
                #expect(elapsed >= .milliseconds(550) && elapsed < .seconds(10), "\(path): \(elapsed)")
            }
            await poster.shutdown()
        }
    }

    /// The check is made when delivering too, not only at subscribe time: a receiver that is not
    /// allowed (any more) gets nothing.
    @Test func deliveryChecksTheAddressAgain() async throws {
        try await withReceiver { port, hits in
            let poster = CallbackPoster(policy: CallbackPolicy())
            let outcome = try await poster.post(Data("{}".utf8), to: "http://localhost:\(port)/ok")
            await poster.shutdown()
            guard case .failed(let problem) = outcome else {
                Issue.record("expected a refusal, got \(outcome)")
                return
            }
            #expect(
                problem.contains("callback host localhost is 127.0.0.1, a loopback, private, link-local or reserved address")
                    || problem.contains("callback host localhost is ::1"), "\(problem)")
            #expect(hits.all.isEmpty)

            let allowed = CallbackPoster(policy: loopbackPolicy())
            #expect(try await allowed.post(Data("{}".utf8), to: "http://127.0.0.1:\(port)/ok") == .delivered)
            await allowed.shutdown()
            #expect(hits.all == ["/ok"])
        }
    }
}
