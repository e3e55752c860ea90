import Foundation
import NIOCore
import PostgresNIO
import WeEvent

/// Retention on the shared store: each step is one autocommitted statement (synchronous commit:
/// durable when it returns). Instances pruning the same group at once do not conflict: an
/// event already pruned is left as it is.
extension PostgresDriver {
    func topicNames() async throws -> [String] {
        try await fetchRows("SELECT name FROM topics WHERE group_id = \(groupID)") { try $0.decode(String.self) }
    }

    func prunable(after position: UInt64, through: UInt64, topics: [String]?, limit: Int) async throws -> [PrunableEvent] {
        guard position < through, limit > 0, topics?.isEmpty != true else { return [] }
        let (lower, upper, group) = (Int64(clamping: position), Int64(clamping: through), groupID)
        let rows = try await fetchRows(
            topics.map { topics in
                """
                SELECT position, extensions, octet_length(content) + octet_length(extensions) FROM events
                WHERE group_id = \(group) AND position > \(lower) AND position <= \(upper) AND pruned_at = 0 AND topic = ANY(\(topics))
                ORDER BY position LIMIT \(limit)
                """
            }
                ?? """
                SELECT position, extensions, octet_length(content) + octet_length(extensions) FROM events
                WHERE group_id = \(group) AND position > \(lower) AND position <= \(upper) AND pruned_at = 0
                ORDER BY position LIMIT \(limit)
                """
        ) { try $0.decode((Int64, String, Int32).self) }
        return rows.map { PrunableEvent(position: UInt64(clamping: $0.0), extensions: ExtensionCoding.decode($0.1), bytes: UInt64(clamping: $0.2)) }
    }

    func retainedBytes(after position: UInt64, through: UInt64, topics: [String]?) async throws -> UInt64 {
        guard position < through, topics?.isEmpty != true else { return 0 }
        let (lower, upper, group) = (Int64(clamping: position), Int64(clamping: through), groupID)
        let rows = try await fetchRows(
            topics.map { topics in
                """
                SELECT COALESCE(SUM(octet_length(content) + octet_length(extensions)), 0)::bigint FROM events
                WHERE group_id = \(group) AND position > \(lower) AND position <= \(upper) AND pruned_at = 0 AND topic = ANY(\(topics))
                """
            }
                ?? """
                SELECT COALESCE(SUM(octet_length(content) + octet_length(extensions)), 0)::bigint FROM events
                WHERE group_id = \(group) AND position > \(lower) AND position <= \(upper) AND pruned_at = 0
                """
        ) { try $0.decode(Int64.self) }
        return UInt64(clamping: rows.first ?? 0)
    }

    func prune(_ changes: [PruneChange]) async throws -> Int {
        guard !changes.isEmpty else { return 0 }
        return try await fetchRows(Self.pruneQuery(group: groupID, changes)) { _ in () }.count
    }

    /// Prunes the events named that still hold their content; returns a row per event pruned.
    static func pruneQuery(group: String, _ changes: [PruneChange]) -> PostgresQuery {
        let positions = changes.map { Int64(clamping: $0.position) }
        let extensions = changes.map { ExtensionCoding.encode($0.extensions) }
        let times = changes.map(\.time)
        let reasons = changes.map { Int32($0.reason.rawValue) }
        return """
            UPDATE events e SET content = ''::bytea, extensions = c.extensions, pruned_at = c.at, pruned_reason = c.reason
            FROM unnest(\(positions)::bigint[], \(extensions)::text[], \(times)::bigint[], \(reasons)::int4[]) AS c(position, extensions, at, reason)
            WHERE e.group_id = \(group) AND e.position = c.position AND e.pruned_at = 0
            RETURNING e.position
            """
    }

    /// VACUUM makes the space of the old row versions reusable for new events, so the table
    /// stops growing; it is not given back to the file system (VACUUM FULL would lock the table).
    func reclaimSpace() async throws -> Int64 {
        _ = try await fetchRows("VACUUM (SKIP_LOCKED) events") { _ in () }
        return 0
    }

    /// VACUUM removes the old row version that held the erased content. (PostgreSQL's WAL
    /// segments, archives and base backups keep it until they are recycled: docs/ledger.md.)
    func scrub() async throws {
        _ = try await fetchRows("VACUUM events") { _ in () }
    }
}
