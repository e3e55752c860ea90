import ArgumentParser
import Bridge
import BrokerConfiguration
import Cluster
import Foundation
import Hummingbird
import Ledger
import Logging
import MQTTCLI
import Server
import Subscriptions
import WeEvent

@main
struct Weevent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weevent",
        abstract: "A WeEvent-style event broker: REST API over a hash-chained ledger.",
        subcommands: [Serve.self, Verify.self, LedgerCommand.self, KeyCommand.self, WitnessCommand.self, IdentityCommand.self, MQTTCommand.self]
    )

    /// ArgumentParser's own `main`, except that invalid flags exit 2 (2 is also the
    /// configuration error), not ArgumentParser's 64; and `weevent mqtt pub|sub` runs as
    /// mosquitto_pub/sub do (options file first, usage errors exit 1: docs/mqtt-cli.md).
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "mqtt", arguments.count > 1, ["pub", "sub"].contains(arguments[1]) {
            await MQTTTool.main(WeeventMQTTCommand.self, leading: [], arguments: Array(arguments.dropFirst()))
        }
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch  where exitCode(for: error) == .validationFailure {
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        } catch {
            exit(withError: error)
        }
    }
}

struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Path of weevent.properties.")
    var config: String = "conf/weevent.properties"

    init() {}

    /// Options for another configuration file (`ledger copy` reads two).
    init(path: String) {
        config = path
    }

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// Reads the configuration; a problem is printed with its key and line, and ends the process.
    func load(logger: Logger) throws -> BrokerConfiguration.Configuration {
        do {
            let configuration = try BrokerConfiguration.Configuration.load(path: config)
            for entry in configuration.unknownKeys {
                logger.warning("unknown configuration key", metadata: ["key": "\(entry.key)", "line": "\(config):\(entry.line)"])
            }
            return configuration
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("weevent: configuration error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// The configured ledgers; a store that cannot be opened (PostgreSQL unreachable until
    /// `ledger.postgresql.connect-timeout-ms`) ends the process with a clear message.
    func openLedgers(_ configuration: BrokerConfiguration.Configuration, logger: Logger) async throws -> LedgerSet {
        do {
            let ledgers = try await LedgerSet.open(configuration, logger: logger)
            let place =
                configuration.ledger.store == .sqlite
                ? configuration.ledger.path : "\(configuration.postgres.url.map(String.init(describing:)) ?? "") schema \(configuration.postgres.schema)"
            logger.info(
                "ledgers open",
                metadata: [
                    "store": "\(configuration.ledger.store.rawValue)", "at": "\(place)",
                    "groups": "\(configuration.ledger.groups.joined(separator: ","))",
                ])
            return ledgers
        } catch let error as LedgerStoreError {
            FileHandle.standardError.write(Data("weevent: ledger store: \(error)\n".utf8))
            throw ExitCode(3)
        }
    }

    func bootstrapLogging() -> Logger {
        Self.bootstrap(level: logLevel)
    }

    static func bootstrap(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "weevent")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the broker until SIGTERM or SIGINT.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let logger = options.bootstrapLogging()
        let configuration = try options.load(logger: logger)
        let key = try Self.checkpointKey(configuration, logger: logger)
        try Self.checkWitnessKeys(configuration)
        let ledgers = try await options.openLedgers(configuration, logger: logger)
        var services = try BrokerServices.assemble(configuration: configuration, ledgers: ledgers, logger: logger)
        services.identities = IdentityDirectory(store: ledgers.identities, logger: logger) { identities in
            for warning in AccessControl.startupWarnings(configuration, identities: identities) {
                logger.warning("\(warning.message)", metadata: ["risk": "\(warning.risk)"])
            }
        }
        if configuration.ledger.checkpointInterval > .zero {
            services.checkpointer = Checkpointer(ledgers: ledgers, key: key, interval: configuration.ledger.checkpointInterval, logger: logger)
        }
        let app = WeEventApplication.make(services, logger: logger)
        try await WeEventApplication.run(app, configuration: configuration, logger: logger)
    }

    /// Reads the checkpoint signing key, making it at first start, and logs each group's verifier
    /// key; a key file that cannot be read or made stops the start (exit 2).
    static func checkpointKey(_ configuration: BrokerConfiguration.Configuration, logger: Logger) throws -> CheckpointKey {
        let (key, created) = try loadCheckpointKey(configuration.ledger)
        if created { logger.notice("made a new checkpoint signing key", metadata: ["path": "\(configuration.ledger.signingKeyPath)"]) }
        for group in configuration.ledger.groups {
            logger.info("checkpoint verifier key", metadata: ["group": "\(group)", "vkey": "\(key.verifier(group: group))"])
        }
        return key
    }

    /// Every key of `ledger.witnesses` must parse with a key ID that matches its name and key
    /// (the configuration checked only their form); a bad one stops the start (exit 2).
    static func checkWitnessKeys(_ configuration: BrokerConfiguration.Configuration) throws {
        for key in configuration.ledger.witnesses where NoteVerifier(key)?.type != .cosignature {
            FileHandle.standardError.write(
                Data("weevent: configuration error: ledger.witnesses: '\(key.prefix(120))': its key ID does not match its name and key\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute every group's hash chain, Merkle roots and tree at each signed checkpoint; exit 1 if any block does not match."
    )

    @OptionGroup var options: ConfigOptions
    @Option(
        name: .customLong("checkpoint"),
        help: "A checkpoint note you hold (for example one your witnesses cosigned): its group's tree must give its root too. Repeatable."
    )
    var trusted: [String] = []

    func run() async throws {
        let logger = options.bootstrapLogging()
        let configuration = try options.load(logger: logger)
        let held = try heldCheckpoints(configuration)
        var intact = true
        // Checkpoint signatures are checked with the broker's key when this machine has it.
        var key: CheckpointKey?
        if FileManager.default.fileExists(atPath: configuration.ledger.signingKeyPath) {
            key = try loadCheckpointKey(configuration.ledger).key
        } else {
            FileHandle.standardError.write(
                Data("weevent: no signing key at \(configuration.ledger.signingKeyPath): checkpoint signatures are not checked\n".utf8))
        }
        if configuration.ledger.store == .sqlite {
            for group in configuration.ledger.groups {
                guard let ledger = try existingEmbeddedLedger(group, under: configuration.ledger.path, logger: logger) else { continue }
                let report = try await ledger.verify(checkpointKey: key?.verifier(group: group), holding: held[group] ?? [])
                await ledger.shutdown()
                print(report)
                intact = intact && report.isIntact
            }
        } else {
            let ledgers = try await options.openLedgers(configuration, logger: logger)
            try await ledgers.withRunning(logger: logger) {
                for group in ledgers.groups {
                    let report = try await ledgers.ledger(group).verify(checkpointKey: key?.verifier(group: group), holding: held[group] ?? [])
                    print(report)
                    intact = intact && report.isIntact
                }
            }
        }
        if !intact { throw ExitCode(1) }
    }

    /// The `--checkpoint` notes by group (their origin `<ledger.origin>/<group>`); a file that
    /// is not a checkpoint of a configured group ends the command (exit 2).
    private func heldCheckpoints(_ configuration: BrokerConfiguration.Configuration) throws -> [String: [Checkpoint]] {
        var held: [String: [Checkpoint]] = [:]
        for path in trusted {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8),
                let checkpoint = Checkpoint(text: SignedNote.parse(text)?.text ?? text)
            else {
                FileHandle.standardError.write(Data("weevent: --checkpoint \(path) is not a checkpoint note\n".utf8))
                throw ExitCode(2)
            }
            guard let group = configuration.ledger.groups.first(where: { checkpoint.origin == "\(configuration.ledger.origin)/\($0)" }) else {
                FileHandle.standardError.write(Data("weevent: --checkpoint \(path) is of log \(checkpoint.origin), not a group of this broker\n".utf8))
                throw ExitCode(2)
            }
            held[group, default: []].append(checkpoint)
        }
        return held
    }
}

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "Work on ledgers as a whole.", subcommands: [LedgerCopyCommand.self]
    )
}

struct LedgerCopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy embedded ledgers (ledger.store=sqlite) into the shared store (ledger.store=postgresql), block by block.",
        discussion: """
            Every hash, event id and position is kept; each copied group is verified afterwards. The \
            destination must be empty or hold an interrupted copy of the same chain (the copy goes on \
            after its last block). Stop the brokers writing to the source first.
            """
    )

    @Option(name: .long, help: "weevent.properties of the embedded ledgers to copy.")
    var from: String

    @Option(name: .long, help: "weevent.properties naming the PostgreSQL store to copy into.")
    var to: String

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    func run() async throws {
        let logger = ConfigOptions.bootstrap(level: logLevel)
        let source = try ConfigOptions(path: from).load(logger: logger)
        let destination = try ConfigOptions(path: to).load(logger: logger)
        guard source.ledger.store == .sqlite, destination.ledger.store == .postgresql else {
            FileHandle.standardError.write(Data("weevent: ledger copy goes from ledger.store=sqlite (--from) to ledger.store=postgresql (--to)\n".utf8))
            throw ExitCode(2)
        }
        let missing = source.ledger.groups.filter { !destination.ledger.groups.contains($0) }
        guard missing.isEmpty else {
            FileHandle.standardError.write(Data("weevent: groups \(missing.joined(separator: ",")) are not in ledger.groups of \(to)\n".utf8))
            throw ExitCode(2)
        }
        let shared = try await ConfigOptions(path: to).openLedgers(destination, logger: logger)
        var intact = true
        try await shared.withRunning(logger: logger) {
            for group in source.ledger.groups {
                // Read only: the source's write loop never runs.
                guard let embedded = try existingEmbeddedLedger(group, under: source.ledger.path, logger: logger) else { continue }
                guard let target = try shared.ledger(group) as? GroupLedger else { throw ExitCode(2) }
                do {
                    print(try await LedgerCopy.copy(from: embedded, to: target))
                } catch {
                    await embedded.shutdown()
                    FileHandle.standardError.write(Data("weevent: ledger copy: \(error)\n".utf8))
                    throw ExitCode(1)
                }
                await embedded.shutdown()
                let report = try await target.verify()
                print(report)
                intact = intact && report.isIntact
            }
        }
        if !intact { throw ExitCode(1) }
    }
}

/// The embedded ledger of `group` under `path`, opened to be read (its write loop never runs);
/// nil, after saying so, when that group has no ledger file.
func existingEmbeddedLedger(_ group: String, under path: String, logger: Logger) throws -> GroupLedger? {
    let directory = "\(path)/group-\(group)"
    guard FileManager.default.fileExists(atPath: directory + "/ledger.sqlite") else {
        print("group \(group): no ledger at \(directory)")
        return nil
    }
    return try GroupLedger.openSQLite(groupID: group, directory: directory, logger: logger)
}
