/// Checkpoints in memory: added one at a time by the ledger's checkpointer, as in the embedded store.
extension MemoryDriver {
    func checkpoints(from size: UInt64, limit: Int) async throws -> [StoredCheckpoint] {
        rows { rows in Array(rows.checkpoints.filter { $0.size >= size }.prefix(max(0, limit))) }
    }

    func latestCheckpoint() async throws -> StoredCheckpoint? {
        rows { $0.checkpoints.last }
    }

    func addCheckpoint(_ make: @escaping @Sendable (StoredCheckpoint?) async throws -> StoredCheckpoint?) async throws -> StoredCheckpoint? {
        guard let made = try await make(try await latestCheckpoint()) else { return nil }
        return rows { rows in
            if let last = rows.checkpoints.last, last.size >= made.size { return nil }
            rows.checkpoints.append(made)
            return made
        }
    }

    func addCosignature(size: UInt64, witness: String, line: String) async throws {
        rows { $0.cosignatures[size, default: [:]][witness] = line }
    }

    func cosignatures(size: UInt64) async throws -> [String] {
        rows { rows in (rows.cosignatures[size] ?? [:]).sorted { $0.key < $1.key }.map(\.value) }
    }
}
