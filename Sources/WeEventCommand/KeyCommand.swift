import ArgumentParser
import BrokerConfiguration
import Foundation
import Ledger

/// `weevent key show`: the verifier keys of the broker's checkpoints, one per group.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "The key the broker signs its checkpoints with.", subcommands: [KeyShowCommand.self]
    )
}

struct KeyShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print each group's checkpoint verifier key (signed-note vkey); make the key file first when there is none.",
        discussion: """
            The key file is ledger.signing-key (default: signing.key under ledger.path), mode 0600. \
            Every instance of a cluster must use the same file: make it once with this command and copy it.
            """
    )

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let logger = options.bootstrapLogging()
        let configuration = try options.load(logger: logger)
        let (key, created) = try loadCheckpointKey(configuration.ledger)
        if created {
            FileHandle.standardError.write(Data("weevent: made a new checkpoint signing key at \(configuration.ledger.signingKeyPath)\n".utf8))
        }
        for group in configuration.ledger.groups { print(key.verifier(group: group)) }
    }
}

/// The checkpoint signing key of `ledger.signing-key`, made when there is none; a file that
/// cannot be read or made is said on standard error and ends the command with exit 2.
func loadCheckpointKey(_ ledger: LedgerSettings) throws -> (key: CheckpointKey, created: Bool) {
    do {
        return try CheckpointKey.loadOrCreate(path: ledger.signingKeyPath, origin: ledger.origin)
    } catch {
        FileHandle.standardError.write(Data("weevent: \(error)\n".utf8))
        throw ExitCode(2)
    }
}
