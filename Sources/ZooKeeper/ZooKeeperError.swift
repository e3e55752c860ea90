internal import CZooKeeper

/// A failed ZooKeeper operation: the C library's result code, what was being done, and on which path.
public struct ZooKeeperError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A ZooKeeper result code (mirrors `enum ZOO_ERRORS` of the C library).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The numeric code as the C library returns it.
        public let rawValue: Int32

        public init(rawValue: Int32) {
            self.rawValue = rawValue
        }

        public static let systemError = Code(rawValue: -1)
        public static let runtimeInconsistency = Code(rawValue: -2)
        public static let dataInconsistency = Code(rawValue: -3)
        /// The connection to the server was lost; the session may still be alive.
        public static let connectionLoss = Code(rawValue: -4)
        public static let marshallingError = Code(rawValue: -5)
        public static let unimplemented = Code(rawValue: -6)
        public static let operationTimeout = Code(rawValue: -7)
        public static let badArguments = Code(rawValue: -8)
        public static let invalidState = Code(rawValue: -9)
        public static let apiError = Code(rawValue: -100)
        public static let noNode = Code(rawValue: -101)
        public static let noAuth = Code(rawValue: -102)
        public static let badVersion = Code(rawValue: -103)
        public static let noChildrenForEphemerals = Code(rawValue: -108)
        public static let nodeExists = Code(rawValue: -110)
        public static let notEmpty = Code(rawValue: -111)
        public static let sessionExpired = Code(rawValue: -112)
        public static let invalidCallback = Code(rawValue: -113)
        public static let invalidACL = Code(rawValue: -114)
        public static let authFailed = Code(rawValue: -115)
        /// The client was closed (also given to calls that were in flight when it was).
        public static let closing = Code(rawValue: -116)
        public static let nothing = Code(rawValue: -117)
        public static let sessionMoved = Code(rawValue: -118)
        public static let notReadOnly = Code(rawValue: -119)
        public static let ephemeralOnLocalSession = Code(rawValue: -120)
        public static let noWatcher = Code(rawValue: -121)
        public static let reconfigDisabled = Code(rawValue: -123)
        public static let sessionClosedRequireSASLAuth = Code(rawValue: -124)
        public static let throttled = Code(rawValue: -127)

        public var description: String {
            "\(String(cString: zerror(rawValue))) (\(rawValue))"
        }
    }

    /// The operation that failed.
    public enum Operation: String, Sendable, Hashable {
        case connect, create, get, set, delete, children, exists, addAuth, watch, election
    }

    public let code: Code
    public let operation: Operation
    /// The node path the operation was about, if any.
    public let path: String?

    public init(code: Code, operation: Operation, path: String? = nil) {
        self.code = code
        self.operation = operation
        self.path = path
    }

    init(rc: Int32, _ operation: Operation, _ path: String?) {
        self.init(code: Code(rawValue: rc), operation: operation, path: path)
    }

    /// The connection is gone for now but the session may survive: retrying after reconnecting is sensible.
    public var isConnectionProblem: Bool {
        code == .connectionLoss || code == .operationTimeout
    }

    public var description: String {
        if let path {
            return "ZooKeeper \(operation.rawValue) \(path) failed: \(code)"
        }
        return "ZooKeeper \(operation.rawValue) failed: \(code)"
    }
}
