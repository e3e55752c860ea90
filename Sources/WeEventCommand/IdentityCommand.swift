import ArgumentParser
import AsyncHTTPClient
import Crypto
import Foundation
import WeEvent

/// `weevent identity add|list|grant|revoke|renew`: the identities of a running broker, through
/// its admin endpoints (docs/api.md "Access control"). The caller's own token comes from
/// `WEEVENT_TOKEN` or `--token-file`, never from the command line, where `ps` would show it.
struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Add, list, change and revoke the identities of a running broker.",
        discussion: """
            Signed events: keygen makes a key file and prints its public key, key registers it (--required refuses \
            unsigned events of the identity), sign prints the weevent-signature to send with an event. \
            A right is ACTIONS[@GROUPS][:TOPICS]: actions among publish, read, request, manage, admin; groups a \
            comma-separated list or * (default); topics a comma-separated list of names and MQTT-style patterns \
            (default #). Example: weevent identity add sensor-gw 'publish,read@1:sensors/#'. The token of the \
            identity running the command (one holding admin, or the broker's master or admin token) is read from \
            WEEVENT_TOKEN or --token-file. Exit codes: 0 done, 1 refused by the broker, 2 bad usage, 3 the broker \
            could not be reached.
            """,
        subcommands: [Add.self, List.self, Grant.self, Revoke.self, Renew.self, Limit.self, Key.self, Keygen.self, Sign.self]
    )

    struct Connection: ParsableArguments {
        @Option(help: "The broker's base URL.") var broker: String = "http://127.0.0.1:8080"
        @Option(help: "A file holding the caller's token (default: the WEEVENT_TOKEN variable).") var tokenFile: String?
        @Flag(help: "Print the broker's JSON answer as it is.") var json = false

        func validate() throws {
            guard let url = URL(string: broker), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ValidationError("--broker must be an http:// or https:// URL, got '\(broker)'")
            }
        }

        func api() throws -> BrokerAPI {
            var token = ProcessInfo.processInfo.environment["WEEVENT_TOKEN"]
            if let tokenFile {
                do {
                    token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                } catch {
                    IdentityCommand.say("cannot read --token-file \(tokenFile): \(error.localizedDescription)")
                    throw ExitCode(2)
                }
            }
            let base = broker.hasSuffix("/") ? String(broker.dropLast()) : broker
            return BrokerAPI(http: HTTPClient.shared, base: base, token: token?.isEmpty == true ? nil : token)
        }

        /// Calls `path` with `form`; the answer's JSON, or exits 1 (refused) or 3 (unreachable).
        func call(_ path: String, _ form: [(String, String)]) async throws -> Any {
            let api = try api()
            let body = form.map { "\($0.0)=\(api.escaped($0.1))" }.joined(separator: "&")
            let status: UInt
            let text: String
            do {
                (status, text) = try await api.call(path, body: body)
            } catch {
                IdentityCommand.say("\(error)")
                throw ExitCode(3)
            }
            let answer = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            guard status == 200, let answer else {
                let object = answer as? [String: Any]
                let code = object?["code"].map { "\($0) " } ?? ""
                IdentityCommand.say("refused (HTTP \(status)): \(code)\(object?["message"] as? String ?? String(text.prefix(300)))")
                throw ExitCode(1)
            }
            if json { print(text) }
            return answer
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an identity and print its token, shown only this once.")
        @OptionGroup var connection: Connection
        @Argument(help: "Its name: 1 to 64 letters, digits, '.', '_' or '-'.") var name: String
        @Argument(help: "Its rights, ACTIONS[@GROUPS][:TOPICS] each.") var rights: [String] = []

        func run() async throws {
            let answer = try await connection.call("admin/addIdentity", [("name", name), ("rights", rights.joined(separator: " "))])
            if connection.json { return }
            let object = answer as? [String: Any] ?? [:]
            print("identity \(name) added; its token, shown only now:")
            print(object["token"] as? String ?? "?")
            print("rights: \(IdentityCommand.rightsText(object["rights"]))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the identities and their rights.")
        @OptionGroup var connection: Connection

        func run() async throws {
            let answer = try await connection.call("admin/listIdentity", [])
            if connection.json { return }
            let identities = answer as? [[String: Any]] ?? []
            if identities.isEmpty { print("no identities") }
            for identity in identities {
                let changed = (identity["changed"] as? Int).map { Date(timeIntervalSince1970: Double($0) / 1000).ISO8601Format() } ?? "?"
                var extras: [String] = []
                if identity["publicKey"] is String {
                    extras.append(identity["signaturesRequired"] as? Bool == true ? "signs (required)" : "may sign")
                }
                if let limit = identity["rateLimit"] as? [String: Any] {
                    extras.append("limit \(limit["perSecond"] ?? "?")/s, burst \(limit["burst"] ?? "?")")
                }
                extras.append("changed \(changed)")
                print("\(identity["name"] as? String ?? "?")  \(IdentityCommand.rightsText(identity["rights"]))  (\(extras.joined(separator: ", ")))")
            }
        }
    }

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give an identity more rights.")
        @OptionGroup var connection: Connection
        @Argument var name: String
        @Argument(help: "The rights to add, ACTIONS[@GROUPS][:TOPICS] each.") var rights: [String]

        func validate() throws {
            if rights.isEmpty { throw ValidationError("name at least one right to grant") }
        }

        func run() async throws {
            let answer = try await connection.call("admin/grantIdentity", [("name", name), ("rights", rights.joined(separator: " "))])
            if !connection.json { print("\(name): \(IdentityCommand.rightsText((answer as? [String: Any])?["rights"]))") }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take rights from an identity, or, with no right named, remove it (its token is refused from then on).")
        @OptionGroup var connection: Connection
        @Argument var name: String
        @Argument(help: "The rights to take away; none: remove the identity.") var rights: [String] = []

        func run() async throws {
            var form = [("name", name)]
            if !rights.isEmpty { form.append(("rights", rights.joined(separator: " "))) }
            let answer = try await connection.call("admin/revokeIdentity", form)
            if connection.json { return }
            if rights.isEmpty {
                print("identity \(name) removed")
            } else {
                print("\(name): \(IdentityCommand.rightsText((answer as? [String: Any])?["rights"]))")
            }
        }
    }

    struct Renew: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give an identity a new token (printed once); the old one is refused from then on.")
        @OptionGroup var connection: Connection
        @Argument var name: String

        func run() async throws {
            let answer = try await connection.call("admin/renewIdentityToken", [("name", name)])
            if connection.json { return }
            print("identity \(name) has a new token, shown only now:")
            print((answer as? [String: Any])?["token"] as? String ?? "?")
        }
    }

    struct Limit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give an identity a limit of publishes and requests of its own, or take it back to access.rate.*.")
        @OptionGroup var connection: Connection
        @Argument var name: String
        @Option(help: "Calls per second on average; 0: no limit.") var perSecond: Int?
        @Option(help: "Calls at once (default: --per-second).") var burst: Int?
        @Flag(name: .customLong("default"), help: "Follow access.rate.* again.") var useDefault = false

        func validate() throws {
            if useDefault == (perSecond != nil) { throw ValidationError("give --per-second or --default") }
            if useDefault && burst != nil { throw ValidationError("--burst goes with --per-second") }
        }

        func run() async throws {
            var form = [("name", name)]
            if let perSecond { form.append(("perSecond", String(perSecond))) }
            if let burst { form.append(("burst", String(burst))) }
            let answer = try await connection.call("admin/setIdentityLimit", form)
            if connection.json { return }
            let limit = (answer as? [String: Any])?["rateLimit"] as? [String: Any]
            print("\(name): " + (limit.map { "\($0["perSecond"] ?? "?")/s, burst \($0["burst"] ?? "?")" } ?? "the configured limit (access.rate.*)"))
        }
    }

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an identity's Ed25519 public key (its signed events are checked against it), or remove it.")
        @OptionGroup var connection: Connection
        @Argument var name: String
        @Option(help: "The public key, standard base64 of 32 bytes (what `weevent identity keygen` prints).") var publicKey: String?
        @Flag(help: "Remove the key (and the requirement).") var none = false
        @Flag(help: "Refuse every event of this identity that is not signed.") var required = false

        func validate() throws {
            if none == (publicKey != nil) { throw ValidationError("give --public-key or --none") }
            if none && required { throw ValidationError("--required needs a key") }
        }

        func run() async throws {
            let answer = try await connection.call(
                "admin/setIdentityKey", [("name", name), ("publicKey", publicKey ?? ""), ("signaturesRequired", String(required))])
            if connection.json { return }
            let object = answer as? [String: Any] ?? [:]
            let key = object["publicKey"] as? String
            print("\(name): " + (key.map { "public key \($0)" } ?? "no key") + (object["signaturesRequired"] as? Bool == true ? ", signatures required" : ""))
        }
    }

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an Ed25519 key file (mode 0600) for signing events, and print its public key.")
        @Option(help: "The key file to make; an existing one is read, not replaced.") var key: String

        func run() throws {
            let privateKey = try IdentityCommand.loadOrMakeKey(key)
            print(Data(privateKey.publicKey.rawRepresentation).base64EncodedString())
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the weevent-signature of an event: over its group, topic, publisher, content and extensions.")
        @Option(help: "The key file (`weevent identity keygen`).") var key: String
        @Option(help: "The publishing identity's name.") var publisher: String
        @Option var topic: String
        @Option var group: String = "1"
        @Option(help: "The content, as sent.") var content: String?
        @Option(help: "A file holding the content.") var contentFile: String?
        @Option(name: .customLong("extension"), help: "An extension as sent, weevent-KEY=VALUE (repeatable).") var extensions: [String] = []

        func validate() throws {
            if (content == nil) == (contentFile == nil) { throw ValidationError("give --content or --content-file") }
            for item in extensions where !item.hasPrefix(Validation.extensionPrefix) || !item.contains("=") {
                throw ValidationError("--extension takes weevent-KEY=VALUE, got '\(item)'")
            }
        }

        func run() throws {
            guard FileManager.default.fileExists(atPath: key) else {
                IdentityCommand.say("no key file at \(key) (make one with weevent identity keygen)")
                throw ExitCode(2)
            }
            let privateKey = try IdentityCommand.loadOrMakeKey(key)
            let bytes: [UInt8]
            if let contentFile {
                guard let data = FileManager.default.contents(atPath: contentFile) else {
                    IdentityCommand.say("cannot read --content-file \(contentFile)")
                    throw ExitCode(2)
                }
                bytes = Array(data)
            } else {
                bytes = Array((content ?? "").utf8)
            }
            var map: [String: String] = [:]
            for item in extensions {
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                map[String(parts[0])] = String(parts[1])
            }
            let message = EventSignature.message(group: group, topic: topic, publisher: publisher, content: bytes, extensions: map)
            print(try EventSignature.sign(message, privateKey: Array(privateKey.rawRepresentation)))
        }
    }

    /// The key file: standard base64 of the 32-byte Ed25519 seed, made (mode 0600) when absent.
    static func loadOrMakeKey(_ path: String) throws -> Curve25519.Signing.PrivateKey {
        if !FileManager.default.fileExists(atPath: path) {
            let made = Curve25519.Signing.PrivateKey()
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty { try PrivateFiles.directory(directory) }
            if try PrivateFiles.create(path, contents: Array((Data(made.rawRepresentation).base64EncodedString() + "\n").utf8)) {
                say("made a new signing key at \(path)")
                return made
            }
        }
        guard let text = FileManager.default.contents(atPath: path).flatMap({ String(data: $0, encoding: .utf8) }),
            let seed = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), seed.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        else {
            say("\(path) is not an event signing key (base64 of a 32-byte Ed25519 seed)")
            throw ExitCode(2)
        }
        return key
    }

    /// Rights as the broker answers them, in their text form.
    static func rightsText(_ json: Any?) -> String {
        guard let list = json as? [Any], let data = try? JSONSerialization.data(withJSONObject: list),
            let rights = try? JSONDecoder().decode(Rights.self, from: data)
        else { return "?" }
        return rights.description
    }

    static func say(_ text: String) {
        FileHandle.standardError.write(Data("weevent identity: \(text)\n".utf8))
    }
}
