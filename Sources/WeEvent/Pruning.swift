/// What a ledger keeps of an event whose content was removed (docs/ledger.md "Retention"):
/// its place (id, topic, block time), its hash (the leaf every proof is built on) and the
/// broker's reserved extensions; the content and the publisher's extensions are gone.
public struct Pruning: Sendable, Equatable {
    /// Why the content went.
    public enum Reason: Int, Sendable, CaseIterable {
        /// Past the retention of its topic (age) or group (bytes).
        case retention = 1
        /// Erased on request (admin/eraseEvent), which the group's audit trail records.
        case erased = 2

        /// The name the API reports.
        public var name: String {
            switch self {
            case .retention: "retention"
            case .erased: "erased"
            }
        }
    }

    /// Milliseconds since 1970 when the content was removed.
    public var time: Int64
    public var reason: Reason
    /// The event's hash (the leaf of its block's Merkle tree and of the group tree).
    public var eventHash: [UInt8]

    public init(time: Int64, reason: Reason, eventHash: [UInt8]) {
        self.time = time
        self.reason = reason
        self.eventHash = eventHash
    }

    /// The extensions a pruned event keeps: the broker's reserved ones (who published it and
    /// where it came from), never the publisher's own.
    public static func keptExtensions(_ extensions: [String: String]) -> [String: String] {
        extensions.filter { Validation.reservedExtensions.contains($0.key.lowercased()) }
    }
}
