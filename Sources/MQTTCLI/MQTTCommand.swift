import ArgumentParser
import Dispatch
import MQTT
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `weevent mqtt pub|sub`: mosquitto_pub / mosquitto_sub with the same flags, on our own client.
public struct MQTTCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mqtt",
        abstract: "Publish to or subscribe on an MQTT 3.1.1 broker (flags as mosquitto_pub/mosquitto_sub).",
        subcommands: [MQTTPublishCommand.self, MQTTSubscribeCommand.self]
    )

    public init() {}
}

/// `weevent mqtt` parsed on its own (the `weevent` executable hands `mqtt pub|sub` straight to
/// it), so starting the tool does not walk the broker's whole command tree.
public struct WeeventMQTTCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mqtt",
        _superCommandName: "weevent",
        abstract: MQTTCommand.configuration.abstract,
        subcommands: [MQTTPublishCommand.self, MQTTSubscribeCommand.self]
    )

    public init() {}
}

/// The `weevent-mqtt` executable's root: the same two commands in a small binary that starts
/// in a few milliseconds (docs/mqtt-cli.md).
public struct StandaloneMQTTCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "weevent-mqtt",
        abstract: "Publish to or subscribe on an MQTT 3.1.1 broker (flags as mosquitto_pub/mosquitto_sub).",
        subcommands: [MQTTPublishCommand.self, MQTTSubscribeCommand.self]
    )

    public init() {}
}

/// Exit codes, documented in docs/mqtt-cli.md.
public enum CLIExit {
    /// Also every invalid flag, value or combination, as mosquitto_pub/sub.
    public static let failure: Int32 = 1
    static let timeout: Int32 = 27
}

/// Runs `pub` or `sub` the way mosquitto does: the options file first, then the command line;
/// any invalid flag, value or combination is reported by name with exit status 1 before a
/// connection is attempted.
public enum MQTTTool {
    /// `leading` is the command path before `pub`/`sub` as `Root` parses it (`["mqtt"]` for
    /// `weevent`, `[]` for `weevent-mqtt`); `arguments` starts at `pub`/`sub`.
    public static func main<Root: ParsableCommand>(_ root: Root.Type, leading: [String], arguments: [String]) async -> Never {
        do {
            let expanded = try OptionsFile.expand(arguments, environment: ProcessEnvironment.current)
            var command = try Root.parseAsRoot(leading + expanded)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let error as OptionsFileError {
            CLIOutput.error("Error: \(error.message)")
            exit(CLIExit.failure)
        } catch let error as MissingArgument {
            let path = ([Root.configuration._superCommandName, Root.configuration.commandName].compactMap { $0 } + [error.command]).joined(separator: " ")
            CLIOutput.error("Error: \(error.message)\n  See '\(path) --help' for more information.")
            exit(CLIExit.failure)
        } catch {
            let code = Root.exitCode(for: error)
            var message = Root.fullMessage(for: error)
            if let superName = Root.configuration._superCommandName, let name = Root.configuration.commandName {
                // ArgumentParser leaves the super-command out of its "See '... --help'" hint.
                message = message.replacing("See '\(name) ", with: "See '\(superName) \(name) ")
            }
            if code == .success {
                if !message.isEmpty { CLIOutput.line(message) }
                exit(0)
            }
            if !message.isEmpty { CLIOutput.error(message) }
            // ArgumentParser's usage errors (64) are mosquitto's 1; an explicit ExitCode stays.
            exit(code == .validationFailure ? CLIExit.failure : code.rawValue)
        }
    }
}

/// `exit(3)`, callable where ArgumentParser's `exit(withError:)` hides the C function.
func processExit(_ code: Int32) -> Never {
    exit(code)
}

/// The environment, read once.
struct ProcessEnvironment: Sendable {
    var home: String?
    var xdgConfigHome: String?

    static var current: ProcessEnvironment {
        ProcessEnvironment(
            home: getenv("HOME").map { String(cString: $0) },
            xdgConfigHome: getenv("XDG_CONFIG_HOME").map { String(cString: $0) }
        )
    }
}

struct OptionsFileError: Error {
    let message: String
}

/// A topic or message not given, found after every flag checked out: ArgumentParser reports an
/// unknown option only once validation passed, so this is checked when the command runs, and
/// `weevent mqtt sub --bogus` names `--bogus`, not the missing topic.
struct MissingArgument: Error {
    let command: String
    let message: String
}

/// mosquitto's options files: `$XDG_CONFIG_HOME/mosquitto_pub` (or `~/.config/mosquitto_pub`),
/// likewise `mosquitto_sub`, or the file named by `-o`. One option per line, its value the rest
/// of the line after the first space; lines starting with `#` are comments. The file's options
/// come before the command line's, so the command line overrides a single-valued option and adds
/// to a repeatable one (`-t`).
enum OptionsFile {
    /// `arguments` starts at the subcommand; returns it with the file's options inserted after it
    /// and any `-o FILE` taken out.
    static func expand(_ arguments: [String], environment: ProcessEnvironment) throws -> [String] {
        guard let command = arguments.first, command == "pub" || command == "sub" else { return arguments }
        var rest = Array(arguments.dropFirst())
        var path: String?
        var explicit = false
        if let index = rest.firstIndex(where: { $0 == "-o" || $0 == "--options-file" }) {
            guard index + 1 < rest.count else {
                throw OptionsFileError(message: "-o given but no options file named")
            }
            path = rest[index + 1]
            explicit = true
            rest.removeSubrange(index...(index + 1))
            if rest.contains(where: { $0 == "-o" || $0 == "--options-file" }) {
                throw OptionsFileError(message: "-o given more than once")
            }
        } else if let xdg = environment.xdgConfigHome {
            // Set, even empty, it is used and HOME is not, as mosquitto does.
            path = xdg + "/mosquitto_" + command
        } else if let home = environment.home, !home.isEmpty {
            path = home + "/.config/mosquitto_" + command
        }
        guard let path else { return arguments }
        guard let text = readFile(path) else {
            if explicit { throw OptionsFileError(message: "-o: cannot read options file '\(path)'") }
            return arguments
        }
        return [command] + parse(text) + rest
    }

    /// The arguments a file's lines stand for.
    static func parse(_ text: String) -> [String] {
        var arguments: [String] = []
        // By bytes: "\r\n" is one Character in Swift, and a line ends at "\n" only.
        for rawLine in text.utf8.split(separator: 10, omittingEmptySubsequences: true) {
            var line = rawLine[...]
            while line.last == 13 { line = line.dropLast() }
            if line.first == UInt8(ascii: "#") { continue }
            let trimmed = line.drop(while: { $0 == UInt8(ascii: " ") })
            guard !trimmed.isEmpty else { continue }
            if let space = trimmed.firstIndex(of: UInt8(ascii: " ")) {
                arguments.append(String(decoding: trimmed[..<space], as: UTF8.self))
                arguments.append(String(decoding: trimmed[trimmed.index(after: space)...], as: UTF8.self))
            } else {
                arguments.append(String(decoding: trimmed, as: UTF8.self))
            }
        }
        return arguments
    }

    private static func readFile(_ path: String) -> String? {
        guard let bytes = try? FileBytes.read(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Whole files through POSIX calls (the tool stays free of Foundation, which costs start-up time).
enum FileBytes {
    struct ReadError: Error, CustomStringConvertible {
        let path: String
        let reason: String
        var description: String { "cannot read '\(path)': \(reason)" }
    }

    /// One read(2) into `chunk`, again after a signal; 0 at end of file.
    static func readSome(_ fd: Int32, into chunk: inout [UInt8], name: String) throws -> Int {
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n >= 0 { return n }
            if errno != EINTR { throw ReadError(path: name, reason: String(cString: strerror(errno))) }
        }
    }

    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ReadError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        return try readAll(fd, name: path)
    }

    /// Everything until end of file from `fd` (standard input for `-s`).
    static func readAll(_ fd: Int32, name: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try readSome(fd, into: &chunk, name: name)
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > MQTTLimits.maxPayload {
                throw ReadError(path: name, reason: "larger than MQTT's largest payload (\(MQTTLimits.maxPayload) bytes)")
            }
        }
    }
}

enum MQTTLimits {
    /// The remaining length's maximum, less the smallest PUBLISH header: what one message can carry.
    static let maxPayload = 268_435_455 - 4
}

/// Unbuffered output through write(2): each line reaches a pipe reader at once.
enum CLIOutput {
    static func write(_ fd: Int32, bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                #if canImport(Darwin)
                    Darwin.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #else
                    Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #endif
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    static func line(_ text: String) { write(1, bytes: Array((text + "\n").utf8)) }

    static func error(_ text: String) { write(2, bytes: Array((text + "\n").utf8)) }

    static func fail(_ text: String, code: Int32 = CLIExit.failure) -> Never {
        error("Error: \(text)")
        exit(code)
    }
}

/// Exits promptly on SIGINT/SIGTERM. Sources are kept alive for the life of the process.
enum SignalExit {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Called once from the command's `run` before any other task starts, so the static is written once.
    static func install(code: @escaping @Sendable (Int32) -> Int32) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                exit(code(sig))
            }
            source.resume()
            sources.append(source)
        }
    }
}

/// mosquitto's exit status for a connection that failed: the CONNACK return code when the broker
/// refused (5 for not authorised), 1 otherwise.
func exitStatus(for error: any Error) -> Int32 {
    if let refused = error as? MQTTConnectError { return Int32(refused.returnCode.rawValue) }
    return CLIExit.failure
}

func describe(_ error: any Error, host: String, port: Int) -> String {
    switch error {
    case let e as MQTTConnectError: return "\(e)"
    case let e as MQTTSubscribeError: return "\(e)"
    case let e as MQTTClientError: return "\(e)"
    default: return "cannot connect to \(host):\(port): \(error)"
    }
}

func scheduleTimeout(_ seconds: Int?, what: String) {
    guard let seconds else { return }
    DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds)) {
        CLIOutput.fail("timed out after \(seconds) s \(what)", code: CLIExit.timeout)
    }
}
