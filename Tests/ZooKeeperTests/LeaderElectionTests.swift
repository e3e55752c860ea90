import Testing
import ZooKeeper
import TestSupport

@Suite("LeaderElection against a real server")
struct LeaderElectionTests {
    /// One candidate: its client, election and the task running it.
    struct Candidate {
        let client: ZooKeeperClient
        let election: LeaderElection
        let task: Task<Void, any Error>
    }

    func candidate(_ hosts: String, _ path: String, _ name: String) async throws -> Candidate {
        let client = try await ZooKeeperClient.connect(to: hosts, sessionTimeout: .seconds(4))
        let election = LeaderElection(client: client, path: path, candidateData: Array(name.utf8))
        let task = Task { try await election.run() }
        return Candidate(client: client, election: election, task: task)
    }

    /// The election nodes that have a watch on them, from the server's `wchp` listing.
    func watchedPaths(_ server: ZooKeeperServer, under path: String) async throws -> Set<String> {
        let listing = try await server.command("wchp")
        return Set(listing.split(separator: "\n").map(String.init).filter { $0.hasPrefix(path) })
    }

    func settled(_ candidates: [Candidate]) -> Bool {
        let states = candidates.map(\.election.leadership)
        return states.filter { $0 == .leader }.count == 1 && states.filter { $0 == .follower }.count == candidates.count - 1
    }

    @Test func exactlyOneLeaderAndLeadershipPassesOnWhenTheLeaderCloses() async throws {
        let server = try await ZooKeeperServer.shared.value
        let path = uniqueRoot() + "/leader"
        var joined: [Candidate] = []
        for name in ["a", "b", "c"] {
            joined.append(try await candidate(server.hosts, path, name))
            // Join in order, so the nodes' order is the candidates' order.
            let last = joined.last!.election
            #expect(try await firstElement(of: last.leadershipChanges()) { $0 != .inactive } != nil)
        }
        let candidates = joined
        #expect(await eventually { settled(candidates) })
        #expect(candidates[0].election.leadership == .leader)

        // Each follower watches only its predecessor: the first two nodes are watched, the last
        // one and the parent are not.
        let nodes = candidates.map { $0.election.candidateNode! }
        #expect(nodes.map { Int($0.suffix(10))! } == [0, 1, 2])
        #expect(try await eventually { try await watchedPaths(server, under: path) == [nodes[0], nodes[1]] })
        #expect(try await watchedPaths(server, under: path).contains(path) == false)

        // Close the leader: the next one takes over (the third keeps following).
        let nextLeader = candidates[1].election
        let promoted = Task { try await firstElement(of: nextLeader.leadershipChanges()) { $0 == .leader } }
        await candidates[0].client.close()
        #expect(candidates[0].election.leadership == .inactive)
        #expect(try await promoted.value == .leader)
        try await candidates[0].task.value  // a closed client ends run() normally
        #expect(await eventually { settled(Array(candidates.dropFirst())) })
        #expect(candidates[2].election.leadership == .follower)

        // Cancel the new leader: it resigns and the last candidate leads.
        candidates[1].task.cancel()
        try await candidates[1].task.value
        #expect(candidates[1].election.leadership == .inactive)
        #expect(await eventually { candidates[2].election.leadership == .leader })
        #expect(try await candidates[2].client.children(path) == [String(nodes[2].split(separator: "/").last!)])

        for candidate in candidates.dropFirst() { await candidate.client.close() }
        let cleaner = try await ZooKeeperClient.connect(to: server.hosts)
        try await cleaner.deleteRecursively(String(path.dropLast("/leader".count)))
        await cleaner.close()
    }

    /// An operator (or a cleanup script) deletes the leader's node: the next candidate leads, and
    /// the old leader must notice and step down at once, not keep leading beside it.
    @Test func aLeaderWhoseNodeIsDeletedStepsDownAndStandsAgain() async throws {
        let server = try await ZooKeeperServer.shared.value
        let path = uniqueRoot() + "/leader"
        let a = try await candidate(server.hosts, path, "a")
        #expect(await eventually { a.election.leadership == .leader })
        let b = try await candidate(server.hosts, path, "b")
        #expect(await eventually { settled([a, b]) })
        let node = try #require(a.election.candidateNode)

        let stepsDown = Task { try await firstElement(of: a.election.leadershipChanges()) { $0 == .follower } }
        let operator_ = try await ZooKeeperClient.connect(to: server.hosts)
        try await operator_.delete(node)
        #expect(try await stepsDown.value == .follower)
        #expect(await eventually { b.election.leadership == .leader && a.election.leadership == .follower })
        // A stood again: it has a new node, after B's.
        #expect(await eventually { a.election.candidateNode != nil && a.election.candidateNode != node })
        #expect(try await operator_.children(path).count == 2)

        for candidate in [a, b] { await candidate.client.close() }
        for candidate in [a, b] { try await candidate.task.value }
        try await operator_.deleteRecursively(String(path.dropLast("/leader".count)))
        await operator_.close()
    }

    @Test func aCandidateWhoseLeaderDiesBetweenListingAndWatchingStillLeads() async throws {
        // Many candidates joining and leaving concurrently end with exactly one leader.
        let server = try await ZooKeeperServer.shared.value
        let path = uniqueRoot() + "/leader"
        var joined: [Candidate] = []
        for name in 0..<6 { joined.append(try await candidate(server.hosts, path, "c\(name)")) }
        let candidates = joined
        await withTaskGroup(of: Void.self) { group in
            for candidate in candidates.prefix(4) { group.addTask { await candidate.client.close() } }
        }
        let remaining = Array(candidates.suffix(2))
        #expect(await eventually { settled(remaining) })
        for candidate in remaining { await candidate.client.close() }
        for candidate in candidates { try await candidate.task.value }
        let cleaner = try await ZooKeeperClient.connect(to: server.hosts)
        try await cleaner.deleteRecursively(String(path.dropLast("/leader".count)))
        await cleaner.close()
    }
}
