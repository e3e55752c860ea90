import Cluster
import Synchronization
import Testing
import TestSupport

/// A leadership the test switches by hand.
final class ManualLeadership: LeadershipSource {
    private let continuation = Mutex<AsyncStream<Bool>.Continuation?>(nil)

    func leadershipChanges() -> AsyncStream<Bool> {
        let (stream, continuation) = AsyncStream.makeStream(of: Bool.self)
        self.continuation.withLock { $0 = continuation }
        return stream
    }

    func set(_ leading: Bool) { continuation.withLock { _ = $0?.yield(leading) } }
    var isFollowed: Bool { continuation.withLock { $0 != nil } }
}

/// What the terms did, in order.
final class TermLog: Sendable {
    private let entries = Mutex<[String]>([])
    func add(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}

@Suite struct LeaderTermTests {
    @Test func aTermRunsPerStretchOfLeadershipAndEndsTheMomentItIsLost() async throws {
        let leadership = ManualLeadership()
        let log = TermLog()
        let runner = Task {
            await leadership.runTerms(changed: { log.add($0 ? "start" : "stop") }) {
                let term = log.all.filter { $0 == "start" }.count
                log.add("term \(term) running")
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
                log.add("term \(term) ended")
            }
        }
        #expect(await eventually(within: .seconds(10)) { leadership.isFollowed })
        leadership.set(false)  // not leading yet: nothing to stop
        leadership.set(true)
        #expect(await eventually(within: .seconds(10)) { log.all.contains("term 1 running") })
        leadership.set(true)  // still the same stretch: no second term
        leadership.set(false)
        #expect(await eventually(within: .seconds(10)) { log.all.contains("term 1 ended") })
        leadership.set(true)
        #expect(await eventually(within: .seconds(10)) { log.all.contains("term 2 running") })
        runner.cancel()
        await runner.value
        #expect(log.all == ["start", "term 1 running", "stop", "term 1 ended", "start", "term 2 running", "term 2 ended"])
    }

    @Test func theOnlyInstanceLeadsAtOnce() async throws {
        let log = TermLog()
        let runner = Task {
            await SingleInstanceLeadership().runTerms {
                log.add("running")
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
            }
        }
        #expect(await eventually(within: .seconds(10)) { log.all == ["running"] })
        runner.cancel()
        await runner.value
    }
}
