extension ZooKeeperClient {
    /// Creates `path` and any missing parents as persistent nodes with `acl`; nodes that exist
    /// already (also when another client creates them concurrently) are left as they are.
    public func ensurePath(_ path: String, acl: [ACL] = ACL.openUnsafe) async throws {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if try await exists(current) != nil { continue }
            do {
                try await create(current, mode: .persistent, acl: acl)
            } catch let error as ZooKeeperError where error.code == .nodeExists {
                continue
            }
        }
    }

    /// Deletes `path` and everything below it; a node that is already gone is not an error, and a
    /// child added meanwhile by another client is deleted too (a few rounds, then `.notEmpty`).
    public func deleteRecursively(_ path: String) async throws {
        var attempt = 0
        while true {
            let children: [String]
            do {
                children = try await self.children(path)
            } catch let error as ZooKeeperError where error.code == .noNode {
                return
            }
            for child in children {
                try await deleteRecursively(path == "/" ? "/\(child)" : "\(path)/\(child)")
            }
            guard path != "/" else { return }
            do {
                try await delete(path)
                return
            } catch let error as ZooKeeperError where error.code == .noNode {
                return
            } catch let error as ZooKeeperError where error.code == .notEmpty && attempt < 10 {
                attempt += 1
            }
        }
    }
}
