/// What can go wrong inside a ledger that is not the caller's mistake. The ledger throws these;
/// the HTTP layer alone decides which WeEvent code and status a client sees for each.
///
/// The caller's mistakes (a topic that does not exist, an event id from another block) stay
/// `WeEventError`s: they are WeEvent's own rules, answered with WeEvent's own codes.
public enum LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The ledger is closing and takes no more writes; nothing of this write was stored.
    case shuttingDown(groupID: String)
    /// The embedded store's transaction failed (disk full, I/O error); nothing of the batch was stored.
    case commitFailed(groupID: String, reason: String)
    /// The stored ledger contradicts itself or its configuration (a file of another group, an
    /// event outside its block); an operator must look.
    case inconsistent(String)

    public var description: String {
        switch self {
        case .shuttingDown(let group): "ledger of group \(group) is shutting down"
        case .commitFailed(let group, let reason): "ledger commit failed in group \(group): \(reason)"
        case .inconsistent(let reason): "ledger is inconsistent: \(reason)"
        }
    }
}

/// The ledger's shared store (PostgreSQL) failed: unreachable, refused, a broken connection.
/// Nothing was written or the outcome is unknown, and the caller was not told SUCCESS.
public struct LedgerStoreError: Error, Sendable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
