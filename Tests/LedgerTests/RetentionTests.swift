import Foundation
import GRDB
import Testing
import TestSupport
import WeEvent
@testable import Ledger

/// Retention on every store: the pruner removes the content of what its policy lets go (by
/// age, by bytes, per topic pattern) and nothing else; pruned events keep their id, hash and
/// reserved extensions; `verify`, both proof forms and signed checkpoints still hold; an
/// erasure removes one event's content from the store itself.
@Suite(.timeLimit(.minutes(6))) struct RetentionTests {
    static let key = CheckpointKey(origin: "audit.example", seed: Array(repeating: 7, count: 32))

    /// Publishes `count` events on `topic` with a user extension and the broker's publisher.
    static func publish(_ count: Int, on ledger: any EventLedger, topic: String, tag: String) async throws -> [EventID] {
        if try await !ledger.exists(topic: topic) { _ = try await ledger.open(topic: topic) }
        let events = (0..<count).map {
            NewEvent(topic: topic, content: Array("\(tag)-\($0)".utf8), extensions: ["weevent-note": "private \($0)", "weevent-publisher": "alice"])
        }
        return try await ledger.publish(events).map { try $0.get() }
    }

    /// The event's inclusion proof leads from its hash (the pruned event's own `eventHash`) to the tree's root.
    static func expectProvable(_ ledger: any EventLedger, _ id: EventID) async throws {
        let proof = try await ledger.treeProof(of: id, treeSize: nil)
        #expect(
            MerkleTree.verifyInclusion(leaf: proof.leafHash, index: proof.leafIndex, size: proof.treeSize, proof: proof.inclusionProof, root: proof.rootHash))
        let chain = try await ledger.proof(of: id, through: try await ledger.chainInfo().blockHeight)
        #expect(BlockHash.root(leaf: chain.eventHash, path: chain.path) == chain.block.merkleRoot)
        if let pruned = proof.event.pruned {
            #expect(pruned.eventHash == proof.leafHash && chain.event.pruned?.eventHash == chain.eventHash)
        } else {
            let event = proof.event
            #expect(
                BlockHash.event(
                    format: .v2, topic: event.topic, sequence: event.id.sequence, timestamp: event.timestamp, content: event.content,
                    extensions: event.extensions) == proof.leafHash)
        }
    }

    @Test(arguments: Store.allCases) func oldContentGoesNewStaysAndEveryProofHolds(_ store: Store) async throws {
        try await withLedger(store, maxEvents: 7) { ledger, _ in
            let signer = Self.key.signer(group: "1")
            let old = try await Self.publish(30, on: ledger, topic: "sensors/a", tag: "old")
            let kept = try await Self.publish(5, on: ledger, topic: "audit/log", tag: "kept")
            let system = try await Self.publish(3, on: ledger, topic: "$weevent/audit", tag: "sys")
            _ = try await ledger.signCheckpoint(with: signer)
            try await Task.sleep(for: .milliseconds(30))
            let cutoff = Int64(Date().timeIntervalSince1970 * 1000)
            try await Task.sleep(for: .milliseconds(30))
            let new = try await Self.publish(10, on: ledger, topic: "sensors/a", tag: "new")

            let pruner = Pruner(ledger: ledger)
            let policy = RetentionPolicy(maxAge: 60_000, rules: [.init(pattern: "audit/#", maxAge: nil)])
            let report = try await pruner.pass(policy, now: cutoff + 60_000)
            #expect(report.byAge.events == 30, "\(store): \(report)")
            #expect(report.byAge.bytes > 30 * 20)

            for id in old {
                let event = try await ledger.event(id: id)
                #expect(event.content.isEmpty && event.pruned?.reason == .retention && event.pruned?.time == cutoff + 60_000)
                #expect(event.extensions == ["weevent-publisher": "alice"], "the publisher's own extension goes, the broker's stays")
            }
            for id in kept + system + new {
                let event = try await ledger.event(id: id)
                #expect(event.pruned == nil && !event.content.isEmpty && event.extensions["weevent-note"] != nil)
            }
            // Reading in order marks the pruned events, with their hash.
            let range = try await ledger.events(after: 0, through: nil, matching: .all, limit: 100)
            #expect(range.events.count == 48)
            #expect(range.events.filter { $0.event.pruned != nil }.map(\.event.id) == old)
            #expect(range.events.compactMap(\.event.pruned).allSatisfy { $0.eventHash.count == 32 })

            let verified = try await ledger.verify(checkpointKey: Self.key.verifier(group: "1"))
            #expect(verified.isIntact && verified.eventsPruned == 30 && verified.checkpointsChecked == 1, "\(store): \(verified)")
            for id in [old[0], old[29], kept[0], new[9]] { try await Self.expectProvable(ledger, id) }
            #expect(try await ledger.signCheckpoint(with: signer) != nil, "the tree goes on from the checkpoint signed before pruning")

            // A second pass at the same time prunes nothing more; a later one takes what aged since.
            #expect(try await pruner.pass(policy, now: cutoff + 60_000).total.events == 0)
            #expect(try await pruner.pass(policy, now: Int64(Date().timeIntervalSince1970 * 1000) + 61_000).byAge.events == 10)
            #expect(try await ledger.event(id: kept[4]).pruned == nil)
            #expect(try await ledger.event(id: system[0]).pruned == nil)
        }
    }

    @Test(arguments: Store.allCases) func theByteBudgetKeepsTheNewestEventsThatFit(_ store: Store) async throws {
        try await withLedger(store, maxEvents: 9) { ledger, _ in
            let ids = try await Self.publish(100, on: ledger, topic: "t", tag: String(repeating: "x", count: 80))
            let sizes = try await ledger.retainedSizes(topics: ["t"], after: 0, through: 100, limit: 1000)
            #expect(sizes.count == 100)
            let budget: UInt64 = 2500
            let report = try await Pruner(ledger: ledger).pass(RetentionPolicy(maxBytes: budget), now: 0)
            // The newest events whose bytes fit the budget keep their content; every older one lost it.
            var fit = 0
            var total: UInt64 = 0
            for size in sizes.reversed() where total + size.bytes <= budget && fit == 100 - Int(size.position) {
                total += size.bytes
                fit += 1
            }
            #expect(report.byBytes.events == UInt64(100 - fit), "\(store): \(report) \(sizes.map(\.bytes))")
            #expect(try await ledger.retainedBytes(topics: ["t"], after: 0, through: 100) == total)
            #expect(try await ledger.event(id: ids[99 - fit]).pruned != nil)
            #expect(try await ledger.event(id: ids[100 - fit]).pruned == nil)
            let verified = try await ledger.verify()
            #expect(verified.isIntact, "\(store): \(verified)")
        }
    }

    @Test(arguments: Store.allCases) func anErasedEventsContentIsGoneFromTheStore(_ store: Store) async throws {
        try await withLedger(store, maxEvents: 4) { ledger, place in
            _ = try await ledger.open(topic: "people")
            let marker = "personal-data-\(UUID().uuidString)"
            var ids: [EventID] = []
            for index in 0..<6 {
                let content = index == 2 ? marker : "other \(index)"
                let extensions = index == 2 ? ["weevent-name": marker] : [:]
                ids.append(try await ledger.publish(NewEvent(topic: "people", content: Array(content.utf8), extensions: extensions)))
            }
            let erased = try await ledger.erase(id: ids[2], at: 42)
            #expect(erased.content.isEmpty && erased.extensions.isEmpty && erased.pruned?.reason == .erased && erased.pruned?.time == 42)
            #expect(try await ledger.event(id: ids[3]).content == Array("other 3".utf8))
            try await Self.expectProvable(ledger, ids[2])
            let report = try await ledger.verify()
            #expect(report.isIntact && report.eventsPruned == 1, "\(report)")
            // Erasing again answers the event as it is.
            #expect(try await ledger.erase(id: ids[2], at: 99).pruned?.time == 42)
            switch store {
            case .sqlite:
                // Not in the file nor in its write-ahead log.
                for file in ["ledger.sqlite", "ledger.sqlite-wal"] {
                    let bytes = (try? Data(contentsOf: URL(fileURLWithPath: "\(place.location)/\(file)"))) ?? Data()
                    #expect(bytes.range(of: Data(marker.utf8)) == nil, "\(file) still holds the erased content")
                }
                let queue = try DatabaseQueue(path: place.location + "/ledger.sqlite")
                let row = try await queue.read { db in try Row.fetchOne(db, sql: "SELECT length(content) AS n, extensions FROM events WHERE position = 3") }
                #expect(row?["n"] == 0 && row?["extensions"] == "{}")
                try queue.close()
            case .postgresql:
                let server = try await PostgresServer.shared.value
                let row = try await server.psql(
                    "SELECT octet_length(content), extensions, pruned_reason FROM events WHERE position = 3", schema: place.location)
                #expect(row.trimmingCharacters(in: .whitespacesAndNewlines) == "0|{}|2")
                let found = try await server.psql(
                    "SELECT count(*) FROM events WHERE position(\(Self.quoted(marker))::bytea in content) > 0 OR extensions LIKE '%\(marker)%'",
                    schema: place.location)
                #expect(found.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
            case .memory:
                break
            }
        }
    }

    /// The embedded store gives the space of pruned content back: a new file uses incremental
    /// auto-vacuum, and a pass's pages leave the file.
    @Test func prunedContentLeavesTheSQLiteFile() async throws {
        try await withLedger(.sqlite, maxEvents: 50) { ledger, place in
            _ = try await ledger.open(topic: "big")
            let content = Array(repeating: UInt8(ascii: "x"), count: 2000)
            for _ in 0..<10 { _ = try await ledger.publish((0..<100).map { _ in NewEvent(topic: "big", content: content) }) }
            func pages() throws -> (count: Int, vacuum: Int) {
                let queue = try DatabaseQueue(path: place.location + "/ledger.sqlite")
                defer { try? queue.close() }
                return try queue.read { db in
                    (try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0, try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") ?? 0)
                }
            }
            let before = try pages()
            #expect(before.vacuum == 2, "a new ledger file uses incremental auto-vacuum")
            let report = try await Pruner(ledger: ledger).pass(RetentionPolicy(maxBytes: 0), now: 1)
            #expect(report.byBytes.events == 1000 && report.reclaimed > 0, "\(report)")
            let after = try pages()
            #expect(after.count * 4 < before.count, "pages: \(before.count) before, \(after.count) after")
            #expect(try await ledger.verify().isIntact)
        }
    }

    /// `weevent ledger copy` keeps what was pruned and erased: the copy verifies and says so.
    @Test func aCopyKeepsPrunedEventsPruned() async throws {
        try await withKeptLocation(.sqlite) { directory in
            let ids = try await withLedger(.sqlite, maxEvents: 5, keep: directory) { ledger, _ in
                let ids = try await Self.publish(12, on: ledger, topic: "t", tag: "copy")
                _ = try await ledger.prune(topics: ["t"], after: 0, through: 4, reason: .retention, at: 1000)
                _ = try await ledger.erase(id: ids[7], at: 2000)
                return ids
            }
            let source = try GroupLedger.openSQLite(groupID: "1", directory: directory)
            try await withLedger(.postgresql) { destination, _ in
                let report = try await LedgerCopy.copy(from: source, to: try #require(destination as? GroupLedger))
                #expect(report.eventsCopied == 12)
                let verified = try await destination.verify()
                #expect(verified.isIntact && verified.eventsPruned == 5, "\(verified)")
                #expect(
                    try await destination.event(id: ids[3]).pruned
                        == Pruning(time: 1000, reason: .retention, eventHash: try await destination.treeProof(of: ids[3], treeSize: nil).leafHash))
                #expect(try await destination.event(id: ids[7]).pruned?.reason == .erased)
                #expect(try await destination.event(id: ids[8]).content == Array("copy-8".utf8))
            }
            await source.shutdown()
        }
    }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    @Test func aFormatOneLedgerIsNeverPruned() async throws {
        let store = MemoryLedgerStore()
        store.groups.withLock {
            $0["1"] = {
                var rows = MemoryRows(); rows.format = .v1; return rows
            }()
        }
        let ledger = GroupLedger.inMemory(groupID: "1", store: store)
        let set = LedgerSet(groups: ["1"], ledgers: ["1": ledger])
        try await set.withRunning(logger: .init(label: "test")) {
            let ids = try await Self.publish(3, on: ledger, topic: "t", tag: "v1")
            #expect(try await Pruner(ledger: ledger).pass(RetentionPolicy(maxAge: 1), now: Int64.max).total.events == 0)
            await #expect(throws: WeEventError(.contentNotPrunable, detail: "group 1 is a format 1 ledger")) {
                _ = try await ledger.erase(id: ids[0], at: 1)
            }
            let event = try await ledger.event(id: ids[0])
            #expect(event.pruned == nil)
        }
    }

    @Test func policiesTreatTopicsByTheirFirstMatchingRule() {
        let policy = RetentionPolicy(
            maxAge: 1000, rules: [.init(pattern: "a/keep", maxAge: nil), .init(pattern: "a/#", maxAge: 5), .init(pattern: "$weevent/x", maxAge: 7)])
        #expect(policy.treatment(of: "a/keep") == .kept)
        #expect(policy.treatment(of: "a/b") == .pruned(maxAge: 5))
        #expect(policy.treatment(of: "b") == .pruned(maxAge: 1000))
        #expect(policy.treatment(of: "$weevent/audit") == .kept)
        #expect(policy.treatment(of: "$weevent/x") == .pruned(maxAge: 7))
        #expect(RetentionPolicy.milliseconds("2m") == 120_000 && RetentionPolicy.milliseconds("7d") == 604_800_000)
        #expect(RetentionPolicy.milliseconds("500ms") == 500 && RetentionPolicy.milliseconds("90") == nil && RetentionPolicy.milliseconds("-1s") == nil)
        #expect(RetentionPolicy.milliseconds("99999999999999d") == nil)
        #expect(RetentionPolicy.bytes("10MiB") == 10 << 20 && RetentionPolicy.bytes("5GB") == 5_000_000_000 && RetentionPolicy.bytes("123") == 123)
        #expect(RetentionPolicy.bytes("1x") == nil && RetentionPolicy.bytes("99999999999TiB") == nil)
        #expect(RetentionPolicy.describe(milliseconds: 120_000) == "2m" && RetentionPolicy.describe(milliseconds: 1500) == "1500ms")
    }
}
