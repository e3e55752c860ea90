import Foundation
import Testing
import TestSupport

/// Backups of the shared ledger as docs/operations.md describes them: a logical dump of the
/// schema (pg_dump) restored into another server, and a physical copy of the whole server
/// (pg_basebackup) started on its own; `weevent verify` passes on each, with the broker's key,
/// and a restored copy serves the same events.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct BackupRestoreTests {
    @Test func aDumpAndABaseBackupEachRestoreALedgerThatVerifies() async throws {
        let source = try await PostgresServer.start()
        let schema = uniqueSchema("backup")
        let keyPath = FileManager.default.temporaryDirectory.path + "/weevent-keys/\(schema).key"
        let broker = try BrokerProcess(
            extraConfig: """
                ledger.store=postgresql
                ledger.postgresql.url=\(source.url())
                ledger.postgresql.schema=\(schema)
                ledger.signing-key=\(keyPath)
                ledger.checkpoint.interval-ms=200
                """)
        var restored: [PostgresServer] = []
        do {
            try await backUpAndRestore(broker: broker, source: source, schema: schema, keyPath: keyPath, restored: &restored)
        } catch {
            Issue.record(error)
        }
        broker.remove()
        try? await source.stop()
        for server in restored { try? await server.stop() }
    }

    private func backUpAndRestore(
        broker: BrokerProcess, source: PostgresServer, schema: String, keyPath: String, restored: inout [PostgresServer]
    ) async throws {
        try await broker.start()
        #expect(try await http("\(broker.baseURL)/rest/open?topic=kept").text == "true")
        var ids: [String] = []
        for i in 0..<50 {
            let reply = try await http("\(broker.baseURL)/rest/publish?topic=kept&content=event-\(i)").object
            ids.append(try #require(reply["eventId"] as? String))
        }
        // A signed checkpoint covers them before the backup is taken.
        #expect(
            await eventually(within: .seconds(30)) {
                let checkpoint = try? await http("\(broker.baseURL)/rest/checkpoint")
                return checkpoint?.status == 200 && checkpoint?.text.contains("\n50\n") == true
            })

        // 1. pg_dump of the schema, restored into another server.
        let dump = broker.directory + "/ledger.sql"
        let dumped = try await run(
            "/usr/bin/pg_dump", ["-h", "127.0.0.1", "-p", String(source.port), "-U", "postgres", "-n", schema, "-f", dump, "postgres"])
        #expect(dumped.status == 0, "\(dumped.stderr)")
        let target = try await PostgresServer.start()
        restored.append(target)
        let loaded = try await run(
            "/usr/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(target.port), "-U", "postgres", "-f", dump, "postgres"])
        #expect(loaded.status == 0, "\(loaded.stderr)")

        // 2. pg_basebackup of the whole server, started as a server of its own.
        let copy = try await PostgresServer.startStandby(of: source, name: "backup")
        restored.append(copy)
        try await copy.promote()

        for server in [target, copy] {
            let verifier = try BrokerProcess(
                extraConfig: """
                    ledger.store=postgresql
                    ledger.postgresql.url=\(server.url())
                    ledger.postgresql.schema=\(schema)
                    ledger.signing-key=\(keyPath)
                    """)
            defer { verifier.remove() }
            let (status, output) = try await verifier.run(["verify", "--config", verifier.configPath])
            #expect(status == 0, "\(output)")
            #expect(output.contains("50 events"), "\(output)")
            #expect(output.contains("chain intact"), "\(output)")
            #expect(!output.contains("checkpoint signatures are not checked"), "verified with the broker's key: \(output)")
            // The restored ledger serves the same events under the same ids.
            try await verifier.start()
            let event = try await http("\(verifier.baseURL)/rest/getEvent?eventId=\(ids[49])").object
            #expect(event["eventId"] as? String == ids[49])
            #expect(event["content"] as? String == Data("event-49".utf8).base64EncodedString())
        }
    }
}
