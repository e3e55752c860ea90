import Foundation
import Synchronization
import WeEvent

/// Where the identities of the HTTP API are kept: beside the ledgers, in the same store, so every
/// instance of a cluster knows the same ones (docs/api.md "Access control"). Each change bumps a
/// revision number, which instances poll to notice another instance's changes.
public protocol IdentityStore: Sendable {
    /// Changes with every change made through any instance.
    func revision() async throws -> Int64
    /// Every identity, with the revision they are as of.
    func load() async throws -> (revision: Int64, identities: [Identity])
    /// Adds `identity`; false when its name is taken.
    func add(_ identity: Identity) async throws -> Bool
    /// Changes the named identity in one transaction; nil when there is none.
    func update(name: String, _ change: @escaping @Sendable (inout Identity) throws -> Void) async throws -> Identity?
    /// Removes the named identity; false when there is none.
    func remove(name: String) async throws -> Bool
}

extension Identity {
    /// The rights as stored: JSON, one object per right.
    func rightsJSON() throws -> String {
        String(decoding: try JSONEncoder.sorted.encode(rights), as: UTF8.self)
    }

    static func rights(json: String) throws -> Rights {
        try JSONDecoder().decode(Rights.self, from: Data(json.utf8))
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// Identities in memory, for tests and tools without a store.
public final class MemoryIdentityStore: IdentityStore {
    private let state = Mutex<(revision: Int64, identities: [String: Identity])>((0, [:]))

    public init() {}

    public func revision() async throws -> Int64 { state.withLock { $0.revision } }

    public func load() async throws -> (revision: Int64, identities: [Identity]) {
        state.withLock { ($0.revision, $0.identities.values.sorted { $0.name < $1.name }) }
    }

    public func add(_ identity: Identity) async throws -> Bool {
        state.withLock { state in
            guard state.identities[identity.name] == nil else { return false }
            state.identities[identity.name] = identity
            state.revision += 1
            return true
        }
    }

    public func update(name: String, _ change: @escaping @Sendable (inout Identity) throws -> Void) async throws -> Identity? {
        try state.withLock { state in
            guard var identity = state.identities[name] else { return nil }
            try change(&identity)
            state.identities[name] = identity
            state.revision += 1
            return identity
        }
    }

    public func remove(name: String) async throws -> Bool {
        state.withLock { state in
            guard state.identities.removeValue(forKey: name) != nil else { return false }
            state.revision += 1
            return true
        }
    }
}
