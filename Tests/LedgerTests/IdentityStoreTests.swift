import BrokerConfiguration
import Foundation
import Logging
import Testing
import TestSupport
import WeEvent
@testable import Ledger

/// The identities beside the ledgers: what one instance (or a reopened store) writes, another reads,
/// with a revision that moves on every change.
@Suite struct IdentityStoreTests {
    /// Runs `body` with two handles on one store: for SQLite two opens of the file, for
    /// PostgreSQL two instances' ledger sets on one schema. Memory has one handle, given twice.
    private func withTwoHandles(_ store: Store, _ body: (any IdentityStore, any IdentityStore, String) async throws -> Void) async throws {
        switch store {
        case .memory:
            let memory = MemoryIdentityStore()
            try await body(memory, memory, "")
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("identities-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try await body(try SQLiteIdentityStore(path: dir + "/identities.sqlite"), try SQLiteIdentityStore(path: dir + "/identities.sqlite"), dir)
        case .postgresql:
            let server = try await PostgresServer.shared.value
            var settings = PostgresLedgerStore.Settings(url: try PostgresURL.parse(server.url()).get())
            settings.schema = uniqueSchema()
            settings.poolSize = 2
            settings.timeout = .seconds(30)
            let first = try await PostgresLedgerStore.open(settings, groups: ["1"], logger: Logger(label: "test"))
            let second = try await PostgresLedgerStore.open(settings, groups: ["1"], logger: Logger(label: "test"))
            try await first.withRunning(logger: Logger(label: "test")) {
                try await second.withRunning(logger: Logger(label: "test")) {
                    try await body(first.identities, second.identities, settings.schema)
                }
            }
        }
    }

    @Test(arguments: Store.allCases)
    func whatOneHandleChangesTheOtherReadsWithANewRevision(_ store: Store) async throws {
        try await withTwoHandles(store) { one, other, location in
            let start = try await other.revision()
            let (token, digest) = Identity.newToken()
            let rights = try Rights.parse(list: "publish@1:sensors/# read:sensors/#")
            #expect(try await one.add(Identity(name: "app", tokenDigest: digest, rights: rights, created: 1000)))
            #expect(!(try await one.add(Identity(name: "app", tokenDigest: Identity.newToken().digest, rights: .none, created: 1))), "name taken")
            let afterAdd = try await other.revision()
            #expect(afterAdd > start)
            let loaded = try await other.load()
            #expect(loaded.revision == afterAdd)
            #expect(loaded.identities.map(\.name) == ["app"])
            #expect(loaded.identities.first?.tokenDigest == digest)
            #expect(loaded.identities.first?.rights == rights)
            #expect(loaded.identities.first?.created == 1000)

            let changed = try await other.update(name: "app") { identity in
                identity.rights.list.append(try Right.parse("request@1:cmd/#"))
                identity.changed = 2000
            }
            #expect(changed?.rights.list.count == 3)
            #expect(try await one.load().identities.first?.rights.list.last == (try Right.parse("request@1:cmd/#")))
            #expect(try await one.revision() > afterAdd)
            #expect(try await one.update(name: "nobody") { _ in } == nil)

            // Only the digest is stored, never the token.
            if store == .sqlite {
                let file = try Data(contentsOf: URL(fileURLWithPath: location + "/identities.sqlite"))
                #expect(file.range(of: Data(token.utf8)) == nil)
                #expect(file.range(of: Data(digest)) != nil)
            }
            if store == .postgresql {
                let rows = try await PostgresServer.shared.value.psql("SELECT encode(token_digest, 'hex') FROM identities", schema: location)
                #expect(rows.contains(hexString(digest)) && !rows.contains(token))
            }

            let beforeRemove = try await one.revision()
            #expect(try await one.remove(name: "app"))
            #expect(!(try await one.remove(name: "app")))
            #expect(try await other.load().identities.isEmpty)
            #expect(try await other.revision() > beforeRemove)
        }
    }

    /// Two identities cannot share a token digest (the digest is how a caller is found).
    @Test(arguments: [Store.sqlite, .postgresql])
    func aDigestBelongsToOneIdentity(_ store: Store) async throws {
        try await withTwoHandles(store) { one, _, _ async throws in
            let digest = Identity.newToken().digest
            #expect(try await one.add(Identity(name: "a", tokenDigest: digest, rights: .none, created: 1)))
            var refused = false
            do { _ = try await one.add(Identity(name: "b", tokenDigest: digest, rights: .none, created: 1)) } catch { refused = true }
            #expect(refused)
            #expect(try await one.load().identities.map(\.name) == ["a"])
        }
    }
}
