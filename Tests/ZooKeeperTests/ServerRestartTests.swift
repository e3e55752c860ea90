import Testing
import ZooKeeper
import TestSupport

@Suite("Server stopped and restarted", .serialized)
struct ServerRestartTests {
    @Test func serverStopSuspendsTheSessionAndDropsLeadershipAndRestartReconnects() async throws {
        var server = try await ZooKeeperServer.start()
        let client = try await ZooKeeperClient.connect(to: server.hosts, sessionTimeout: .seconds(8))
        let sessionID = client.sessionID
        let path = "/restart/leader"
        let election = LeaderElection(client: client, path: path)
        let run = Task { try await election.run() }
        #expect(try await firstElement(of: election.leadershipChanges()) { $0 == .leader } == .leader)

        let root = "/restart/data"
        try await client.ensurePath(root)
        let watch = try await client.watch(root, for: .data)

        let states = client.sessionStates()
        let leadership = election.leadershipChanges()
        try await server.stop()

        // Suspended, and leadership dropped: the election says so no later than the session does.
        #expect(try await firstElement(of: states) { $0 != .connected } == .suspended)
        #expect(election.leadership == .inactive)
        #expect(try await firstElement(of: leadership) { $0 != .leader } == .inactive)
        // Calls fail while suspended.
        let lost = await #expect(throws: ZooKeeperError.self) { try await client.get(root) }
        #expect(lost?.isConnectionProblem == true)

        server = try await server.restart()
        #expect(try await firstElement(of: client.sessionStates()) { $0 == .connected } == .connected)
        #expect(client.sessionID == sessionID)  // the same session, not a new one
        #expect(try await firstElement(of: election.leadershipChanges()) { $0 == .leader } == .leader)
        // Watches survive the reconnection.
        let writer = try await ZooKeeperClient.connect(to: server.hosts)
        try await writer.set(root, data: [1])
        var events = watch.makeAsyncIterator()
        #expect(try await events.next() == NodeEvent(kind: .dataChanged, path: root))

        await writer.close()
        await client.close()
        try await run.value
        #expect(election.leadership == .inactive)
        try await server.stop()
    }

    @Test func sessionExpiryEndsLeadershipTheElectionAndWatches() async throws {
        var server = try await ZooKeeperServer.start()
        let client = try await ZooKeeperClient.connect(to: server.hosts, sessionTimeout: .seconds(4))
        let election = LeaderElection(client: client, path: "/expiry/leader")
        let run = Task { try await election.run() }
        #expect(try await firstElement(of: election.leadershipChanges()) { $0 == .leader } == .leader)
        let watch = try await client.watch("/expiry", for: .children)
        let sessionIDBeforeStop = client.sessionID

        try await server.stop()
        #expect(try await firstElement(of: client.sessionStates()) { $0 == .suspended } == .suspended)
        #expect(election.leadership == .inactive)
        // The server comes back where the client cannot reach it (another port, same data), so
        // it expires the session once the timeout passes; then it moves back to the client's port.
        let sessionID = try #require(sessionIDBeforeStop)
        let elsewhere = try await ZooKeeperServer.start(directory: server.directory)
        #expect(
            try await eventually(within: .seconds(60)) {
                try await !elsewhere.command("dump").contains("0x" + String(UInt64(bitPattern: sessionID), radix: 16))
            })
        try await elsewhere.stop()
        server = try await ZooKeeperServer.start(port: server.port, directory: server.directory)
        #expect(try await firstElement(of: client.sessionStates(), within: .seconds(60)) { $0.isTerminal } == .expired)
        let runError = await #expect(throws: ZooKeeperError.self) { try await run.value }
        #expect(runError?.code == .sessionExpired)
        var events = watch.makeAsyncIterator()
        let watchError = await #expect(throws: ZooKeeperError.self) { _ = try await events.next() }
        #expect(watchError?.code == .sessionExpired)
        #expect(election.leadership == .inactive)
        await client.close()
        #expect(client.sessionState == .closed)
        try await server.stop()
    }
}
