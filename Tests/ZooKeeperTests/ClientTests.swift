import Testing
import ZooKeeper
import TestSupport

@Suite("ZooKeeperClient against a real server")
struct ClientTests {
    func connect(sessionTimeout: Duration = .seconds(10)) async throws -> ZooKeeperClient {
        let server = try await ZooKeeperServer.shared.value
        return try await ZooKeeperClient.connect(to: server.hosts, sessionTimeout: sessionTimeout)
    }

    @Test func createGetSetDeleteWithVersionsAndTypedErrors() async throws {
        let zk = try await connect()
        let root = uniqueRoot()
        let node = "\(root)/node"
        #expect(try await zk.create(root) == root)
        #expect(try await zk.create(node, data: Array("v1".utf8)) == node)

        let first = try await zk.get(node)
        #expect(first.data == Array("v1".utf8))
        #expect(first.stat.version == 0)
        #expect(!first.stat.isEphemeral)

        let stat = try await zk.set(node, data: Array("v2".utf8), version: first.stat.version)
        #expect(stat.version == 1)
        #expect(try await zk.get(node).data == Array("v2".utf8))

        // A stale version is refused with a typed error that says what and where.
        let badVersion = await #expect(throws: ZooKeeperError.self) {
            try await zk.set(node, data: Array("v3".utf8), version: first.stat.version)
        }
        #expect(badVersion?.code == .badVersion)
        #expect(badVersion?.operation == .set)
        #expect(badVersion?.path == node)
        #expect(try await zk.get(node).data == Array("v2".utf8))

        let exists = await #expect(throws: ZooKeeperError.self) { try await zk.create(node) }
        #expect(exists?.code == .nodeExists)
        #expect(exists?.operation == .create)

        let notEmpty = await #expect(throws: ZooKeeperError.self) { try await zk.delete(root) }
        #expect(notEmpty?.code == .notEmpty)

        let wrongDelete = await #expect(throws: ZooKeeperError.self) { try await zk.delete(node, version: 0) }
        #expect(wrongDelete?.code == .badVersion)

        try await zk.delete(node, version: 1)
        #expect(try await zk.exists(node) == nil)
        let noNode = await #expect(throws: ZooKeeperError.self) { try await zk.get(node) }
        #expect(noNode?.code == .noNode)
        #expect(noNode?.path == node)
        let noParent = await #expect(throws: ZooKeeperError.self) { try await zk.create("\(root)/missing/child") }
        #expect(noParent?.code == .noNode)

        // Empty data reads back as empty.
        try await zk.create("\(root)/empty")
        #expect(try await zk.get("\(root)/empty").data == [])
        #expect(try await zk.children(root) == ["empty"])

        try await zk.deleteRecursively(root)
        #expect(try await zk.exists(root) == nil)
        await zk.close()
    }

    @Test func ensurePathCreatesParentsAndToleratesExistingNodes() async throws {
        let zk = try await connect()
        let root = uniqueRoot()
        try await zk.ensurePath("\(root)/a/b/c")
        #expect(try await zk.exists("\(root)/a/b/c") != nil)
        // Again, and concurrently: existing nodes are fine.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { try await zk.ensurePath("\(root)/a/b/c/d") } }
            try await group.waitForAll()
        }
        #expect(try await zk.children("\(root)/a/b/c") == ["d"])
        try await zk.deleteRecursively(root)
        await zk.close()
    }

    @Test func ephemeralNodeDisappearsWhenItsSessionCloses() async throws {
        let owner = try await connect()
        let observer = try await connect()
        let root = uniqueRoot()
        try await observer.create(root)
        try await owner.create("\(root)/ephemeral", data: [1, 2, 3], mode: .ephemeral)
        let stat = try await observer.exists("\(root)/ephemeral")
        #expect(stat?.isEphemeral == true)
        #expect(stat?.ephemeralOwner == owner.sessionID)

        let deletions = try await observer.watch("\(root)/ephemeral", for: .data)
        await owner.close()
        #expect(owner.sessionState == .closed)
        let event = try await firstElement(of: deletions) { $0.kind == .deleted }
        #expect(event == NodeEvent(kind: .deleted, path: "\(root)/ephemeral"))
        #expect(try await observer.exists("\(root)/ephemeral") == nil)
        try await observer.deleteRecursively(root)
        await observer.close()
    }

    @Test func sequentialNodesGetIncreasingTenDigitSuffixes() async throws {
        let zk = try await connect()
        let root = uniqueRoot()
        try await zk.create(root)
        var paths: [String] = []
        for mode in [CreateMode.persistentSequential, .ephemeralSequential, .persistentSequential] {
            paths.append(try await zk.create("\(root)/item-", mode: mode))
        }
        let suffixes = paths.map { Int($0.suffix(10))! }
        #expect(paths.allSatisfy { $0.hasPrefix("\(root)/item-") && $0.count == "\(root)/item-".count + 10 })
        #expect(suffixes == [0, 1, 2])
        #expect(try await zk.exists(paths[1])?.isEphemeral == true)
        try await zk.deleteRecursively(root)
        await zk.close()
    }

    @Test func dataWatchReportsChangesAsSequenceElements() async throws {
        let zk = try await connect()
        let writer = try await connect()
        let root = uniqueRoot()
        let node = "\(root)/watched"
        try await zk.create(root)

        let watch = try await zk.watch(node, for: .data)
        var events = watch.makeAsyncIterator()
        try await writer.create(node, data: [1])
        #expect(try await events.next() == NodeEvent(kind: .created, path: node))
        try await writer.set(node, data: [2])
        #expect(try await events.next() == NodeEvent(kind: .dataChanged, path: node))
        // Re-armed before each event is handed out: reading then changing again is seen.
        #expect(try await zk.get(node).data == [2])
        try await writer.set(node, data: [3])
        #expect(try await events.next() == NodeEvent(kind: .dataChanged, path: node))
        try await writer.delete(node)
        #expect(try await events.next() == NodeEvent(kind: .deleted, path: node))

        // Closing the client ends the sequence.
        await zk.close()
        #expect(try await events.next() == nil)
        try await writer.deleteRecursively(root)
        await writer.close()
    }

    @Test func childrenWatchReportsChildrenChanges() async throws {
        let zk = try await connect()
        let writer = try await connect()
        let root = uniqueRoot()
        try await zk.create(root)

        let watch = try await zk.watch(root, for: .children)
        var events = watch.makeAsyncIterator()
        try await writer.create("\(root)/a")
        #expect(try await events.next() == NodeEvent(kind: .childrenChanged, path: root))
        #expect(try await zk.children(root) == ["a"])
        // A data change of the parent is not a children change and is not reported.
        try await writer.set(root, data: [9])
        try await writer.delete("\(root)/a")
        #expect(try await events.next() == NodeEvent(kind: .childrenChanged, path: root))
        #expect(try await zk.children(root) == [])
        try await writer.delete(root)
        #expect(try await events.next() == NodeEvent(kind: .deleted, path: root))
        // The node comes back: its creation is reported and its children are watched again.
        try await writer.create(root)
        #expect(try await events.next() == NodeEvent(kind: .created, path: root))
        try await writer.create("\(root)/b")
        #expect(try await events.next() == NodeEvent(kind: .childrenChanged, path: root))

        try await writer.deleteRecursively(root)
        await zk.close()
        await writer.close()
    }

    @Test func digestAuthenticationAndACLs() async throws {
        let server = try await ZooKeeperServer.shared.value
        let alice = try await connect()
        try await alice.addDigestAuth(user: "alice", password: "secret")
        let anonymous = try await connect()
        let aliceAgain = try await connect()
        try await aliceAgain.addDigestAuth(user: "alice", password: "secret")
        let mallory = try await connect()
        try await mallory.addDigestAuth(user: "alice", password: "wrong")

        let root = uniqueRoot()
        try await alice.create(root)
        let digestNode = "\(root)/digest"
        try await alice.create(digestNode, data: [42], acl: [ACL.digest(user: "alice", password: "secret"), ACL.anyone(.create)])
        let creatorNode = "\(root)/creator"
        try await alice.create(creatorNode, data: [7], acl: ACL.creatorAll)

        for node in [digestNode, creatorNode] {
            let denied = await #expect(throws: ZooKeeperError.self) { try await anonymous.get(node) }
            #expect(denied?.code == .noAuth)
            #expect(denied?.path == node)
            let wrongPassword = await #expect(throws: ZooKeeperError.self) { try await mallory.get(node) }
            #expect(wrongPassword?.code == .noAuth)
            // The same identity in another session is allowed.
            #expect(try await aliceAgain.get(node).data.count == 1)
            try await aliceAgain.set(node, data: [1])
        }
        // world:anyone may create below the digest node, but not read it.
        try await anonymous.create("\(digestNode)/child")
        let denied = await #expect(throws: ZooKeeperError.self) { try await anonymous.set(digestNode, data: []) }
        #expect(denied?.code == .noAuth)

        // creatorAll without authentication is an invalid ACL.
        let invalid = await #expect(throws: ZooKeeperError.self) {
            try await anonymous.create("\(root)/x", acl: ACL.creatorAll)
        }
        #expect(invalid?.code == .invalidACL)

        try await alice.deleteRecursively(root)
        _ = server
        for client in [alice, anonymous, aliceAgain, mallory] { await client.close() }
    }

    @Test func sessionStatesEndWithClosed() async throws {
        let zk = try await connect()
        #expect(zk.sessionState == .connected)
        #expect(zk.sessionID != nil)
        let states = zk.sessionStates()
        await zk.close()
        var seen: [SessionState] = []
        for await state in states { seen.append(state) }
        #expect(seen == [.connected, .closed])
        // Closing twice is fine; calls after close throw `.closing`.
        await zk.close()
        let closed = await #expect(throws: ZooKeeperError.self) { try await zk.exists("/") }
        #expect(closed?.code == .closing)
        let watchClosed = await #expect(throws: ZooKeeperError.self) { try await zk.watch("/") }
        #expect(watchClosed?.code == .closing)
    }

    @Test func connectingToNothingTimesOut() async throws {
        // A port nothing listens on (the shared server's port + 1 may be taken; use a fixed low one).
        let error = await #expect(throws: ZooKeeperError.self) {
            _ = try await ZooKeeperClient.connect(to: "127.0.0.1:9", sessionTimeout: .seconds(2), connectTimeout: .seconds(1))
        }
        #expect(error?.code == .operationTimeout)
        #expect(error?.operation == .connect)
    }

    @Test func closingWhileOperationsAreInFlightResumesEveryCallerOnce() async throws {
        let zk = try await connect()
        let root = uniqueRoot()
        try await zk.create(root)
        let watch = try await zk.watch("\(root)/never", for: .all)
        let calls = 2000
        // Close once the first calls came back, so that many others are in flight at that moment.
        let (completions, completed) = AsyncStream<Void>.makeStream()
        let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<calls {
                group.addTask {
                    defer { completed.yield() }
                    do {
                        switch index % 4 {
                        case 0: try await zk.create("\(root)/n\(index)")
                        case 1: _ = try await zk.get(root)
                        case 2: _ = try await zk.children(root)
                        default: _ = try await zk.exists("\(root)/n\(index - 3)")
                        }
                        return "ok"
                    } catch let error as ZooKeeperError {
                        return "\(error.code.rawValue)"
                    }
                }
            }
            group.addTask {
                var count = 0
                for await _ in completions {
                    count += 1
                    if count == 20 { break }
                }
                await zk.close()
                return "closed"
            }
            var outcomes: [String] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        completed.finish()
        #expect(outcomes.count == calls + 1)
        // Each call either completed or was told the client closed; nothing else.
        let allowed: Set<String> = ["ok", "closed", "\(ZooKeeperError.Code.closing.rawValue)", "\(ZooKeeperError.Code.connectionLoss.rawValue)"]
        #expect(Set(outcomes).isSubset(of: allowed), "\(Set(outcomes))")
        var iterator = watch.makeAsyncIterator()
        #expect(try await iterator.next() == nil)

        let cleaner = try await connect()
        try await cleaner.deleteRecursively(root)
        await cleaner.close()
    }

    @Test func cancellingACallerResumesItOnce() async throws {
        let zk = try await connect()
        let task = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<50 { group.addTask { _ = try await zk.children("/") } }
                try await group.waitForAll()
            }
        }
        task.cancel()
        do {
            try await task.value
        } catch is CancellationError {
        } catch {
            Issue.record("unexpected \(error)")
        }
        // The client is still fine.
        #expect(try await zk.exists("/") != nil)
        await zk.close()
    }

    @Test func digestIdsMatchZooKeepersFormat() {
        #expect(ACL.digest(user: "super", password: "admin").id == "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=")
        #expect(ACL.digest(user: "alice", password: "secret").id == "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=")
        #expect(ACL.digest(user: "alice", password: "secret").scheme == "digest")
    }
}
