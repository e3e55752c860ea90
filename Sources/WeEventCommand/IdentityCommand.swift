import ArgumentParser
import AsyncHTTPClient
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
            A right is ACTIONS[@GROUPS][:TOPICS]: actions among publish, read, request, manage, admin; groups a \
            comma-separated list or * (default); topics a comma-separated list of names and MQTT-style patterns \
            (default #). Example: weevent identity add sensor-gw 'publish,read@1:sensors/#'. The token of the \
            identity running the command (one holding admin, or the broker's master or admin token) is read from \
            WEEVENT_TOKEN or --token-file. Exit codes: 0 done, 1 refused by the broker, 2 bad usage, 3 the broker \
            could not be reached.
            """,
        subcommands: [Add.self, List.self, Grant.self, Revoke.self, Renew.self]
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
                print("\(identity["name"] as? String ?? "?")  \(IdentityCommand.rightsText(identity["rights"]))  (changed \(changed))")
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
