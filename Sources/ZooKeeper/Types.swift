/// A znode's metadata (mirrors the C library's `struct Stat`).
public struct Stat: Sendable, Hashable {
    /// The zxid of the change that created this node.
    public var czxid: Int64
    /// The zxid of the change that last modified this node.
    public var mzxid: Int64
    /// The zxid of the change that last modified this node's children.
    public var pzxid: Int64
    /// Creation time, milliseconds since the epoch.
    public var ctime: Int64
    /// Last modification time, milliseconds since the epoch.
    public var mtime: Int64
    /// Number of changes to the data; pass it to `set` / `delete` for a conditional update.
    public var version: Int32
    /// Number of changes to the children.
    public var cversion: Int32
    /// Number of changes to the ACL.
    public var aversion: Int32
    /// Session id of the owner if the node is ephemeral, otherwise 0.
    public var ephemeralOwner: Int64
    public var dataLength: Int32
    public var numChildren: Int32

    public init(
        czxid: Int64 = 0, mzxid: Int64 = 0, pzxid: Int64 = 0, ctime: Int64 = 0, mtime: Int64 = 0,
        version: Int32 = 0, cversion: Int32 = 0, aversion: Int32 = 0, ephemeralOwner: Int64 = 0,
        dataLength: Int32 = 0, numChildren: Int32 = 0
    ) {
        self.czxid = czxid
        self.mzxid = mzxid
        self.pzxid = pzxid
        self.ctime = ctime
        self.mtime = mtime
        self.version = version
        self.cversion = cversion
        self.aversion = aversion
        self.ephemeralOwner = ephemeralOwner
        self.dataLength = dataLength
        self.numChildren = numChildren
    }

    /// True when the node goes away with the session that created it.
    public var isEphemeral: Bool { ephemeralOwner != 0 }
}

/// A node's data and metadata, as read by `ZooKeeperClient.get`.
public struct NodeData: Sendable, Hashable {
    public var data: [UInt8]
    public var stat: Stat

    public init(data: [UInt8], stat: Stat) {
        self.data = data
        self.stat = stat
    }
}

/// How a node is created.
public enum CreateMode: Sendable, Hashable, CaseIterable {
    case persistent
    /// Deleted by the server when the creating session ends.
    case ephemeral
    /// The server appends a monotonically increasing 10-digit counter to the name.
    case persistentSequential
    case ephemeralSequential
}

/// What an ACL entry allows.
public struct Permissions: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    // ZooKeeper's wire values (ZOO_PERM_* in the C library; CLibraryValuesTests checks them).
    public static let read = Permissions(rawValue: 1 << 0)
    public static let write = Permissions(rawValue: 1 << 1)
    public static let create = Permissions(rawValue: 1 << 2)
    public static let delete = Permissions(rawValue: 1 << 3)
    public static let admin = Permissions(rawValue: 1 << 4)
    public static let all: Permissions = [.read, .write, .create, .delete, .admin]
}

/// One access-control entry: `scheme:id` gets `permissions`.
public struct ACL: Sendable, Hashable, CustomStringConvertible {
    public var permissions: Permissions
    public var scheme: String
    public var id: String

    public init(permissions: Permissions, scheme: String, id: String) {
        self.permissions = permissions
        self.scheme = scheme
        self.id = id
    }

    /// world:anyone with every permission (ZOO_OPEN_ACL_UNSAFE).
    public static let openUnsafe: [ACL] = [ACL(permissions: .all, scheme: "world", id: "anyone")]
    /// world:anyone may read (ZOO_READ_ACL_UNSAFE).
    public static let readUnsafe: [ACL] = [ACL(permissions: .read, scheme: "world", id: "anyone")]
    /// Every identity the creating session authenticated as gets every permission (ZOO_CREATOR_ALL_ACL);
    /// the session must have added authentication first (`addDigestAuth`), or the server answers invalidACL.
    public static let creatorAll: [ACL] = [ACL(permissions: .all, scheme: "auth", id: "")]

    /// world:anyone with the given permissions.
    public static func anyone(_ permissions: Permissions) -> ACL {
        ACL(permissions: permissions, scheme: "world", id: "anyone")
    }

    /// The `digest` scheme entry for a user and password: the id is `user:base64(sha1("user:password"))`,
    /// as ZooKeeper's DigestAuthenticationProvider computes it.
    public static func digest(user: String, password: String, permissions: Permissions = .all) -> ACL {
        ACL(permissions: permissions, scheme: "digest", id: DigestCredentials.id(user: user, password: password))
    }

    public var description: String { "\(scheme):\(id):\(permissions.rawValue)" }
}

/// The state of the client's ZooKeeper session.
public enum SessionState: Sendable, Hashable, CustomStringConvertible {
    /// Connecting for the first time.
    case connecting
    /// Connected; the session is valid and watches are live.
    case connected
    /// The connection was lost and the client is reconnecting. The session (and its ephemeral
    /// nodes) survives if a server is reached within the session timeout, but nothing may be
    /// assumed in the meantime: leadership in particular is gone.
    case suspended
    /// The server expired the session: its ephemeral nodes and watches are gone. Terminal; close the
    /// client and connect a new one.
    case expired
    /// Authentication failed. Terminal.
    case authFailed
    /// `close()` was called. Terminal.
    case closed

    /// True for the states a session never leaves.
    public var isTerminal: Bool {
        switch self {
        case .expired, .authFailed, .closed: true
        case .connecting, .connected, .suspended: false
        }
    }

    public var description: String {
        switch self {
        case .connecting: "connecting"
        case .connected: "connected"
        case .suspended: "suspended"
        case .expired: "expired"
        case .authFailed: "authFailed"
        case .closed: "closed"
        }
    }
}

/// Which changes of a node a `NodeWatch` reports.
public struct WatchKinds: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The node's data changed, or the node was created or deleted.
    public static let data = WatchKinds(rawValue: 1 << 0)
    /// The node's list of children changed, or the node was created or deleted.
    public static let children = WatchKinds(rawValue: 1 << 1)
    public static let all: WatchKinds = [.data, .children]

    func reports(_ kind: NodeEvent.Kind) -> Bool {
        switch kind {
        case .created, .deleted: !isEmpty
        case .dataChanged: contains(.data)
        case .childrenChanged: contains(.children)
        }
    }
}

/// A change of a watched node.
public struct NodeEvent: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case created
        case dataChanged
        case deleted
        case childrenChanged
    }

    public var kind: Kind
    /// The node's path (relative to the client's chroot, if any).
    public var path: String

    public init(kind: Kind, path: String) {
        self.kind = kind
        self.path = path
    }

    public var description: String { "\(kind) \(path)" }
}
