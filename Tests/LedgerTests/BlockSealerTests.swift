import Testing
import WeEvent
@testable import Ledger

/// The sealer alone: no store, a fixed timestamp, heads made by hand.
@Suite struct BlockSealerTests {
    static let now: Int64 = 1_700_000_000_123

    static func topic(_ name: String, sequence: UInt64 = 0, lastBlock: UInt64 = 0, isOpen: Bool = true, order: Int = 0) -> TopicRecord {
        TopicRecord(
            created: 1, sequence: sequence, lastBlock: lastBlock, lastTimestamp: 1, isOpen: isOpen, order: order,
            idPrefix: EventID.topicHash(name)
        )
    }

    static func sealer(
        height: UInt64 = 0, lastHash: [UInt8] = BlockHash.zero, eventCount: UInt64 = 0,
        topics: [String: TopicRecord] = [:], maxEvents: Int = 1000
    ) -> BlockSealer {
        let head = ChainHead(height: height, lastHash: lastHash, eventCount: eventCount, topics: topics, nextOrder: topics.count)
        return BlockSealer(head: head, timestamp: now, maxEvents: maxEvents, groupID: "7")
    }

    static func event(_ topic: String, _ byte: UInt8 = 0, extensions: [String: String] = [:]) -> NewEvent {
        NewEvent(topic: topic, content: [byte], extensions: extensions)
    }

    static func code(_ result: Result<EventID, WeEventError>) -> Int? {
        if case .failure(let error) = result { return error.code.rawValue }
        return nil
    }

    @Test func idsCarryPerTopicSequencesAndTheBlockHeight() throws {
        var sealer = Self.sealer(height: 4, topics: ["a": Self.topic("a", sequence: 9, lastBlock: 4)])
        sealer.open(topic: "b")
        let ids = try [Self.event("a"), Self.event("b"), Self.event("a")].map { try sealer.append($0).get() }
        let sealed = sealer.finish()

        #expect(
            ids.map(\.description) == [
                "\(EventID.topicHash("a"))-10-5", "\(EventID.topicHash("b"))-1-5", "\(EventID.topicHash("a"))-11-5",
            ])
        #expect(sealed.blocks.count == 1)
        #expect(sealed.blocks[0].events.map(\.topic) == ["a", "b", "a"])
        #expect(sealed.blocks[0].events.map(\.sequence) == [10, 1, 11])
        let a = try #require(sealed.topics["a"])
        #expect((a.sequence, a.lastBlock, a.lastTimestamp) == (11, 5, Self.now))
        let b = try #require(sealed.topics["b"])
        #expect((b.sequence, b.lastBlock, b.created, b.isOpen) == (1, 5, Self.now, true))
    }

    @Test func aBlockIsSealedEveryMaxEventsAndChainsToTheHead() throws {
        let headHash = BlockHash.node(BlockHash.zero, BlockHash.zero)
        var sealer = Self.sealer(height: 10, lastHash: headHash, topics: ["t": Self.topic("t")], maxEvents: 3)
        let ids = try (1...7).map { try sealer.append(Self.event("t", UInt8($0))).get() }
        let blocks = sealer.finish().blocks

        #expect(ids.map(\.blockHeight) == [11, 11, 11, 12, 12, 12, 13])
        #expect(blocks.map(\.header.height) == [11, 12, 13])
        #expect(blocks.map(\.header.eventCount) == [3, 3, 1])
        #expect(blocks.map { $0.events.map(\.content) } == [[[1], [2], [3]], [[4], [5], [6]], [[7]]])
        #expect(blocks.map(\.header.previousHash) == [headHash, blocks[0].header.hash, blocks[1].header.hash])
        for block in blocks {
            let header = block.header
            #expect(header.timestamp == Self.now)
            #expect(
                header.hash
                    == BlockHash.block(
                        height: header.height, previousHash: header.previousHash, merkleRoot: header.merkleRoot,
                        timestamp: Self.now, eventCount: header.eventCount, tree: header.tree
                    ))
            #expect(header.tree != nil, "format 2 headers commit to the tree")
        }
    }

    @Test func theMerkleRootIsOverTheEventHashesInOrder() throws {
        var sealer = Self.sealer(topics: ["a": Self.topic("a"), "b": Self.topic("b")])
        _ = try sealer.append(Self.event("a", 1, extensions: ["weevent-x": "y"])).get()
        _ = try sealer.append(Self.event("b", 2)).get()
        _ = try sealer.append(Self.event("a", 3)).get()
        let block = try #require(sealer.finish().blocks.first)

        #expect(
            block.events.map(\.hash) == [
                BlockHash.event(format: .v2, topic: "a", sequence: 1, timestamp: Self.now, content: [1], extensions: ["weevent-x": "y"]),
                BlockHash.event(format: .v2, topic: "b", sequence: 1, timestamp: Self.now, content: [2], extensions: [:]),
                BlockHash.event(format: .v2, topic: "a", sequence: 2, timestamp: Self.now, content: [3], extensions: [:]),
            ])
        #expect(block.header.merkleRoot == BlockHash.merkleRoot(block.events.map(\.hash)))
        #expect(block.events.map(\.extensions) == [["weevent-x": "y"], [:], [:]])
    }

    @Test func publishingToAClosedOrUnknownTopicIs100101AndUsesNoSequence() throws {
        var sealer = Self.sealer(topics: ["closed": Self.topic("closed", sequence: 5, isOpen: false), "t": Self.topic("t")])
        let never = sealer.append(Self.event("never"))
        #expect(Self.code(never) == 100101)
        if case .failure(let error) = never { #expect(error.detail == "topic never in group 7") }
        #expect(Self.code(sealer.append(Self.event("closed"))) == 100101)
        #expect(try sealer.append(Self.event("t")).get().sequence == 1)
        sealer.open(topic: "closed")
        #expect(try sealer.append(Self.event("closed")).get().sequence == 6)
        let sealed = sealer.finish()

        #expect(sealed.blocks.flatMap(\.events).map(\.topic) == ["t", "closed"])
        #expect(sealed.topics["never"] == nil)
        #expect(sealed.topics["closed"]?.sequence == 6)
    }

    @Test func closingATopicThatIsNotOpenIs100101() {
        var sealer = Self.sealer(topics: ["closed": Self.topic("closed", isOpen: false)])
        for topic in ["closed", "never"] {
            guard case .failure(let error) = sealer.close(topic: topic) else {
                Issue.record("closing \(topic) succeeded")
                continue
            }
            #expect(error.code == .topicNotExist)
        }
        #expect(sealer.finish().isEmpty)
    }

    @Test func opensAndClosesInOneBatchApplyInOrder() throws {
        var sealer = Self.sealer(topics: ["old": Self.topic("old", order: 0)])
        sealer.open(topic: "t")
        #expect(try sealer.append(Self.event("t")).get().sequence == 1)
        #expect((try? sealer.close(topic: "t").get()) != nil)
        #expect(Self.code(sealer.append(Self.event("t"))) == 100101)
        #expect(Self.code(sealer.append(Self.event("t"))) == 100101)
        #expect((try? sealer.close(topic: "t").get()) == nil)
        sealer.open(topic: "t")
        #expect(try sealer.append(Self.event("t")).get().sequence == 2)
        sealer.open(topic: "u")
        let sealed = sealer.finish()

        #expect(sealed.blocks.flatMap(\.events).map(\.sequence) == [1, 2])
        let t = try #require(sealed.topics["t"])
        #expect((t.isOpen, t.sequence) == (true, 2))
        // Creation order follows the head's topics; reopening keeps a topic's place.
        #expect((t.order, sealed.topics["u"]?.order) == (1, 2))
    }

    @Test func openingAnOpenTopicChangesNothing() {
        var sealer = Self.sealer(topics: ["t": Self.topic("t", sequence: 3)])
        sealer.open(topic: "t")
        #expect(sealer.finish().isEmpty)
    }

    @Test(arguments: [(1, [42, 43, 44, 45, 46]), (2, [42, 44, 46]), (5, [42])])
    func firstPositionsContinueFromTheHead(maxEvents: Int, firstPositions: [UInt64]) throws {
        var sealer = Self.sealer(height: 5, eventCount: 41, topics: ["t": Self.topic("t")], maxEvents: maxEvents)
        for i in 0..<5 { _ = try sealer.append(Self.event("t", UInt8(i))).get() }
        let blocks = sealer.finish().blocks
        #expect(blocks.map(\.firstPosition) == firstPositions)
        #expect(blocks.last?.lastPosition == 46)
        #expect(blocks.first?.header.height == 6)
    }
}
