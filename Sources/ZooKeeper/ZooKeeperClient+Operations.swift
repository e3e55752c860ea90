internal import CZooKeeper

/// Node operations and authentication: each submits one C call and checks its result code.
extension ZooKeeperClient {
    // MARK: Operations

    /// Creates a node and returns its path (for sequential modes, with the counter appended).
    @discardableResult
    public func create(
        _ path: String,
        data: [UInt8] = [],
        mode: CreateMode = .persistent,
        acl: [ACL] = ACL.openUnsafe
    ) async throws -> String {
        let cMode: Int32 =
            switch mode {
            case .persistent: czk_mode_persistent()
            case .ephemeral: czk_mode_ephemeral()
            case .persistentSequential: czk_mode_persistent_sequential()
            case .ephemeralSequential: czk_mode_ephemeral_sequential()
            }
        let reply = try await submit(.create, path) { handle, box in
            withCACL(acl) { cACL in
                data.withUnsafeBytes { bytes in
                    zoo_acreate(
                        handle, path, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                        Int32(bytes.count), cACL, cMode, zkStringCompletion, box
                    )
                }
            }
        }
        try check(reply, .create, path)
        return reply.string ?? path
    }

    /// The node's data and stat.
    public func get(_ path: String) async throws -> NodeData {
        let reply = try await submit(.get, path) { handle, box in
            zoo_aget(handle, path, 0, zkDataCompletion, box)
        }
        try check(reply, .get, path)
        return NodeData(data: reply.data ?? [], stat: reply.stat ?? Stat())
    }

    /// Replaces the node's data if its version is `version` (any version when `nil`); throws
    /// `.badVersion` otherwise. Returns the new stat.
    @discardableResult
    public func set(_ path: String, data: [UInt8], version: Int32? = nil) async throws -> Stat {
        let reply = try await submit(.set, path) { handle, box in
            data.withUnsafeBytes { bytes in
                zoo_aset(
                    handle, path, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count),
                    version ?? -1, zkStatCompletion, box
                )
            }
        }
        try check(reply, .set, path)
        return reply.stat ?? Stat()
    }

    /// Deletes the node if its version is `version` (any version when `nil`). Throws `.noNode`,
    /// `.badVersion`, `.notEmpty`.
    public func delete(_ path: String, version: Int32? = nil) async throws {
        try await delete(path, version: version, cancellable: true)
    }

    func delete(_ path: String, version: Int32?, cancellable: Bool) async throws {
        let reply = try await submit(.delete, path, cancellable: cancellable) { handle, box in
            zoo_adelete(handle, path, version ?? -1, zkVoidCompletion, box)
        }
        try check(reply, .delete, path)
    }

    /// The names (not paths) of the node's children, in no particular order.
    public func children(_ path: String) async throws -> [String] {
        try await children(path, watch: false)
    }

    /// The node's stat, or `nil` if there is no such node.
    public func exists(_ path: String) async throws -> Stat? {
        try await exists(path, watch: false)
    }

    func children(_ path: String, watch: Bool, cancellable: Bool = true) async throws -> [String] {
        let reply = try await submit(.children, path, cancellable: cancellable) { handle, box in
            zoo_aget_children(handle, path, watch ? 1 : 0, zkStringsCompletion, box)
        }
        try check(reply, .children, path)
        return reply.strings ?? []
    }

    func exists(_ path: String, watch: Bool, cancellable: Bool = true) async throws -> Stat? {
        let reply = try await submit(.exists, path, cancellable: cancellable) { handle, box in
            zoo_aexists(handle, path, watch ? 1 : 0, zkStatCompletion, box)
        }
        if reply.rc == ZNONODE.rawValue { return nil }
        try check(reply, .exists, path)
        return reply.stat
    }

    // MARK: Authentication

    /// Adds authentication information for this session (and its later reconnections).
    /// Throws `.authFailed` if the server rejects it; the session is then unusable.
    public func addAuth(scheme: String, credentials: [UInt8]) async throws {
        let reply = try await submit(.addAuth, scheme) { handle, box in
            credentials.withUnsafeBytes { bytes in
                zoo_add_auth(
                    handle, scheme, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count),
                    zkVoidCompletion, box
                )
            }
        }
        try check(reply, .addAuth, scheme)
    }

    /// `digest` authentication as `user` (matches `ACL.digest(user:password:)` entries).
    public func addDigestAuth(user: String, password: String) async throws {
        try await addAuth(scheme: "digest", credentials: Array("\(user):\(password)".utf8))
    }

    private func check(_ reply: Reply, _ operation: ZooKeeperError.Operation, _ path: String) throws {
        if reply.rc != ZOK.rawValue { throw ZooKeeperError(rc: reply.rc, operation, path) }
    }
}

/// Lends `acl` to the C library as a `struct ACL_vector` for the duration of `body` (the C calls
/// serialise the request before they return).
private func withCACL<R>(_ acl: [ACL], _ body: (UnsafePointer<ACL_vector>) -> R) -> R {
    var strings: [UnsafeMutablePointer<CChar>?] = []
    defer { strings.forEach { free($0) } }
    var entries: [CZooKeeper.ACL] = acl.map { entry in
        let scheme = strdup(entry.scheme)
        let id = strdup(entry.id)
        strings.append(scheme)
        strings.append(id)
        return CZooKeeper.ACL(perms: entry.permissions.rawValue, id: Id(scheme: scheme, id: id))
    }
    return entries.withUnsafeMutableBufferPointer { buffer in
        var vector = ACL_vector(count: Int32(buffer.count), data: buffer.baseAddress)
        return withUnsafePointer(to: &vector) { body($0) }
    }
}
