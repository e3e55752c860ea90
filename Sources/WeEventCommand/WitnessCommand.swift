import ArgumentParser
import AsyncHTTPClient
import Foundation
import Ledger
import NIOCore
import WeEvent

/// `weevent witness`: follows one group's checkpoints on a broker, accepts each only when the
/// broker's key signed it and it extends the last one this witness accepted (a consistency
/// proof), cosigns it and hands the cosignature back (rest/cosign). A checkpoint that is
/// unsigned, badly signed, smaller, forked or inconsistent stops it: it prints why and both
/// checkpoints, and exits 1.
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "Cosign a broker's checkpoints that extend the last one this witness accepted; exit 1 on a rewrite or a fork.",
        discussion: """
            The key file (--key) is made at first use, mode 0600; its verifier key is printed on standard error \
            and belongs in the broker's ledger.witnesses. The state file (--state) keeps the broker's key and the \
            last accepted checkpoint, so a witness restarted later still catches a rewrite made meanwhile. The \
            first run needs --broker-key (what `weevent key show` prints for the group); later runs take it from \
            the state file. Exit codes: 0 stopped (or --once done), 1 a checkpoint refused, 2 bad usage or files, \
            3 the broker could not be reached (--once only; otherwise it retries).
            """
    )

    @Option(help: "The broker's base URL, e.g. http://127.0.0.1:8080.") var broker: String?
    @Option(help: "The group whose log to witness.") var group: String = "1"
    @Option(help: "This witness's key file (made, mode 0600, when absent).") var key: String
    @Option(help: "This witness's state file (made when absent).") var state: String?
    @Option(help: "The witness's name, used when its key is made.") var name: String = "witness-\(ProcessInfo.processInfo.hostName)"
    @Option(help: "The broker's verifier key for the group (first run; then kept in the state file).") var brokerKey: String?
    @Option(help: "How often to look for a new checkpoint, in milliseconds.") var intervalMs: Int = 1000
    @Flag(help: "Check and cosign the current checkpoint once, then exit.") var once = false
    @Flag(help: "Print this witness's verifier key (making the key file when absent) and exit.") var printKey = false

    func validate() throws {
        if printKey { return }
        guard let broker, let url = URL(string: broker), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ValidationError("--broker must be an http:// or https:// URL, got '\(broker ?? "")'")
        }
        guard state != nil else { throw ValidationError("--state is required") }
        guard (10...3_600_000).contains(intervalMs) else { throw ValidationError("--interval-ms must be in 10...3600000") }
    }

    func run() async throws {
        let signer: NoteSigner
        do {
            let (made, created) = try NoteSigner.loadOrCreate(path: key, name: name, type: .cosignature)
            signer = made
            if created { say("made a new witness key at \(key)") }
        } catch {
            say("\(error)")
            throw ExitCode(2)
        }
        if printKey {
            print(signer.verifier)
            return
        }
        say("witness key (for the broker's ledger.witnesses): \(signer.verifier)")
        guard let broker, let state else { return }
        var current = try loadState(state)
        guard let logKey = NoteVerifier(current.logKey), logKey.type == .ed25519 else {
            say("the broker key '\(current.logKey)' is not an Ed25519 verifier key (name+id+key)")
            throw ExitCode(2)
        }
        let witness = Witness(signer: signer, log: logKey)
        let api = BrokerAPI(http: HTTPClient.shared, base: broker.hasSuffix("/") ? String(broker.dropLast()) : broker, group: group)
        let stateFile = state
        var handedBack: UInt64?
        var offered: String?
        while true {
            do {
                offered = nil
                if let note = try await api.checkpoint() {
                    offered = note
                    let size = try await review(note, witness: witness, state: &current, file: stateFile, api: api)
                    if handedBack != size {
                        handedBack = size
                        try await handBack(note, witness: witness, api: api)
                    }
                } else {
                    say("no checkpoint yet in group \(group)")
                }
                if once { return }
            } catch let refusal as Witness.Refusal {
                print("REFUSED: \(refusal)")
                print("offered checkpoint:\n\(offered ?? "(none)\n")")
                print("last accepted checkpoint:\n\(current.checkpoint ?? "(none)\n")")
                throw ExitCode(1)
            } catch let unreachable as BrokerAPI.Unreachable {
                say("\(unreachable)")
                if once { throw ExitCode(3) }
            }
            try await Task.sleep(for: .milliseconds(intervalMs))
        }
    }

    /// Checks `note` against the state, asks for a consistency proof when the tree grew, and
    /// keeps it as the last accepted checkpoint; its tree size.
    private func review(_ note: String, witness: Witness, state: inout WitnessState, file: String, api: BrokerAPI) async throws -> UInt64 {
        let offered = try witness.signedCheckpoint(note)
        let last = state.checkpoint.flatMap { SignedNote.parse($0) }.flatMap { Checkpoint(text: $0.text) }
        if let (from, to) = try witness.proofNeeded(from: last, to: offered.checkpoint), let last {
            let proof = try await api.consistency(from: from, to: to)
            try witness.checkConsistency(from: last, to: offered.checkpoint, proof: proof)
        }
        if last != offered.checkpoint {
            // Kept as the log signed it, without other witnesses' cosignatures.
            let own = SignedNote(text: offered.note.text, signatures: offered.note.signatures.filter { witness.log.verifies($0, of: offered.note.text) })
            state.checkpoint = own.encoded
            try saveState(state, to: file)
            print("accepted \(offered.checkpoint.origin) tree size \(offered.checkpoint.size)")
        }
        return offered.checkpoint.size
    }

    /// Hands the cosignature of the accepted checkpoint back to the broker (rest/cosign). A
    /// refusal there (this witness not in ledger.witnesses) is said, not fatal: the checkpoint
    /// was still checked.
    private func handBack(_ note: String, witness: Witness, api: BrokerAPI) async throws {
        guard let parsed = SignedNote.parse(note) else { return }
        let cosigned = try witness.cosign(parsed, time: UInt64(max(0, Date().timeIntervalSince1970)))
        if let problem = try await api.cosign(cosigned) {
            say("the broker did not keep the cosignature: \(problem)")
        } else {
            print("cosigned tree size \(Checkpoint(text: parsed.text)?.size ?? 0)")
        }
    }

    private func loadState(_ state: String) throws -> WitnessState {
        if let data = FileManager.default.contents(atPath: state) {
            guard let loaded = try? JSONDecoder().decode(WitnessState.self, from: data) else {
                say("\(state) is not a witness state file")
                throw ExitCode(2)
            }
            if let brokerKey, brokerKey != loaded.logKey {
                say("\(state) follows the broker key \(loaded.logKey), not --broker-key \(brokerKey); use another state file for another log")
                throw ExitCode(2)
            }
            return loaded
        }
        guard let brokerKey else {
            say("\(state) does not exist: the first run needs --broker-key (what `weevent key show` prints for group \(group))")
            throw ExitCode(2)
        }
        let fresh = WitnessState(logKey: brokerKey)
        try saveState(fresh, to: state)
        return fresh
    }

    private func saveState(_ value: WitnessState, to state: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try PrivateFiles.replace(state, contents: Array(try encoder.encode(value)))
        } catch {
            say("cannot write \(state): \(error)")
            throw ExitCode(2)
        }
    }

    private func say(_ text: String) {
        FileHandle.standardError.write(Data("weevent witness: \(text)\n".utf8))
    }
}

/// The broker's HTTP API as the commands use it (the witness, `weevent identity`).
struct BrokerAPI {
    let http: HTTPClient
    let base: String
    var group = "1"
    /// Sent as `Authorization: Bearer`, when set.
    var token: String?

    struct Unreachable: Error, CustomStringConvertible {
        let description: String
    }

    /// The latest checkpoint (with cosignatures); nil when the group has none yet.
    func checkpoint() async throws -> String? {
        let (status, body) = try await call("rest/checkpoint?groupId=\(escaped(group))")
        if status == 404, body.contains("100311") { return nil }
        guard status == 200 else { throw Unreachable(description: "rest/checkpoint answered \(status): \(body.prefix(300))") }
        return body
    }

    /// The consistency proof between two tree sizes, as the broker answers it.
    func consistency(from: UInt64, to: UInt64) async throws -> [[UInt8]] {
        let (status, body) = try await call("rest/consistency?groupId=\(escaped(group))&from=\(from)&to=\(to)")
        guard status == 200 else {
            throw Witness.Refusal(description: "the broker gives no consistency proof from tree size \(from) to \(to): \(status) \(body.prefix(300))")
        }
        struct Answer: Decodable { let proof: [String] }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body.utf8)) else {
            throw Witness.Refusal(description: "the broker's consistency proof from \(from) to \(to) is malformed")
        }
        var proof: [[UInt8]] = []
        for hex in answer.proof {
            guard let bytes = WeEvent.bytes(hex: hex), bytes.count == 32 else {
                throw Witness.Refusal(description: "the broker's consistency proof holds '\(hex.prefix(80))', not a hash")
            }
            proof.append(bytes)
        }
        return proof
    }

    /// Hands a cosigned checkpoint back; nil when kept, else the broker's answer.
    func cosign(_ note: String) async throws -> String? {
        let form = "groupId=\(escaped(group))&note=\(escaped(note))"
        let (status, body) = try await call("rest/cosign", body: form)
        return status == 200 ? nil : "\(status) \(body.prefix(300))"
    }

    func call(_ path: String, body: String? = nil) async throws -> (UInt, String) {
        var request = HTTPClientRequest(url: "\(base)/weevent/\(path)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: body))
        }
        do {
            let response = try await http.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return (response.status.code, String(buffer: bytes))
        } catch {
            throw Unreachable(description: "\(base) could not be reached: \(error)")
        }
    }

    func escaped(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
