import BrokerConfiguration
import Hummingbird
import Ledger
import WeEvent

/// The group tree for auditors (docs/audit.md): the latest (or a named) signed checkpoint with
/// its witnesses' cosignatures, consistency proofs between tree sizes, and where witnesses hand
/// their cosignatures back. Open to every caller the white table lets in: what they answer is
/// signed or checkable, and a cosignature is kept only when it verifies under a key in
/// `ledger.witnesses`.
struct AuditRoutes {
    let ledgers: LedgerSet
    let witnesses: [NoteVerifier]

    init(ledgers: LedgerSet, configuration: BrokerConfiguration.Configuration) {
        self.ledgers = ledgers
        // Each key was checked when the broker started (`weevent serve` stops on a bad one).
        self.witnesses = configuration.ledger.witnesses.compactMap { NoteVerifier($0) }
    }

    func add(to api: Endpoints) {
        let ledgers = ledgers
        let witnesses = witnesses
        api.add("rest/checkpoint") { p in
            let ledger = try ledgers.ledger(p["groupId"])
            let size = try p["treeSize"].map { raw throws(WeEventError) in try ReadingRoutes.treeSize(raw, name: "treeSize") }
            guard let found = try await ledger.checkpoint(size: size) else {
                let which = size.map { "of tree size \($0)" } ?? "yet"
                throw WeEventError(.checkpointNotFound, message: "no signed checkpoint \(which) in group \(ledger.groupID)")
            }
            return Self.text(found.note)
        }
        api.add("rest/consistency") { p in
            let ledger = try ledgers.ledger(p["groupId"])
            guard let rawFrom = p["from"] else {
                throw WeEventError(.treeSizeInvalid, message: "invalid tree size: from is required (the tree size you hold a checkpoint of)")
            }
            let from = try ReadingRoutes.treeSize(rawFrom, name: "from")
            let to = try p["to"].map { raw throws(WeEventError) in try ReadingRoutes.treeSize(raw, name: "to") }
            return try JSONBody.response(ConsistencyBody(groupId: ledger.groupID, try await ledger.consistency(from: from, to: to)))
        }
        api.add("rest/cosign") { p in
            let ledger = try ledgers.ledger(p["groupId"])
            guard !witnesses.isEmpty else {
                throw WeEventError(.cosignatureRefused, message: "cosignature refused: ledger.witnesses lists no witness keys")
            }
            guard let note = p["note"], !note.isEmpty else {
                throw WeEventError(.cosignatureRefused, message: "cosignature refused: note (the cosigned checkpoint) is required")
            }
            let kept = try await ledger.addCosignatures(note, witnesses: witnesses)
            return try JSONBody.response(CosignBody(groupId: ledger.groupID, witnesses: kept))
        }
    }

    struct CosignBody: Encodable {
        let groupId: String
        /// The witnesses whose cosignatures were kept.
        let witnesses: [String]
    }

    static func text(_ body: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain;charset=UTF-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
