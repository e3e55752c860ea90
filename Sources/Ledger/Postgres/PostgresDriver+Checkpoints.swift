import PostgresNIO

/// Checkpoints in the shared store. Every instance may sign; adding one takes a transaction-scoped
/// advisory lock of the group, so the check against the latest stored checkpoint and the insert
/// are one step for the whole cluster.
extension PostgresDriver {
    func checkpoints(from size: UInt64, limit: Int) async throws -> [StoredCheckpoint] {
        try await fetchRows(
            """
            SELECT size, note FROM checkpoints WHERE group_id = \(groupID) AND size >= \(Int64(clamping: size))
            ORDER BY size LIMIT \(Int64(limit))
            """
        ) { row in
            let (size, note) = try row.decode((Int64, String).self)
            return StoredCheckpoint(size: UInt64(clamping: size), note: note)
        }
    }

    func latestCheckpoint() async throws -> StoredCheckpoint? {
        try await fetchRows("SELECT size, note FROM checkpoints WHERE group_id = \(groupID) ORDER BY size DESC LIMIT 1") { row in
            let (size, note) = try row.decode((Int64, String).self)
            return StoredCheckpoint(size: UInt64(clamping: size), note: note)
        }.first
    }

    func addCheckpoint(_ make: @escaping @Sendable (StoredCheckpoint?) async throws -> StoredCheckpoint?) async throws -> StoredCheckpoint? {
        let client = self.client, logger = self.logger, groupID = self.groupID
        do {
            return try await withStoreDeadline(store.timeout, "checkpoint of group \(groupID)") {
                try await client.withTransaction(logger: logger) { connection -> StoredCheckpoint? in
                    try await connection.perform("SELECT pg_advisory_xact_lock(hashtext(\("weevent checkpoint " + groupID)))", logger: logger)
                    var latest: StoredCheckpoint?
                    for try await (size, note) in try await connection.query(
                        "SELECT size, note FROM checkpoints WHERE group_id = \(groupID) ORDER BY size DESC LIMIT 1", logger: logger
                    ).decode((Int64, String).self) {
                        latest = StoredCheckpoint(size: UInt64(clamping: size), note: note)
                    }
                    guard let made = try await make(latest) else { return nil }
                    if let latest, latest.size >= made.size { return nil }
                    try await connection.perform(
                        "INSERT INTO checkpoints(group_id, size, note) VALUES (\(groupID), \(Int64(clamping: made.size)), \(made.note))",
                        logger: logger)
                    return made
                }
            }
        } catch let error as LedgerStoreError {
            throw error
        } catch let error as PostgresTransactionError where error.closureError is CheckpointRefusal || error.closureError is LedgerStoreError {
            throw error.closureError!
        } catch {
            throw LedgerStoreError("storing a checkpoint in PostgreSQL failed: \(PostgresBlockWriter.describe(error))")
        }
    }

    func addCosignature(size: UInt64, witness: String, line: String) async throws {
        _ = try await fetchRows(
            """
            INSERT INTO cosignatures(group_id, size, witness, line) VALUES (\(groupID), \(Int64(clamping: size)), \(witness), \(line))
            ON CONFLICT (group_id, size, witness) DO UPDATE SET line = EXCLUDED.line
            """
        ) { _ in () }
    }

    func cosignatures(size: UInt64) async throws -> [String] {
        try await fetchRows(
            "SELECT line FROM cosignatures WHERE group_id = \(groupID) AND size = \(Int64(clamping: size)) ORDER BY witness"
        ) { try $0.decode(String.self) }
    }
}
