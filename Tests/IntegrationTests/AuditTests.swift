import Crypto
import Foundation
import GRDB
import Ledger
import Testing
import TestSupport
import WeEvent

/// RFC 9162 §2.1.3.2 and §2.1.4.2, written here from the RFC apart from the broker's code: what
/// an auditor runs on the proofs a live broker serves.
enum RFC9162 {
    static func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: [0x01] + left + right))
    }

    static func inclusion(leaf: [UInt8], index: UInt64, size: UInt64, path: [[UInt8]], root: [UInt8]) -> Bool {
        if index >= size { return false }
        var fn = index, sn = size - 1, r = leaf
        for p in path {
            if sn == 0 { return false }
            if fn % 2 == 1 || fn == sn {
                r = node(p, r)
                if fn % 2 == 0 {
                    repeat {
                        fn /= 2
                        sn /= 2
                    } while fn % 2 == 0 && fn != 0
                }
            } else {
                r = node(r, p)
            }
            fn /= 2
            sn /= 2
        }
        return sn == 0 && r == root
    }

    static func consistency(first: UInt64, second: UInt64, path: [[UInt8]], firstRoot: [UInt8], secondRoot: [UInt8]) -> Bool {
        if first == second { return path.isEmpty && firstRoot == secondRoot }
        if first == 0 || first > second { return first == 0 && path.isEmpty }
        var path = path
        if first & (first - 1) == 0 { path.insert(firstRoot, at: 0) }
        guard !path.isEmpty else { return false }
        var fn = first - 1, sn = second - 1
        while fn % 2 == 1 {
            fn /= 2
            sn /= 2
        }
        var fr = path[0], sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn % 2 == 1 || fn == sn {
                fr = node(c, fr)
                sr = node(c, sr)
                if fn % 2 == 0 {
                    repeat {
                        fn /= 2
                        sn /= 2
                    } while fn % 2 == 0 && fn != 0
                }
            } else {
                sr = node(sr, c)
            }
            fn /= 2
            sn /= 2
        }
        return sn == 0 && fr == firstRoot && sr == secondRoot
    }
}

/// The group tree of a live broker, audited from outside: proofs checked by the verifier above
/// and by scripts/check-proof.py, checkpoints that stay consistent across restarts and the
/// instances of a cluster, and witnesses that catch a rewrite of the store.
@Suite(.serialized) struct AuditTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return out
    }

    /// A checkpoint's size and root, as an auditor reads the note.
    static func parse(_ note: String) throws -> (size: UInt64, root: [UInt8]) {
        let lines = note.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3 else { throw BrokerError("not a checkpoint: \(note.prefix(200))") }
        let size = try #require(UInt64(lines[1]), "\(note)")
        let root = try #require(Data(base64Encoded: String(lines[2])), "\(note)")
        return (size, Array(root))
    }

    static func publish(_ broker: BrokerProcess, _ count: Int, tag: String) async throws -> [String] {
        var ids: [String] = []
        for start in stride(from: 0, to: count, by: 16) {
            ids += try await withThrowingTaskGroup(of: String.self) { group in
                for i in start..<min(count, start + 16) {
                    group.addTask {
                        let reply = try await http("\(broker.baseURL)/rest/publish?topic=audit&content=\(tag)-\(i)")
                        return try #require(reply.object["eventId"] as? String, "\(reply.text)")
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(ids.count == count)
        return ids
    }

    /// Waits for a checkpoint of `size` events or more; its note.
    static func checkpoint(_ broker: BrokerProcess, atLeast size: UInt64) async throws -> String {
        var note = ""
        let reached = await eventually(within: .seconds(20)) {
            note = (try? await http("\(broker.baseURL)/rest/checkpoint"))?.text ?? ""
            return ((try? parse(note))?.size ?? 0) >= size
        }
        try #require(reached, "no checkpoint of \(size) events within 20 s; last: \(note)")
        return note
    }

    /// The proof of every `step`th event checks with the verifier above against `note`, and the
    /// consistency proof from `older` to `note` too.
    static func audit(_ broker: BrokerProcess, ids: [String], note: String, older: String?) async throws {
        let (size, root) = try parse(note)
        for id in ids {
            let proof = try await http("\(broker.baseURL)/rest/proof?eventId=\(id)&treeSize=\(size)").object
            let path = try #require(proof["inclusionProof"] as? [String]).map(bytes)
            let index = UInt64(try #require(proof["leafIndex"] as? Int))
            #expect(path.count <= 64 - (size - 1).leadingZeroBitCount, "O(log n): \(path.count) hashes for \(size) events")
            let leaf = bytes(try #require(proof["eventHash"] as? String))
            #expect(RFC9162.inclusion(leaf: leaf, index: index, size: size, path: path, root: root), "\(id) in the tree of \(size)")
            #expect(!RFC9162.inclusion(leaf: leaf, index: index, size: size, path: path, root: [root[0] ^ 1] + root.dropFirst()))
        }
        guard let older else { return }
        let (first, firstRoot) = try parse(older)
        let answer = try await http("\(broker.baseURL)/rest/consistency?from=\(first)&to=\(size)").object
        let path = try #require(answer["proof"] as? [String]).map(bytes)
        #expect(
            RFC9162.consistency(first: first, second: size, path: path, firstRoot: firstRoot, secondRoot: root),
            "the checkpoint of \(size) extends the one of \(first)")
        if first > 0, first < size {
            #expect(!RFC9162.consistency(first: first, second: size, path: path, firstRoot: [firstRoot[0] ^ 1] + firstRoot.dropFirst(), secondRoot: root))
        }
    }

    static func checkNote(_ note: String, keys: [String]) async throws -> (Int32, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("note-\(UUID().uuidString)").path
        try note.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await run("/usr/bin/env", ["python3", repositoryRoot + "/scripts/check-proof.py", "note", path] + keys)
        return (result.status, result.stdout + result.stderr)
    }

    @Test(arguments: ["sqlite", "postgresql"]) func proofsAndCheckpointsOfALiveBrokerCheckOutsideItAcrossARestart(_ store: String) async throws {
        var config = "ledger.checkpoint.interval-ms=100\nledger.block.max-events=50"
        if store == "postgresql" {
            config += "\n" + SharedLedgerTests.sharedLedger(try await PostgresServer.shared.value, schema: uniqueSchema("audit"))
        }
        let broker = try BrokerProcess(extraConfig: config)
        defer { broker.remove() }
        try await broker.start()
        let (_, vkey) = try await broker.run(["key", "show", "--config", broker.configPath])
        let key = vkey.split(separator: "\n").last.map(String.init) ?? ""
        _ = try await http("\(broker.baseURL)/rest/open?topic=audit")
        let ids = try await Self.publish(broker, 300, tag: "a")
        let first = try await Self.checkpoint(broker, atLeast: 300)
        let (status, output) = try await Self.checkNote(first, keys: [key])
        #expect(status == 0, "\(output)")
        try await Self.audit(broker, ids: Array(ids.prefix(40)), note: first, older: nil)

        broker.kill(signal: SIGTERM)
        #expect(await broker.waitForExit() == 0)
        try await broker.start()
        let later = try await Self.publish(broker, 213, tag: "b")
        let second = try await Self.checkpoint(broker, atLeast: 513)
        try await Self.audit(broker, ids: ids.suffix(10) + later.prefix(10), note: second, older: first)
        let (verified, said) = try await broker.run(["verify", "--config", broker.configPath])
        #expect(verified == 0 && said.contains("chain intact"), "\(said)")
    }

    /// Two instances of a cluster publishing to one group sign one sequence of checkpoints:
    /// every checkpoint either instance served extends every smaller one.
    @Test func theInstancesOfAClusterServeOneConsistentSequenceOfCheckpoints() async throws {
        let server = try await PostgresServer.shared.value
        let config = SharedLedgerTests.sharedLedger(server, schema: uniqueSchema("audit")) + "\nledger.checkpoint.interval-ms=50"
        let brokers = try (0..<2).map { _ in try BrokerProcess(extraConfig: config) }
        defer { for broker in brokers { broker.remove() } }
        for broker in brokers { try await broker.start() }
        _ = try await http("\(brokers[0].baseURL)/rest/open?topic=audit")
        let seen = Shared<[UInt64: String]>([:])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, broker) in brokers.enumerated() {
                group.addTask { _ = try await Self.publish(broker, 400, tag: "i\(index)") }
            }
            group.addTask {
                for round in 0..<60 {
                    let note = try await http("\(brokers[round % 2].baseURL)/rest/checkpoint").text
                    if let (size, _) = try? Self.parse(note) { seen.withLock { $0[size] = note } }
                    try await Task.sleep(for: .milliseconds(40))
                }
            }
            try await group.waitForAll()
        }
        seen.withLock { $0[800] = nil }
        let last = try await Self.checkpoint(brokers[1], atLeast: 800)
        let notes = seen.withLock { $0 }.sorted { $0.key < $1.key }.map(\.value) + [last]
        #expect(notes.count >= 3, "checkpoints seen while publishing: \(notes.count)")
        for (older, newer) in zip(notes, notes.dropFirst()) {
            try await Self.audit(brokers[0], ids: [], note: newer, older: older)
        }
    }

    /// Rewrites the embedded (format 2) ledger file of `broker` (stopped) as someone with access
    /// to it could: the content of the event at `position` changed, its hash, its block's Merkle
    /// root, every tree root and block hash from there recomputed so the chain links again, the
    /// tree's stored nodes dropped (the broker rebuilds them from the events), and every
    /// checkpoint and cosignature deleted.
    static func rewrite(_ broker: BrokerProcess, position: Int64, content: String) throws {
        let db = try DatabaseQueue(path: "\(broker.directory)/data/group-1/ledger.sqlite")
        defer { try? db.close() }
        try db.write { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT topic, seq, timestamp, extensions FROM events WHERE position = ?", arguments: [position]))
            let extensions = (try? JSONSerialization.jsonObject(with: Data((row["extensions"] as String).utf8))) as? [String: String] ?? [:]
            let hash = BlockHash.event(
                format: .v2, topic: row["topic"], sequence: UInt64(row["seq"] as Int64), timestamp: row["timestamp"], content: Array(content.utf8),
                extensions: extensions)
            try db.execute(sql: "UPDATE events SET content = ?, hash = ? WHERE position = ?", arguments: [Data(content.utf8), Data(hash), position])
            let leaves = try Data.fetchAll(db, sql: "SELECT hash FROM events ORDER BY position").map { Array($0) }
            var previous = BlockHash.zero
            for block in try Row.fetchAll(db, sql: "SELECT height, timestamp, event_count, first_position FROM blocks ORDER BY height") {
                let first: Int64 = block["first_position"], count: Int64 = block["event_count"], height: Int64 = block["height"]
                let root = BlockHash.merkleRoot(Array(leaves[Int(first - 1)..<Int(first - 1 + count)]))
                let tree = TreeHead(size: UInt64(first - 1 + count), root: MerkleTree.root(of: Array(leaves.prefix(Int(first - 1 + count)))))
                let hash = BlockHash.block(
                    height: UInt64(height), previousHash: previous, merkleRoot: root, timestamp: block["timestamp"], eventCount: UInt32(count), tree: tree)
                try db.execute(
                    sql: "UPDATE blocks SET prev_hash = ?, merkle_root = ?, hash = ?, tree_root = ? WHERE height = ?",
                    arguments: [Data(previous), Data(root), Data(hash), Data(tree.root), height])
                previous = hash
            }
            try db.execute(sql: "DELETE FROM tree_nodes; DELETE FROM cosignatures; DELETE FROM checkpoints")
        }
    }

    /// A witness cosigns checkpoints that extend each other. After the store is rewritten below
    /// a witnessed checkpoint (and the broker signs the new tree), the witness refuses the next
    /// checkpoint and says why, a proof against the witnessed checkpoint fails, and `verify`
    /// holding the witnessed checkpoint names the blocks.
    @Test func aWitnessCatchesARewriteOfTheStore() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("witness-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var witnessKeys: [String] = []
        for name in ["w1", "w2"] {
            let result = try await run(BrokerProcess.binary, ["witness", "--print-key", "--key", "\(dir)/\(name).key", "--name", name])
            #expect(result.status == 0, "\(result.stderr)")
            witnessKeys.append(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let mode = try FileManager.default.attributesOfItem(atPath: "\(dir)/w1.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let broker = try BrokerProcess(
            extraConfig: "ledger.checkpoint.interval-ms=100\nledger.block.max-events=10\nledger.witnesses=\(witnessKeys.joined(separator: ","))")
        defer { broker.remove() }
        try await broker.start()
        let brokerKey = try await broker.run(["key", "show", "--config", broker.configPath]).1.split(separator: "\n").last.map(String.init) ?? ""
        func witness(_ name: String, _ extra: [String] = []) async throws -> (Int32, String) {
            let result = try await run(
                BrokerProcess.binary,
                ["witness", "--broker", "http://127.0.0.1:\(broker.port)", "--key", "\(dir)/\(name).key", "--state", "\(dir)/\(name).json", "--once"] + extra)
            return (result.status, result.stdout + result.stderr)
        }

        _ = try await http("\(broker.baseURL)/rest/open?topic=audit")
        let ids = try await Self.publish(broker, 50, tag: "a")
        _ = try await Self.checkpoint(broker, atLeast: 50)
        for name in ["w1", "w2"] {
            let (status, output) = try await witness(name, ["--broker-key", brokerKey])
            #expect(status == 0 && output.contains("cosigned tree size 50"), "\(output)")
        }
        let witnessed = try await http("\(broker.baseURL)/rest/checkpoint?treeSize=50").text
        let (noteStatus, noteOutput) = try await Self.checkNote(witnessed, keys: [brokerKey] + witnessKeys)
        #expect(noteStatus == 0 && noteOutput.contains("w1") && noteOutput.contains("w2"), "\(noteOutput)")
        let witnessedFile = "\(dir)/witnessed.txt"
        try witnessed.write(toFile: witnessedFile, atomically: true, encoding: .utf8)
        // A later checkpoint extends the witnessed one: accepted.
        _ = try await Self.publish(broker, 20, tag: "b")
        _ = try await Self.checkpoint(broker, atLeast: 70)
        let (grown, grownOutput) = try await witness("w1")
        #expect(grown == 0 && grownOutput.contains("accepted weevent.localhost/1 tree size 70"), "\(grownOutput)")

        // The rewrite, below the witnessed checkpoint.
        broker.kill(signal: SIGTERM)
        #expect(await broker.waitForExit() == 0)
        try Self.rewrite(broker, position: 12, content: "forged")
        try await broker.start()
        let twelfth = try #require(ids.first { EventID($0)?.sequence == 12 })
        let served = try await http("\(broker.baseURL)/rest/getEvent?eventId=\(twelfth)").object["content"] as? String
        #expect(served == Data("forged".utf8).base64EncodedString(), "the broker serves the rewritten event")
        _ = try await Self.publish(broker, 5, tag: "c")
        _ = try await Self.checkpoint(broker, atLeast: 75)

        let (refused, said) = try await witness("w1")
        #expect(refused == 1, "\(said)")
        #expect(said.contains("REFUSED") && said.contains("events below it were changed"), "\(said)")
        #expect(
            said.contains("last accepted checkpoint:\nweevent.localhost/1\n70\n") && said.contains("offered checkpoint:\nweevent.localhost/1\n75\n"), "\(said)")
        let (stillRefused, _) = try await witness("w2")
        #expect(stillRefused == 1, "w2 holds the checkpoint of 50 and refuses too")

        // The witnessed checkpoint does not hold the event as the broker now serves it.
        let proof = try await http("\(broker.baseURL)/rest/proof?eventId=\(ids[0])&treeSize=50").text
        let proofFile = "\(dir)/proof.json"
        try proof.write(toFile: proofFile, atomically: true, encoding: .utf8)
        let check = try await run(
            "/usr/bin/env", ["python3", repositoryRoot + "/scripts/check-proof.py", proofFile, "--checkpoint", witnessedFile, "--vkey", brokerKey])
        #expect(check.status == 1 && check.stdout.contains("the checkpoint given is of tree size 50 root"), "\(check.stdout)")

        broker.kill(signal: SIGTERM)
        #expect(await broker.waitForExit() == 0)
        let (verified, report) = try await broker.run(["verify", "--config", broker.configPath, "--checkpoint", witnessedFile])
        #expect(verified == 1, "\(report)")
        #expect(report.contains("block 1 does not match: blocks 1..."), "\(report)")
        #expect(report.contains("do not give the root of the checkpoint held of tree size 50"), "\(report)")
        let (plain, _) = try await broker.run(["verify", "--config", broker.configPath])
        #expect(plain == 0, "without the witnessed checkpoint the rewritten chain is consistent in itself")
    }

    /// A format 1 ledger written before format 2 (Tests/Fixtures/ledger-v1) served by today's
    /// broker: both proof forms check with scripts/check-proof.py under its own rules, its old
    /// checkpoints verify, and the checkpoints signed as it grows extend them.
    @Test func aFormat1LedgerIsServedAndProvedByItsOwnRules() async throws {
        let broker = try BrokerProcess(extraConfig: "ledger.origin=fixture.example\nledger.checkpoint.interval-ms=100")
        defer { broker.remove() }
        let fixture = repositoryRoot + "/Tests/Fixtures/ledger-v1"
        try FileManager.default.createDirectory(atPath: broker.directory + "/data", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture + "/group-1", toPath: broker.directory + "/data/group-1")
        try FileManager.default.copyItem(atPath: fixture + "/signing.key", toPath: broker.directory + "/data/signing.key")
        try await broker.start()
        let key = try await broker.run(["key", "show", "--config", broker.configPath]).1.split(separator: "\n").last.map(String.init) ?? ""
        let id = EventID(topic: "v1.a", sequence: 10, blockHeight: 1).topicHash
        let page = try await http("\(broker.baseURL)/rest/events?topic=v1.a&limit=20").object
        let events = try #require(page["events"] as? [[String: Any]])
        let eventID = try #require(events.compactMap { $0["eventId"] as? String }.first { $0.hasPrefix("\(id)-10-") })

        let dir = broker.directory
        for (form, arguments) in [("", ["--vkey", key]), ("&form=chain", [])] {
            let proof = try await http("\(broker.baseURL)/rest/proof?eventId=\(eventID)\(form)")
            #expect(proof.object["format"] as? Int == 1, "\(proof.text)")
            try proof.text.write(toFile: dir + "/proof.json", atomically: true, encoding: .utf8)
            let check = try await run("/usr/bin/env", ["python3", repositoryRoot + "/scripts/check-proof.py", dir + "/proof.json"] + arguments)
            #expect(check.status == 0, "\(form): \(check.stdout)")
        }
        let old = try await http("\(broker.baseURL)/rest/checkpoint?treeSize=300").text
        #expect(old.contains("eOMz6a1CluGGFpWu4tCr8SQYBX4+omlwQTQ8JDxAf0k="))
        _ = try await http("\(broker.baseURL)/rest/open?topic=audit")
        _ = try await Self.publish(broker, 12, tag: "later")
        let newer = try await Self.checkpoint(broker, atLeast: 312)
        try await Self.audit(broker, ids: [eventID], note: newer, older: old)
        broker.kill(signal: SIGTERM)
        #expect(await broker.waitForExit() == 0)
        let (status, output) = try await broker.run(["verify", "--config", broker.configPath])
        #expect(status == 0 && output.contains("312 events"), "\(output)")
    }
}
