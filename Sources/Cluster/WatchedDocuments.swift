import Foundation
import ZooKeeper

/// JSON documents kept in ZooKeeper and shared by every instance, one node each:
///
///     <root>                  data: bumped on every change that watchers must see (one watch sees them all)
///     <root>/<folder>/<name>  one document (no folder: <root>/<name>)
///
/// Changes are compare-and-set on the node's version, so concurrent writers on different
/// instances never lose one another's change; a writer that lost the race reads again and
/// re-applies its change. The bindings and the callback subscriptions are stored this way.
public struct WatchedDocuments<Document: Codable & Sendable>: Sendable {
    let coordinator: ZooKeeperCoordinator
    public let root: String
    let folders: [String]
    let what: String

    /// - Parameters:
    ///   - root: the path of the root node, e.g. `coordinator.root + "/subscriptions"`.
    ///   - folders: the sub-folders documents live in; `[""]` when they are the root's children.
    ///   - what: names the documents in logs ("bindings").
    public init(coordinator: ZooKeeperCoordinator, root: String, folders: [String] = [""], what: String) {
        self.coordinator = coordinator
        self.root = root
        self.folders = folders
        self.what = what
    }

    /// The path of a document; `name` must be a node name (see `NodeName`).
    public func path(folder: String = "", _ name: String) -> String {
        folder.isEmpty ? "\(root)/\(name)" : "\(root)/\(folder)/\(name)"
    }

    /// Every document, folder by folder, each folder in node-name order.
    public func all() async throws -> [Document] {
        try await coordinator.request { client in try await read(client) }
    }

    /// Replaces the document at `path` with what `change` makes of the current one (nil: there
    /// is none), creating the node if needed; `change` returning nil leaves everything as it is.
    /// Bumps the root when something was written and `notify` is set. Returns the document
    /// stored afterwards (nil: none).
    @discardableResult
    public func modify(
        _ path: String, notify: Bool = true, _ change: (Document?) throws -> Document?
    ) async throws -> Document? {
        try await coordinator.request { client in
            while true {
                let current: (document: Document, version: Int32)?
                do {
                    let node = try await client.get(path)
                    current = (try JSONDecoder().decode(Document.self, from: Data(node.data)), node.stat.version)
                } catch let error as ZooKeeperError where error.code == .noNode {
                    current = nil
                }
                guard let next = try change(current?.document) else { return current?.document }
                do {
                    if let current {
                        try await client.set(path, data: Self.encode(next), version: current.version)
                    } else {
                        try await create(path, data: Self.encode(next), client: client)
                    }
                } catch let error as ZooKeeperError where [.badVersion, .nodeExists, .noNode].contains(error.code) {
                    continue  // another writer came first: read again
                }
                if notify { try await bump(client) }
                return next
            }
        }
    }

    /// Creates the document at `path` (a new node) unless `limit` documents exist: the count
    /// and the creation hold together across instances. The root's version is read with the
    /// count and the root is bumped only at that version; when another writer changed the set
    /// meanwhile the node is removed again and everything is counted anew. False when full.
    public func add(_ path: String, _ document: Document, limit: Int) async throws -> Bool {
        try await coordinator.request { client in
            while true {
                let version: Int32
                do {
                    version = try await client.get(root).stat.version
                } catch let error as ZooKeeperError where error.code == .noNode {
                    try await client.ensurePath(root, acl: coordinator.acl)
                    continue
                }
                var count = 0
                for folder in folders {
                    do {
                        count += try await client.children(folder.isEmpty ? root : "\(root)/\(folder)").count
                    } catch let error as ZooKeeperError where error.code == .noNode {
                        continue
                    }
                }
                guard count < limit else { return false }
                try await create(path, data: Self.encode(document), client: client)
                do {
                    try await client.set(root, data: Array("\(Date().timeIntervalSince1970)".utf8), version: version)
                    return true
                } catch let error as ZooKeeperError where error.code == .badVersion {
                    try? await client.delete(path)  // another writer came first: count again
                }
            }
        }
    }

    /// Removes the document at `path`; false if there was none.
    @discardableResult
    public func remove(_ path: String) async throws -> Bool {
        try await coordinator.request { client in
            do {
                try await client.delete(path)
            } catch let error as ZooKeeperError where error.code == .noNode {
                return false
            }
            try await bump(client)
            return true
        }
    }

    /// Every document now, then again after every change that bumped the root (from any
    /// instance), across sessions, for as long as the stream is consumed.
    public func changes() -> AsyncStream<[Document]> {
        coordinator.snapshots(watching: root, what: what) { client in try await read(client) }
    }

    private func read(_ client: ZooKeeperClient) async throws -> [Document] {
        var all: [Document] = []
        let decoder = JSONDecoder()
        for folder in folders {
            let directory = folder.isEmpty ? root : "\(root)/\(folder)"
            let names: [String]
            do {
                names = try await client.children(directory)
            } catch let error as ZooKeeperError where error.code == .noNode {
                continue
            }
            for name in names.sorted() {
                do {
                    let node = try await client.get("\(directory)/\(name)")
                    all.append(try decoder.decode(Document.self, from: Data(node.data)))
                } catch let error as ZooKeeperError where error.code == .noNode {
                    continue  // removed meanwhile
                }
            }
        }
        return all
    }

    /// Creates the node, and its folder first when that does not exist yet.
    private func create(_ path: String, data: [UInt8], client: ZooKeeperClient) async throws {
        do {
            try await client.create(path, data: data, acl: coordinator.acl)
        } catch let error as ZooKeeperError where error.code == .noNode {
            try await client.ensurePath(String(path[..<path.lastIndex(of: "/")!]), acl: coordinator.acl)
            try await client.create(path, data: data, acl: coordinator.acl)
        }
    }

    private func bump(_ client: ZooKeeperClient) async throws {
        do {
            try await client.set(root, data: Array("\(Date().timeIntervalSince1970)".utf8))
        } catch let error as ZooKeeperError where error.code == .noNode {
            try await client.ensurePath(root, acl: coordinator.acl)
        }
    }

    static func encode(_ document: Document) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(document))
    }
}
