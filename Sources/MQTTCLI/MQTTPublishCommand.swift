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

/// `weevent mqtt pub`: like mosquitto_pub.
struct MQTTPublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pub",
        abstract: "Publish one message (-m, -n) or one per line of standard input (-l); exit when acknowledged.",
        helpNames: [.long]
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("t"), .customLong("topic")], help: "Topic to publish to.")
    var topic: String

    @Option(name: [.customShort("m"), .customLong("message")], help: "Message payload.")
    var message: String?

    @Flag(name: [.customShort("n"), .customLong("null-message")], help: "Send an empty message.")
    var nullMessage = false

    @Flag(name: [.customShort("l"), .customLong("stdin-line")], help: "Publish each line of standard input as a message.")
    var lines = false

    @Flag(name: [.customShort("r"), .customLong("retain")], help: "Retain the message.")
    var retain = false

    func validate() throws {
        try connection.validateShared()
        let sources = [message != nil, nullMessage, lines].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give exactly one of -m, -n, -l") }
        guard MQTTTopic.isValidName(topic) else { throw ValidationError("invalid topic '\(topic)'") }
    }

    func run() async throws {
        SignalExit.install { sig in 128 + sig }
        scheduleTimeout(connection.timeout, what: "publishing")
        let configuration = connection.makeConfiguration(defaultID: "weevent-pub-\(getpid())", reconnect: MQTTReconnectPolicy(maxAttempts: 5))
        let client: MQTTClient
        do {
            client = try MQTTClient(configuration: configuration)
            try await client.connect()
        } catch {
            CLIOutput.fail(describe(error, host: configuration.host, port: configuration.port))
        }
        do {
            if lines {
                // Queued in line order; wait for every acknowledgement before exiting.
                var pending: [EventLoopFuture<Void>] = []
                while let line = readLine(strippingNewline: true) {
                    pending.append(client.startPublish(to: topic, payload: ByteBuffer(string: line), qos: connection.mqttQoS, retain: retain))
                }
                for future in pending { try await future.get() }
            } else {
                try await client.publish(to: topic, payload: ByteBuffer(string: message ?? ""), qos: connection.mqttQoS, retain: retain)
            }
        } catch {
            CLIOutput.fail("publish to '\(topic)' failed: \(error)")
        }
        await client.disconnect()
    }
}
