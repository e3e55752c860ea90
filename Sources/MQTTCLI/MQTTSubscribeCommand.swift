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

/// `weevent mqtt sub`: like mosquitto_sub. Prints each message's payload (with -v, topic first) on a line.
struct MQTTSubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub",
        abstract: "Subscribe and print messages until interrupted, -C messages arrived, or -W seconds passed.",
        helpNames: [.long]
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("t"), .customLong("topic")], help: "Topic filter (+ and # allowed); repeat for more.")
    var topics: [String] = []

    @Option(name: [.customShort("C")], help: "Exit after this many messages.")
    var count: Int?

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Print the topic before the payload.")
    var verbose = false

    @Flag(name: [.customShort("E")], help: "Exit once subscribed.")
    var exitAfterSubscribe = false

    func validate() throws {
        try connection.validateShared()
        guard !topics.isEmpty else { throw ValidationError("give at least one -t") }
        for t in topics where !MQTTTopic.isValidFilter(t) { throw ValidationError("invalid topic filter '\(t)'") }
        if let count, count < 1 { throw ValidationError("-C must be at least 1") }
    }

    func run() async throws {
        // Interrupting a subscriber is its normal end, as with mosquitto_sub.
        SignalExit.install { _ in 0 }
        scheduleTimeout(connection.timeout, what: "waiting for messages")
        let configuration = connection.makeConfiguration(defaultID: "weevent-sub-\(getpid())", reconnect: MQTTReconnectPolicy())
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration: configuration)
            try await client.connect()
            try await client.subscribe(to: topics.map { MQTTSubscription(topicFilter: $0, qos: connection.mqttQoS) })
        } catch {
            CLIOutput.fail(describe(error, host: configuration.host, port: configuration.port))
        }
        if exitAfterSubscribe {
            await client.disconnect()
            return
        }
        var received = 0
        for await message in client.messages {
            if let skipped = message.skippedPayloadLength {
                CLIOutput.error("Warning: message on \(message.topic) of \(skipped) bytes is larger than the maximum packet size; skipped")
                message.ack()
                continue
            }
            CLIOutput.line(verbose ? "\(message.topic) \(message.payloadString)" : message.payloadString)
            message.ack()
            received += 1
            if let count, received >= count {
                await client.disconnect()
                return
            }
        }
        CLIOutput.fail("connection to \(configuration.host):\(configuration.port) lost")
    }
}
