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

/// Exit codes, documented in docs/mqtt-cli.md.
public enum CLIExit {
    static let failure: Int32 = 1
    /// Invalid flags; the executable's `main` maps ArgumentParser's usage errors (64) to it.
    public static let usage: Int32 = 2
    static let timeout: Int32 = 27
}

/// Options shared by pub and sub.
struct ConnectionOptions: ParsableArguments {
    @Option(name: [.customShort("h"), .customLong("host")], help: "Broker host.")
    var host = "localhost"

    @Option(name: [.customShort("p"), .customLong("port")], help: "Broker port (default 1883, 8883 with --cafile).")
    var port: Int?

    @Option(name: [.customShort("i"), .customLong("id")], help: "Client id (default weevent-pub-<pid> / weevent-sub-<pid>).")
    var clientID: String?

    @Option(name: [.customShort("k"), .customLong("keepalive")], help: "Keep-alive in seconds; 0 disables.")
    var keepAlive = 60

    @Option(name: [.customShort("q"), .customLong("qos")], help: "Quality of service: 0, 1 or 2.")
    var qos = 0

    @Flag(name: [.customShort("c"), .customLong("disable-clean-session")], help: "Keep the session on the broker (needs -i).")
    var disableCleanSession = false

    @Option(name: [.customShort("u"), .customLong("username")], help: "User name.")
    var username: String?

    @Option(name: [.customShort("P"), .customLong("pw")], help: "Password.")
    var password: String?

    @Option(name: .customLong("will-topic"), help: "Topic of the will message.")
    var willTopic: String?

    @Option(name: .customLong("will-payload"), help: "Payload of the will message.")
    var willPayload: String?

    @Option(name: .customLong("will-qos"), help: "QoS of the will message.")
    var willQoS = 0

    @Flag(name: .customLong("will-retain"), help: "Retain the will message.")
    var willRetain = false

    @Option(name: .customLong("cafile"), help: "PEM file of trusted CAs; turns TLS on.")
    var caFile: String?

    @Option(name: .customLong("cert"), help: "PEM client certificate (TLS).")
    var certFile: String?

    @Option(name: .customLong("key"), help: "PEM client private key (TLS).")
    var keyFile: String?

    @Flag(name: .customLong("insecure"), help: "Do not check that the broker certificate names the host.")
    var insecure = false

    @Flag(name: [.customShort("d"), .customLong("debug")], help: "Print every packet sent and received (to stderr).")
    var debug = false

    @Option(name: [.customShort("W")], help: "Give up after this many seconds (exit 27).")
    var timeout: Int?

    func validateShared() throws {
        guard (0...2).contains(qos) else { throw ValidationError("-q must be 0, 1 or 2") }
        guard (0...2).contains(willQoS) else { throw ValidationError("--will-qos must be 0, 1 or 2") }
        guard (0...65535).contains(keepAlive) else { throw ValidationError("-k must be 0...65535") }
        if disableCleanSession && clientID == nil { throw ValidationError("-c needs a client id (-i)") }
        if willPayload != nil && willTopic == nil { throw ValidationError("--will-payload needs --will-topic") }
        if (certFile == nil) != (keyFile == nil) { throw ValidationError("--cert and --key go together") }
        if let port, !(1...65535).contains(port) { throw ValidationError("-p must be 1...65535") }
        if let timeout, timeout < 1 { throw ValidationError("-W must be at least 1") }
    }

    func makeConfiguration(defaultID: String, reconnect: MQTTReconnectPolicy) -> MQTTConfiguration {
        let tls = (caFile != nil || certFile != nil)
            ? MQTTTLSConfiguration(caFile: caFile, certificateFile: certFile, privateKeyFile: keyFile, verifyHostname: !insecure)
            : nil
        var configuration = MQTTConfiguration(
            host: host,
            port: port ?? (tls == nil ? 1883 : 8883),
            tls: tls,
            clientID: clientID ?? defaultID,
            cleanSession: !disableCleanSession,
            keepAlive: .seconds(Int64(keepAlive)),
            username: username,
            password: password,
            will: willTopic.map { MQTTWill(topic: $0, payload: ByteBuffer(string: willPayload ?? ""), qos: MQTTQoS(rawValue: UInt8(willQoS))!, retain: willRetain) },
            reconnect: reconnect
        )
        if debug {
            let id = configuration.clientID
            configuration.packetTrace = { sent, packet in
                CLIOutput.error("Client \(id) \(sent ? "sending" : "received") \(packet)")
            }
        }
        return configuration
    }

    var mqttQoS: MQTTQoS { MQTTQoS(rawValue: UInt8(qos))! }
}

/// Unbuffered output through write(2): each line reaches a pipe reader at once.
enum CLIOutput {
    private static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        bytes.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                #if canImport(Darwin)
                Darwin.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #else
                Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #endif
            }
            if n <= 0 { return }
            offset += n
        }
    }

    static func line(_ text: String) { write(1, text) }

    static func error(_ text: String) { write(2, text) }

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
