import Foundation
import GRDB
import Logging
import Testing
import TestSupport
import WeEvent
@testable import Ledger

/// Ledger formats: new ledgers are format 2 on every store (event hashes over the content's
/// digest, headers committing to the group tree); a format 1 ledger written by the broker
/// before format 2 (Tests/Fixtures/ledger-v1) keeps verifying, proving and growing by its
/// own rules, on SQLite and once copied to PostgreSQL.
@Suite(.timeLimit(.minutes(6))) struct LedgerFormatTests {
    /// A copy of the format 1 fixture: its ledger directory and its signing key.
    static func fixture() throws -> (directory: String, key: CheckpointKey) {
        let source = repositoryRoot + "/Tests/Fixtures/ledger-v1"
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-v1-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: source, toPath: copy)
        let key = try CheckpointKey.loadOrCreate(path: copy + "/signing.key", origin: "fixture.example").key
        return (copy, key)
    }

    static let lastBlockHash = "0f2b8f57f6a3c857685d2d74df89f36fa62d61381d8bbaf9ab8357d721e6c493"
    static let lastRoot = "eOMz6a1CluGGFpWu4tCr8SQYBX4+omlwQTQ8JDxAf0k="

    @Test(arguments: Store.allCases) func newLedgersAreFormat2AndTheirHeadersCommitToTheTree(_ store: Store) async throws {
        try await withLedger(store, maxEvents: 5) { ledger, subject in
            let group = try #require(ledger as? GroupLedger)
            #expect(group.format == .v2)
            _ = try await ledger.open(topic: "t")
            let results = try await ledger.publish((0..<23).map { NewEvent(topic: "t", content: Array("e\($0)".utf8)) })
            let ids = results.compactMap { try? $0.get() }
            #expect(ids.count == 23)
            let blocks = try await group.driver.blocks(from: 1, limit: 100)
            let leaves = try await group.driver.storedEvents(from: 1, to: 24).map(\.hash)
            for block in blocks {
                let size = block.firstPosition + block.eventCount - 1
                #expect(block.header.tree == TreeHead(size: size, root: MerkleTree.root(of: Array(leaves.prefix(Int(size))))), "\(store)")
            }
            // The event hash covers the content's digest.
            let event = try await ledger.event(id: ids[3])
            let stored = try await group.driver.storedEvents(from: 4, to: 5)[0]
            #expect(
                stored.hash
                    == BlockHash.event(
                        topic: "t", sequence: event.id.sequence, timestamp: event.timestamp, contentDigest: BlockHash.contentDigest(event.content),
                        extensions: [:]))
            #expect(try await ledger.verify().isIntact)
            let proof = try await ledger.proof(of: ids[7], through: blocks.last!.height)
            #expect(proof.block.tree != nil && proof.block.format == .v2)
            // A header whose tree root is changed no longer verifies, naming its block.
            try await subject.tamper(
                sqlite: "UPDATE blocks SET tree_root = zeroblob(32) WHERE height = 3",
                postgresql: "UPDATE blocks SET tree_root = decode(repeat('00', 32), 'hex') WHERE height = 3",
                memory: { $0.blocks[2].treeRoot = Array(repeating: 0, count: 32) })
            let report = try await ledger.verify()
            #expect(report.firstBadBlock == 3 && report.problem?.contains("tree root") == true, "\(report)")
        }
    }

    @Test func aFormat1LedgerKeepsVerifyingProvingAndGrowingByItsRules() async throws {
        let (directory, key) = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = try GroupLedger.openSQLite(groupID: "1", directory: directory + "/group-1", blockMaxEvents: 7)
        let ledgers = LedgerSet(groups: ["1"], ledgers: ["1": ledger])
        try await ledgers.withRunning(logger: Logger(label: "test")) {
            #expect(ledger.format == .v1)
            let info = try await ledger.chainInfo()
            #expect(info.eventCount == 300 && info.blockHeight == 285 && info.lastBlockHash == Self.lastBlockHash)
            let report = try await ledger.verify(checkpointKey: key.verifier(group: "1"))
            #expect(report.isIntact && report.checkpointsChecked >= 5, "\(report)")

            // Proofs: the chain form, and the tree form to the fixture's last checkpoint.
            let latest = try #require(try await ledger.checkpoint(size: nil))
            #expect(latest.size == 300 && latest.note.contains(Self.lastRoot))
            let page = try await ledger.events(after: 0, through: nil, matching: .all, limit: 300)
            let sample = page.events[17]
            let tree = try await ledger.treeProof(of: sample.event.id, treeSize: nil)
            #expect(tree.format == .v1 && tree.treeSize == 300)
            let v1Hash = BlockHash.event(
                topic: sample.event.topic, sequence: sample.event.id.sequence, timestamp: sample.event.timestamp, content: sample.event.content,
                extensions: sample.event.extensions)
            #expect(tree.leafHash == v1Hash)
            #expect(Data(tree.rootHash).base64EncodedString() == Self.lastRoot)
            #expect(MerkleTree.verifyInclusion(leaf: v1Hash, index: tree.leafIndex, size: 300, proof: tree.inclusionProof, root: tree.rootHash))
            let chain = try await ledger.proof(of: sample.event.id, through: 285)
            #expect(chain.block.format == .v1 && chain.head.hash == Self.bytes(Self.lastBlockHash))

            // It grows by format 1 rules: new blocks have no tree root, new checkpoints extend the old.
            _ = try await ledger.publish((0..<20).map { NewEvent(topic: "v1.b", content: Array("later-\($0)".utf8)) })
            let newBlocks = try await ledger.driver.blocks(from: 286, limit: 100)
            #expect(!newBlocks.isEmpty && newBlocks.allSatisfy { $0.treeRoot == nil })
            _ = try await ledger.signCheckpoint(with: key.signer(group: "1"))
            let grown = try await ledger.verify(checkpointKey: key.verifier(group: "1"))
            #expect(grown.isIntact && grown.eventsChecked == 320, "\(grown)")
        }
    }

    /// `weevent ledger copy` keeps the format: the fixture copied to PostgreSQL is a format 1
    /// chain there, verifies, and grows by format 1 rules.
    @Test func aCopyKeepsTheFormat() async throws {
        let (directory, _) = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = try GroupLedger.openSQLite(groupID: "1", directory: directory + "/group-1")
        try await withKeptLocation(.postgresql) { schema in
            try await withLedger(.postgresql, keep: schema) { destination, _ in
                let report = try await LedgerCopy.copy(from: source, to: try #require(destination as? GroupLedger))
                #expect(report.eventsCopied == 300)
            }
            try await withLedger(.postgresql, keep: schema) { copied, _ in
                let group = try #require(copied as? GroupLedger)
                #expect(group.format == .v1)
                #expect(try await copied.verify().isIntact)
                _ = try await copied.publish(NewEvent(topic: "v1.a", content: Array("after the copy".utf8)))
                let last = try #require(try await group.driver.blocks(from: 286, limit: 1).first)
                #expect(last.treeRoot == nil)
                #expect(try await copied.verify().isIntact)
            }
        }
        await source.shutdown()
    }

    static func bytes(_ hex: String) -> [UInt8] {
        stride(from: 0, to: hex.count, by: 2).map { i in
            let start = hex.index(hex.startIndex, offsetBy: i)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
    }
}
