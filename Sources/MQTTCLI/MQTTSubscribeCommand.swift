import ArgumentParser
import MQTT
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `weevent mqtt sub`: like mosquitto_sub. Prints each message's payload (with -v, topic first;
/// with -F, as the format says) on a line.
struct MQTTSubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub",
        abstract: "Subscribe and print messages until interrupted, -C messages arrived, or -W seconds passed.",
        discussion: """
            As mosquitto_sub 2.0 (docs/mqtt-cli.md lists the differences):

              sub {[-h host] [-p port] [-u user] [-P password] -t topic ...
                   | -L URL [-t topic ...]}
                  [-c] [-k keepalive] [-q qos] [-x session_expiry]
                  [-C msg_count] [-E] [-R] [--retained-only] [--remove-retained]
                  [-T filter_out ...] [-U topic ...] [-F format [--pretty]]
                  [-W timeout] [-A bind_address] [--nodelay] [-i id | -I prefix]
                  [-d] [-N] [--quiet] [-v] [--random-filter percent] [-V mqttv311]
                  [--will-topic topic [--will-payload payload] [--will-qos qos]
                   [--will-retain]]
                  [{--cafile file | --capath dir | --tls-use-os-certs}
                   [--cert file --key file] [--ciphers ciphers]
                   [--tls-version version] [--tls-alpn protocol] [--insecure]]
                  [-o options_file]

            -F: %t topic, %p payload, %x/%X payload in hex, %l length, %m message id, \
            %q QoS, %r retained, %I ISO-8601 time, %U Unix time, %j/%J JSON, with \
            -, 0, width and .precision; @ strftime conversions (@N nanoseconds, @@ @); \
            escapes \\\\ \\0 \\a \\e \\n \\r \\t \\v.

            Options are read from $XDG_CONFIG_HOME/mosquitto_sub (or ~/.config/mosquitto_sub), or \
            from the file named by -o, before the command line: one option per line, its value \
            after the first space. Exit status: 0 done or interrupted, 1 usage error or failure, \
            the CONNACK code when the broker refuses, 27 for -W.
            """,
        helpNames: [.long]
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("t"), .customLong("topic")], parsing: .unconditionalSingleValue, help: "Topic filter (+ and # allowed); repeat for more.")
    var topics: [String] = []

    @Option(
        name: [.customShort("T"), .customLong("filter-out")], parsing: .unconditionalSingleValue,
        help: "Do not print messages whose topic matches this filter; repeatable.")
    var filterOut: [String] = []

    @Option(
        name: [.customShort("U"), .customLong("unsubscribe")], parsing: .unconditionalSingleValue,
        help: "Unsubscribe from this filter once connected; repeatable.")
    var unsubscribe: [String] = []

    @Option(name: [.customShort("C")], parsing: .unconditional, help: "Exit after this many messages.")
    var count: Int?

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Print the topic before the payload.")
    var verbose = false

    @Flag(name: [.customShort("N")], help: "Do not end each message with a newline.")
    var noEndOfLine = false

    @Flag(name: [.customShort("R")], help: "Do not print retained (stale) messages.")
    var noRetained = false

    @Flag(name: .customLong("retained-only"), help: "Print only retained messages; exit at the first that is not.")
    var retainedOnly = false

    @Flag(name: .customLong("remove-retained"), help: "Clear each retained message received (publish an empty retained one).")
    var removeRetained = false

    @Flag(name: [.customShort("E")], help: "Exit once subscribed.")
    var exitAfterSubscribe = false

    @Option(name: [.customShort("F")], parsing: .unconditional, help: "Output format (%t topic, %p payload, %j JSON, ...; docs/mqtt-cli.md).")
    var format: String?

    @Flag(name: .customLong("pretty"), help: "Indent the JSON of %j / %J.")
    var pretty = false

    @Option(name: .customLong("random-filter"), parsing: .unconditional, help: "Print only this percentage of messages (0.1..100).")
    var randomFilter: Double?

    func validate() throws {
        if connection.version { return }
        try connection.validateShared()
        if let count, !(1...Int(Int32.max)).contains(count) { throw ValidationError("-C \(count): invalid message count, must be at least 1") }
        if let randomFilter, !(randomFilter > 0 && randomFilter <= 100) {
            throw ValidationError("--random-filter \(randomFilter): must be more than 0 and at most 100")
        }
        if let format {
            do { _ = try MessageFormat(format) } catch let error as MessageFormat.Error { throw ValidationError("-F: \(error.description)") }
        }
        if retainedOnly && noRetained { throw ValidationError("--retained-only and -R cannot be given together") }
        for t in topics where !MQTTTopic.isValidFilter(t) { throw ValidationError("-t '\(t)': invalid topic filter") }
        for t in filterOut where !MQTTTopic.isValidFilter(t) { throw ValidationError("-T '\(t)': invalid topic filter") }
        for t in unsubscribe where !MQTTTopic.isValidFilter(t) { throw ValidationError("-U '\(t)': invalid topic filter") }
        if let urlTopic = connection.urlParts?.topic, !MQTTTopic.isValidFilter(urlTopic) {
            throw ValidationError("-L: invalid topic filter '\(urlTopic)'")
        }
    }

    func run() async throws {
        if connection.version {
            connection.printVersion("sub")
            return
        }
        if topics.isEmpty && connection.urlParts?.topic == nil {
            throw MissingArgument(command: "sub", message: "give at least one topic (-t or -L)")
        }
        var filters = topics
        if let urlTopic = connection.urlParts?.topic { filters.insert(urlTopic, at: 0) }
        let printer = MessagePrinter(
            format: try format.map(MessageFormat.init), verbose: verbose, endOfLine: !noEndOfLine, pretty: pretty
        )
        // Interrupting a subscriber is its normal end, as with mosquitto_sub.
        SignalExit.install { _ in 0 }
        scheduleTimeout(connection.timeout, what: "waiting for messages")
        let configuration = connection.makeConfiguration(defaultPrefix: "weevent_sub_", reconnect: MQTTReconnectPolicy())
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration: configuration)
            try await client.connect()
            try await client.subscribe(to: filters.map { MQTTSubscription(topicFilter: $0, qos: connection.mqttQoS) })
            if !unsubscribe.isEmpty { try await client.unsubscribe(from: unsubscribe) }
        } catch {
            connection.fail(describe(error, host: configuration.host, port: configuration.port), code: exitStatus(for: error))
        }
        if exitAfterSubscribe {
            await client.disconnect()
            return
        }
        // mosquitto_sub's order: --retained-only ends at the first live message; -R and -T drop a
        // message uncounted; --remove-retained clears what is left; then it is printed (or
        // dropped by --random-filter) and counted towards -C.
        var handled = 0
        var finished = false
        var clearing: [EventLoopFuture<Void>] = []
        for await message in client.messages {
            defer { message.ack() }
            if let skipped = message.skippedPayloadLength {
                if !connection.quiet {
                    CLIOutput.error("Warning: message on \(message.topic) of \(skipped) bytes is larger than the maximum packet size; skipped")
                }
                continue
            }
            if retainedOnly && !message.retain {
                finished = true
                break
            }
            if noRetained && message.retain { continue }
            if filterOut.contains(where: { MQTTTopic.matches(filter: $0, topic: message.topic) }) { continue }
            if removeRetained && message.retain {
                // An empty retained message clears the topic on the broker.
                clearing.append(client.startPublish(to: message.topic, payload: ByteBuffer(), qos: .atLeastOnce, retain: true))
            }
            if randomFilter.map({ Double.random(in: 0..<100) < $0 }) ?? true {
                for failure in printer.print(message) where !connection.quiet {
                    CLIOutput.error("Error: \(failure)")
                }
            }
            handled += 1
            if let count, handled >= count {
                finished = true
                break
            }
        }
        if finished {
            for future in clearing { _ = try? await future.get() }
            await client.disconnect()
            return
        }
        connection.fail("connection to \(configuration.host):\(configuration.port) lost")
    }
}
