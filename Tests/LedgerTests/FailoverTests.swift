import BrokerConfiguration
import Foundation
import Logging
import Synchronization
import Testing
import TestSupport
import WeEvent
@testable import Ledger

/// The shared ledger on a replicated PostgreSQL: a primary with a synchronous standby, both
/// named in the URL, and a failover as a replication manager makes one (the primary lost, the
/// standby promoted). Patroni's own failovers are in the cluster's fault test (IntegrationTests/ChaosTests).
@Suite(.timeLimit(.minutes(6))) struct FailoverTests {
    /// Publishers publish without pause on one instance while another only reads. The primary is
    /// killed with -9, and promoted a second later: publishes fail (never succeed) while no
    /// primary answers and succeed again once the standby is promoted, without a restart. Every
    /// acknowledged event is stored exactly once, at positions without gaps, the chain verifies,
    /// and the reading instance follows the new primary's commits.
    @Test func theStoreFollowsTheWritablePrimaryAcrossAFailover() async throws {
        try await PostgresServer.withReplicatedPair(synchronous: true) { primary, standby in
            let url = try PostgresURL.parse(PostgresServer.url([primary, standby])).get()
            var settings = PostgresLedgerStore.Settings(url: url)
            settings.schema = uniqueSchema()
            settings.poolSize = 4
            // Generous: under a full `make test` a synchronous commit on two loaded servers took over 3 s.
            settings.timeout = .seconds(10)
            let logger = Logger(label: "failover")
            let writer = try await PostgresLedgerStore.open(settings, groups: ["1"], logger: logger)
            let reader = try await PostgresLedgerStore.open(settings, groups: ["1"], logger: logger)
            try await writer.withRunning(logger: logger) {
                try await reader.withRunning(logger: logger) {
                    let ledger = try writer.ledger("1")
                    #expect(try await ledger.open(topic: "steady"))
                    let tally = Tally()
                    let publishers = Task {
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for publisher in 0..<4 {
                                group.addTask {
                                    var n = 0
                                    while !Task.isCancelled {
                                        let content = "\(publisher)-\(n)"
                                        n += 1
                                        do {
                                            let id = try await ledger.publish(NewEvent(topic: "steady", content: Array(content.utf8)))
                                            tally.state.withLock { $0.acknowledged[content] = id }
                                        } catch {
                                            tally.state.withLock { $0.failed += 1 }
                                            try? await Task.sleep(for: .milliseconds(50))
                                        }
                                    }
                                }
                            }
                            try await group.waitForAll()
                        }
                    }
                    #expect(try await eventually(within: .seconds(30)) { tally.state.withLock { $0.acknowledged.count } >= 50 })
                    primary.kill()
                    let killed = ContinuousClock.now
                    let before = tally.state.withLock { $0.acknowledged.count }
                    try await Task.sleep(for: .seconds(1))
                    try await standby.promote()
                    #expect(try await eventually(within: .seconds(60)) { tally.state.withLock { $0.acknowledged.count } > before + 4 })
                    print("failover: publishes acknowledged again \(ContinuousClock.now - killed) after the kill (promotion after 1 s)")
                    #expect(try await eventually(within: .seconds(60)) { tally.state.withLock { $0.acknowledged.count } >= before + 50 })
                    publishers.cancel()
                    try await publishers.value
                    #expect(tally.state.withLock { $0.failed } > 0, "publishes failed while no primary answered")

                    let stored = try await ledger.events(after: 0, through: nil, matching: try TopicFilter.parse("steady"), limit: 100_000)
                    let contents = stored.events.map { String(decoding: $0.event.content, as: UTF8.self) }
                    let positions = stored.events.map(\.position)
                    #expect(positions == Array(1...UInt64(positions.count)), "positions without gaps")
                    #expect(Set(contents).count == contents.count, "no event stored twice")
                    let acked = tally.state.withLock { $0.acknowledged }
                    let missing = acked.keys.filter { !contents.contains($0) }
                    #expect(missing.isEmpty, "every acknowledged event is on the new primary")
                    for (position, event) in zip(positions, stored.events) {
                        let content = String(decoding: event.event.content, as: UTF8.self)
                        if let id = acked[content] { #expect(event.event.id == id, "event \(content) at \(position)") }
                    }
                    let report = try await ledger.verify()
                    #expect(report.isIntact, "\(report)")

                    let status = try #require(await writer.sharedStoreStatus())
                    #expect(status.primary == "127.0.0.1:\(standby.port)")
                    #expect(status.switches == 1)
                    // The reading instance moved too, and follows the commits made on the new primary.
                    let head = try await ledger.chainInfo().eventCount
                    #expect(try await eventually(within: .seconds(30)) { try reader.ledger("1").commits.head >= head })
                    #expect(await reader.sharedStoreStatus()?.primary == "127.0.0.1:\(standby.port)")
                    // and follows the new primary's commits as they are made (its NOTIFYs), not only
                    // the catch-up after it moved.
                    _ = try await ledger.publish(NewEvent(topic: "steady", content: Array("after".utf8)))
                    #expect(try await eventually(within: .seconds(10)) { try reader.ledger("1").commits.head == head + 1 })
                }
            }
        }
    }

    /// With the standby up and synchronous, admin/status's view of the store: the primary, its
    /// synchronous standby and the standby's lag.
    @Test func theStatusShowsThePrimaryAndItsSynchronousStandby() async throws {
        try await PostgresServer.withReplicatedPair(synchronous: true) { primary, standby in
            let url = try PostgresURL.parse("postgres://postgres@127.0.0.1:\(standby.port),127.0.0.1:\(primary.port)/postgres").get()
            var settings = PostgresLedgerStore.Settings(url: url)
            settings.schema = uniqueSchema()
            settings.timeout = .seconds(10)  // a synchronous commit on two loaded servers, as above
            let logger = Logger(label: "status")
            let ledgers = try await PostgresLedgerStore.open(settings, groups: ["1"], logger: logger)
            try await ledgers.withRunning(logger: logger) {
                #expect(try await ledgers.ledger("1").open(topic: "t"))
                _ = try await ledgers.ledger("1").publish(NewEvent(topic: "t", content: Array("x".utf8)))
                let status = try #require(await ledgers.sharedStoreStatus())
                #expect(status.primary == "127.0.0.1:\(primary.port)", "the writable one, though named second")
                #expect(status.servers == ["127.0.0.1:\(standby.port)", "127.0.0.1:\(primary.port)"])
                #expect(status.synchronousStandbyNames == "standby1")
                let seen = try #require(status.standbys.first)
                #expect(status.standbys.count == 1)
                #expect(seen.name == "standby1" && seen.state == "streaming" && seen.syncState == "sync")
                #expect(seen.lagBytes != nil)
                #expect(status.switches == 0 && status.reachable)
            }
        }
    }

    /// A URL whose every server is a standby: start-up waits for a primary and then says what
    /// each server answered.
    @Test func noWritablePrimaryIsAClearStartUpError() async throws {
        try await PostgresServer.withReplicatedPair(synchronous: false) { _, standby in
            var settings = PostgresLedgerStore.Settings(url: try PostgresURL.parse("postgres://postgres@127.0.0.1:\(standby.port)/postgres").get())
            settings.connectTimeout = .seconds(1)
            do {
                _ = try await PostgresLedgerStore.open(settings, groups: ["1"], logger: Logger(label: "standby"))
                Issue.record("a standby was taken for the primary")
            } catch {
                #expect("\(error)".contains("no writable PostgreSQL primary"), "\(error)")
                #expect("\(error)".contains("127.0.0.1:\(standby.port) is a standby (read-only)"), "\(error)")
            }
        }
    }
}

/// What the publishers of a test were told: each acknowledged content with its id, and failures.
private final class Tally: Sendable {
    let state = Mutex<(acknowledged: [String: EventID], failed: Int)>(([:], 0))
}
