/// A cluster operation that could not be done: no ZooKeeper session, or ZooKeeper refused or
/// failed the request. The HTTP layer answers it as WeEvent's 200400 (a 503).
public struct CoordinationError: Error, Sendable, CustomStringConvertible {
    /// What was being done and why it failed, for logs.
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
