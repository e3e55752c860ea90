import Crypto
import Testing
import WeEvent
@testable import Ledger

@Suite struct BlockHashTests {
    func leaf(_ n: Int) -> [UInt8] { Array(SHA256.hash(data: [UInt8(n & 0xff), UInt8(n >> 8)])) }

    @Test func rootOfOneLeafIsTheLeaf() {
        #expect(BlockHash.merkleRoot([leaf(1)]) == leaf(1))
    }

    @Test func rootOfNoLeavesIsZero() {
        #expect(BlockHash.merkleRoot([]) == BlockHash.zero)
    }

    @Test func rootOfTwoAndThreeLeavesByHand() {
        let (a, b, c) = (leaf(1), leaf(2), leaf(3))
        let ab = Array(SHA256.hash(data: [0x01] + a + b))
        #expect(BlockHash.merkleRoot([a, b]) == ab)
        // The odd third leaf moves up unchanged, then pairs with (a,b).
        #expect(BlockHash.merkleRoot([a, b, c]) == Array(SHA256.hash(data: [0x01] + ab + c)))
    }

    @Test func orderMatters() {
        #expect(BlockHash.merkleRoot([leaf(1), leaf(2)]) != BlockHash.merkleRoot([leaf(2), leaf(1)]))
    }

    @Test(arguments: Array(1...17))
    func everyPathLeadsToTheRoot(count: Int) {
        let leaves = (0..<count).map(leaf)
        let root = BlockHash.merkleRoot(leaves)
        for index in 0..<count {
            let path = BlockHash.merklePath(leaves, index: index)
            #expect(BlockHash.root(leaf: leaves[index], path: path) == root)
            // The path of one leaf does not prove another.
            if count > 1 {
                #expect(BlockHash.root(leaf: leaves[(index + 1) % count], path: path) != root)
            }
        }
    }

    @Test func eventHashCoversEveryField() {
        let base = BlockHash.event(topic: "t", sequence: 1, timestamp: 5, content: [1, 2], extensions: ["weevent-a": "b"])
        #expect(base == BlockHash.event(topic: "t", sequence: 1, timestamp: 5, content: [1, 2], extensions: ["weevent-a": "b"]))
        #expect(base != BlockHash.event(topic: "u", sequence: 1, timestamp: 5, content: [1, 2], extensions: ["weevent-a": "b"]))
        #expect(base != BlockHash.event(topic: "t", sequence: 2, timestamp: 5, content: [1, 2], extensions: ["weevent-a": "b"]))
        #expect(base != BlockHash.event(topic: "t", sequence: 1, timestamp: 6, content: [1, 2], extensions: ["weevent-a": "b"]))
        #expect(base != BlockHash.event(topic: "t", sequence: 1, timestamp: 5, content: [1, 3], extensions: ["weevent-a": "b"]))
        #expect(base != BlockHash.event(topic: "t", sequence: 1, timestamp: 5, content: [1, 2], extensions: ["weevent-a": "c"]))
        #expect(base != BlockHash.event(topic: "t", sequence: 1, timestamp: 5, content: [1, 2], extensions: [:]))
        // Field boundaries are length-prefixed: moving a byte between topic and content changes the hash.
        #expect(
            BlockHash.event(topic: "ab", sequence: 1, timestamp: 0, content: [0x63], extensions: [:])
                != BlockHash.event(topic: "a", sequence: 1, timestamp: 0, content: [0x62, 0x63], extensions: [:]))
    }

    @Test func blockHashChainsThePreviousHash() {
        let root = leaf(9)
        let first = BlockHash.block(height: 1, previousHash: BlockHash.zero, merkleRoot: root, timestamp: 1, eventCount: 1)
        let second = BlockHash.block(height: 2, previousHash: first, merkleRoot: root, timestamp: 1, eventCount: 1)
        let forged = BlockHash.block(height: 2, previousHash: BlockHash.zero, merkleRoot: root, timestamp: 1, eventCount: 1)
        #expect(second != forged)
        #expect(first.count == 32)
    }

    /// docs/ledger.md's worked example, computed apart from this code (Python's hashlib).
    @Test func theWorkedExampleOfBothFormats() {
        let v1 = BlockHash.event(format: .v1, topic: "t", sequence: 1, timestamp: 1_795_400_000_123, content: Array("hi".utf8), extensions: [:])
        let v2 = BlockHash.event(format: .v2, topic: "t", sequence: 1, timestamp: 1_795_400_000_123, content: Array("hi".utf8), extensions: [:])
        #expect(hexString(v1) == "e23b7d9e3901cbd67f0a00241ed91ee2027105d9dc8d26f3a3fa059614893dfb")
        #expect(hexString(v2) == "37aa7ddb175bbe251c5c4e641bada99c66c190a4b1437d9de6d74be14e5ba13a")
        #expect(hexString(BlockHash.contentDigest(Array("hi".utf8))) == "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4")
        #expect(
            BlockHash.event(topic: "t", sequence: 1, timestamp: 1_795_400_000_123, contentDigest: BlockHash.contentDigest(Array("hi".utf8)), extensions: [:])
                == v2, "the digest stands for the content")
        let block1 = BlockHash.block(height: 1, previousHash: BlockHash.zero, merkleRoot: v1, timestamp: 1_795_400_000_123, eventCount: 1)
        let block2 = BlockHash.block(
            height: 1, previousHash: BlockHash.zero, merkleRoot: v2, timestamp: 1_795_400_000_123, eventCount: 1, tree: TreeHead(size: 1, root: v2))
        #expect(hexString(block1) == "873ad3982b80d318890eca1d8243436f87a964f753248eb6c549c999f0cbc3df")
        #expect(hexString(block2) == "aa3e278a6ecd76b2db6e730f22fed07bc6d02290d5df7d8b0897832daffe568d")
    }
}
