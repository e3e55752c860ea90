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

/// `weevent mqtt pub`: like mosquitto_pub.
struct MQTTPublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pub",
        abstract: "Publish one message (-m, -f, -s, -n), possibly repeated, or one per line of standard input (-l); exit when acknowledged.",
        discussion: """
            As mosquitto_pub 2.0 (docs/mqtt-cli.md lists the differences):

              pub {[-h host] [-p port] [-u user] [-P password] -t topic | -L URL}
                  {-f file | -l | -m message | -n | -s}
                  [-A bind_address] [-c] [-d] [-i id | -I prefix] [-k keepalive]
                  [-M max_inflight] [-q qos] [--quiet] [-r] [--repeat count]
                  [--repeat-delay seconds] [-V mqttv311] [-W timeout]
                  [--will-topic topic [--will-payload payload] [--will-qos qos]
                   [--will-retain]]
                  [{--cafile file | --capath dir | --tls-use-os-certs}
                   [--cert file --key file] [--ciphers ciphers]
                   [--tls-version version] [--tls-alpn protocol] [--insecure]]
                  [-o options_file]

            Options are read from $XDG_CONFIG_HOME/mosquitto_pub (or ~/.config/mosquitto_pub), or \
            from the file named by -o, before the command line: one option per line, its value \
            after the first space. Exit status: 0 done, 1 usage error or failure, the CONNACK \
            code when the broker refuses, 27 for -W.
            """,
        helpNames: [.long]
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("t"), .customLong("topic")], parsing: .unconditional, help: "Topic to publish to.")
    var topic: String?

    @Option(name: [.customShort("m"), .customLong("message")], parsing: .unconditionalSingleValue, help: "Message payload.")
    var message: [String] = []

    @Option(name: [.customShort("f"), .customLong("file")], parsing: .unconditionalSingleValue, help: "Send the whole file as one message.")
    var file: [String] = []

    @Flag(name: [.customShort("s"), .customLong("stdin-file")], help: "Send all of standard input as one message.")
    var stdinFile: Int

    @Flag(name: [.customShort("l"), .customLong("stdin-line")], help: "Send each line of standard input as a message.")
    var lines: Int

    @Flag(name: [.customShort("n"), .customLong("null-message")], help: "Send an empty message.")
    var nullMessage: Int

    @Flag(name: [.customShort("r"), .customLong("retain")], help: "Retain the message.")
    var retain = false

    @Option(name: .customLong("repeat"), parsing: .unconditional, help: "Publish the message this many times (default 1).")
    var repeatCount: Int?

    @Option(name: .customLong("repeat-delay"), parsing: .unconditional, help: "Seconds between repeated messages (fractions allowed).")
    var repeatDelay: Double?

    /// Where the payload comes from: exactly one.
    enum Source: Equatable {
        case message(String)
        case file(String)
        case standardInput
        case lines
        case empty
    }

    var sources: [Source] {
        message.map(Source.message) + file.map(Source.file)
            + Array(repeating: .standardInput, count: stdinFile) + Array(repeating: .lines, count: lines)
            + Array(repeating: .empty, count: nullMessage)
    }

    func validate() throws {
        if connection.version { return }
        try connection.validateShared()
        let sources = self.sources
        if sources.count > 1 { throw ValidationError("give only one of -m, -f, -s, -l, -n (one type of message at a time)") }
        if let repeatCount, !(1...Int(Int32.max)).contains(repeatCount) {
            throw ValidationError("--repeat \(repeatCount): invalid count, must be at least 1")
        }
        if let repeatDelay, !(repeatDelay >= 0 && repeatDelay <= 86_400 * 365) {
            throw ValidationError("--repeat-delay \(repeatDelay): invalid delay, must be 0 or more seconds")
        }
        if let topic, !MQTTTopic.isValidName(topic) {
            throw ValidationError("-t '\(topic)': invalid topic to publish to (no + or #, not empty)")
        }
        if let urlTopic = connection.urlParts?.topic, topic == nil, !MQTTTopic.isValidName(urlTopic) {
            throw ValidationError("-L: invalid topic '\(urlTopic)' to publish to (no + or #)")
        }
    }

    func run() async throws {
        if connection.version {
            connection.printVersion("pub")
            return
        }
        guard let topic = self.topic ?? connection.urlParts?.topic else {
            throw MissingArgument(command: "pub", message: "give a topic (-t or -L)")
        }
        if sources.isEmpty { throw MissingArgument(command: "pub", message: "give a message (-m, -f, -s, -l or -n)") }
        // Read the payload before connecting, so a file that cannot be read costs no connection.
        var payload = ByteBuffer()
        switch sources[0] {
        case .message(let text): payload = ByteBuffer(string: text)
        case .file(let path):
            do { payload = ByteBuffer(bytes: try FileBytes.read(path)) } catch { connection.fail("-f: \(error)") }
        case .standardInput:
            do {
                let bytes = try FileBytes.readAll(0, name: "standard input")
                if bytes.isEmpty { connection.fail("-s: standard input is empty (zero length input)") }
                payload = ByteBuffer(bytes: bytes)
            } catch {
                connection.fail("-s: \(error)")
            }
        case .lines, .empty: break
        }
        SignalExit.install { sig in 128 + sig }
        scheduleTimeout(connection.timeout, what: "publishing")
        let configuration = connection.makeConfiguration(defaultPrefix: "weevent_pub_", reconnect: MQTTReconnectPolicy(maxAttempts: 5))
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration: configuration)
            try await client.connect()
        } catch {
            connection.fail(describe(error, host: configuration.host, port: configuration.port), code: exitStatus(for: error))
        }
        do {
            if sources[0] == .lines {
                try await publishLines(client, topic: topic)
            } else {
                let times = repeatCount ?? 1
                for n in 0..<times {
                    if n > 0, let repeatDelay, repeatDelay > 0 {
                        try await Task.sleep(for: .nanoseconds(Int64(repeatDelay * 1e9)))
                    }
                    try await client.publish(to: topic, payload: payload, qos: connection.mqttQoS, retain: retain)
                }
            }
        } catch {
            connection.fail("publish to '\(topic)' failed: \(error)")
        }
        await client.disconnect()
    }

    /// Each line of standard input, in order, as mosquitto_pub sends them: without its `\n` (a
    /// `\r` before it stays), empty lines as empty messages, a last line without `\n` too;
    /// returns when every one is acknowledged. `--repeat` does not apply, as with mosquitto_pub.
    private func publishLines(_ client: MQTTClient, topic: String) async throws {
        var pending: [EventLoopFuture<Void>] = []
        var reader = LineReader(fd: 0)
        while let line = try reader.next() {
            pending.append(client.startPublish(to: topic, payload: ByteBuffer(bytes: line), qos: connection.mqttQoS, retain: retain))
            // Bound what waits in memory: a long input is acknowledged as it goes.
            if pending.count >= 1024 {
                for future in pending { try await future.get() }
                pending.removeAll(keepingCapacity: true)
            }
        }
        for future in pending { try await future.get() }
    }
}

/// Lines of a file descriptor as bytes, split at `\n` only.
struct LineReader {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private var chunk = [UInt8](repeating: 0, count: 65536)

    init(fd: Int32) {
        self.fd = fd
    }

    mutating func next() throws -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 10) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                return line
            }
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            let n = try FileBytes.readSome(fd, into: &chunk, name: "standard input")
            if n == 0 { atEnd = true } else { buffer += chunk[0..<n] }
            if buffer.count - start > MQTTLimits.maxPayload {
                throw FileBytes.ReadError(path: "standard input", reason: "a line is longer than MQTT's largest payload")
            }
        }
    }
}
