/// A signed checkpoint as a store keeps it: the tree size it covers and the whole signed note
/// (the checkpoint text, a blank line and the log's signature line).
public struct StoredCheckpoint: Sendable, Equatable {
    public var size: UInt64
    public var note: String

    public init(size: UInt64, note: String) {
        self.size = size
        self.note = note
    }
}

/// Where a group's signed checkpoints and their witnesses' cosignatures are kept, beside its
/// events: what `GroupLedger`'s checkpoints need from a store.
protocol CheckpointStore: Sendable {
    /// Stored checkpoints of size `size` or more, smallest first, at most `limit`.
    func checkpoints(from size: UInt64, limit: Int) async throws -> [StoredCheckpoint]
    /// The stored checkpoint of the largest size.
    func latestCheckpoint() async throws -> StoredCheckpoint?
    /// Calls `make` with the latest stored checkpoint and stores what it returns (nil: nothing),
    /// durably, unless a checkpoint of the same or a larger size was stored meanwhile; returns
    /// what was stored. On a shared store `make` runs under a lock every instance takes to add
    /// a checkpoint to the group, so no two instances check against different latest ones.
    func addCheckpoint(_ make: @escaping @Sendable (StoredCheckpoint?) async throws -> StoredCheckpoint?) async throws -> StoredCheckpoint?
    /// Keeps `line` (a signature line) as `witness`'s cosignature of the checkpoint of `size`,
    /// durably, replacing the witness's earlier one of that checkpoint.
    func addCosignature(size: UInt64, witness: String, line: String) async throws
    /// The cosignature lines of the checkpoint of `size`, by witness name.
    func cosignatures(size: UInt64) async throws -> [String]
}
