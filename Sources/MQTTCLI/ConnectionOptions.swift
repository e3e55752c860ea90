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

/// Options shared by pub and sub, with mosquitto's names, meanings and defaults. Values are taken
/// as given (`-m -1` is a message), as mosquitto takes the next argument whatever it looks like.
struct ConnectionOptions: ParsableArguments {
    @Option(name: [.customShort("h"), .customLong("host")], parsing: .unconditional, help: "Broker host (default localhost).")
    var host: String?

    @Option(name: [.customShort("p"), .customLong("port")], parsing: .unconditional, help: "Broker port (default 1883, 8883 with TLS).")
    var port: Int?

    @Option(name: [.customShort("L"), .customLong("url")], parsing: .unconditional, help: "mqtt(s)://[username[:password]@]host[:port]/topic")
    var url: String?

    @Option(name: [.customShort("A")], parsing: .unconditional, help: "Local address to connect from.")
    var bindAddress: String?

    @Option(name: .customLong("unix"), parsing: .unconditional, help: "Unix socket path (not supported).")
    var unixSocket: String?

    @Option(name: [.customShort("i"), .customLong("id")], parsing: .unconditional, help: "Client id (default weevent_pub_<pid> / weevent_sub_<pid>).")
    var clientID: String?

    @Option(name: [.customShort("I"), .customLong("id-prefix")], parsing: .unconditional, help: "Client id prefix; the process id is appended.")
    var clientIDPrefix: String?

    @Option(name: [.customShort("k"), .customLong("keepalive")], parsing: .unconditional, help: "Keep-alive in seconds, 5..65535, or 0 for none (default 60).")
    var keepAlive = 60

    @Option(name: [.customShort("q"), .customLong("qos")], parsing: .unconditional, help: "Quality of service: 0, 1 or 2 (default 0).")
    var qos = 0

    @Flag(name: [.customShort("c"), .customLong("disable-clean-session")], help: "Keep the session on the broker (needs -i).")
    var disableCleanSession = false

    @Option(name: [.customShort("u"), .customLong("username")], parsing: .unconditional, help: "User name.")
    var username: String?

    @Option(name: [.customShort("P"), .customLong("pw")], parsing: .unconditional, help: "Password.")
    var password: String?

    @Option(name: [.customShort("V"), .customLong("protocol-version")], parsing: .unconditional, help: "MQTT version: mqttv311 (or 311), the only one spoken.")
    var protocolVersion: String?

    @Option(name: [.customShort("x")], parsing: .unconditional, help: "Session expiry interval: MQTT v5 only, checked and ignored on 3.1.1 as mosquitto does.")
    var sessionExpiry: String?

    @Option(name: [.customShort("M")], parsing: .unconditional, help: "Most QoS 1 and 2 messages in flight at once (default 20).")
    var maxInflight: Int?

    @Option(name: [.customShort("D"), .customLong("property")], parsing: .upToNextOption, help: "MQTT v5 property: command, name and value (refused).")
    var properties: [String] = []

    @Option(name: .customLong("will-topic"), parsing: .unconditional, help: "Topic of the will message.")
    var willTopic: String?

    @Option(name: .customLong("will-payload"), parsing: .unconditional, help: "Payload of the will message.")
    var willPayload: String?

    @Option(name: .customLong("will-qos"), parsing: .unconditional, help: "QoS of the will message.")
    var willQoS = 0

    @Flag(name: .customLong("will-retain"), help: "Retain the will message.")
    var willRetain = false

    @Option(name: .customLong("cafile"), parsing: .unconditional, help: "PEM file of trusted CAs; turns TLS on.")
    var caFile: String?

    @Option(name: .customLong("capath"), parsing: .unconditional, help: "Directory of PEM CA files; turns TLS on.")
    var caPath: String?

    @Flag(name: .customLong("tls-use-os-certs"), help: "Trust the system's CAs; turns TLS on.")
    var useOSCertificates = false

    @Option(name: .customLong("cert"), parsing: .unconditional, help: "PEM client certificate (TLS).")
    var certFile: String?

    @Option(name: .customLong("key"), parsing: .unconditional, help: "PEM client private key (TLS).")
    var keyFile: String?

    @Option(name: .customLong("keyform"), parsing: .unconditional, help: "Key format: pem (engine is not supported).")
    var keyForm: String?

    @Option(name: .customLong("ciphers"), parsing: .unconditional, help: "OpenSSL cipher list (TLS 1.2 and below).")
    var ciphers: String?

    @Option(name: .customLong("tls-version"), parsing: .unconditional, help: "tlsv1.3, tlsv1.2 or tlsv1.1.")
    var tlsVersion: String?

    @Option(name: .customLong("tls-alpn"), parsing: .unconditional, help: "ALPN protocol to offer.")
    var alpn: String?

    @Flag(name: .customLong("insecure"), help: "Do not check that the broker certificate names the host.")
    var insecure = false

    @Option(name: .customLong("tls-engine"), parsing: .unconditional, help: "OpenSSL engine (not supported).")
    var tlsEngine: String?

    @Option(name: .customLong("tls-engine-kpass-sha1"), parsing: .unconditional, help: "Engine key password hash (not supported).")
    var tlsEngineKeyPass: String?

    @Option(name: .customLong("psk"), parsing: .unconditional, help: "TLS-PSK key (not supported).")
    var psk: String?

    @Option(name: .customLong("psk-identity"), parsing: .unconditional, help: "TLS-PSK identity (not supported).")
    var pskIdentity: String?

    @Option(name: .customLong("proxy"), parsing: .unconditional, help: "SOCKS5 proxy (not supported).")
    var proxy: String?

    @Flag(name: .customLong("nodelay"), help: "Disable Nagle's algorithm (always disabled here).")
    var noDelay = false

    @Flag(name: [.customShort("d"), .customLong("debug")], help: "Print every packet sent and received (to stderr).")
    var debug = false

    @Flag(name: .customLong("quiet"), help: "Print no error messages.")
    var quiet = false

    @Option(name: [.customShort("W")], parsing: .unconditional, help: "Give up after this many seconds (exit 27).")
    var timeout: Int?

    @Flag(name: .customLong("version"), help: "Print the version and exit.")
    var version = false

    /// What `-L` said, once parsed.
    struct URLParts: Equatable {
        var secure: Bool
        var host: String
        var port: Int?
        var username: String?
        var password: String?
        var topic: String?
    }

    /// Each bad value or combination by name, mosquitto's checks in mosquitto's terms. The
    /// missing topic is the command's last check, after these.
    func validateShared() throws {
        if let unixSocket { throw ValidationError("--unix \(unixSocket): Unix sockets are not supported; connect over TCP with -h and -p") }
        if let proxy { throw ValidationError("--proxy \(proxy): SOCKS proxies are not supported") }
        if psk != nil || pskIdentity != nil {
            throw ValidationError("\(psk != nil ? "--psk" : "--psk-identity"): TLS-PSK is not supported; use --cafile/--capath with certificates")
        }
        if tlsEngine != nil || tlsEngineKeyPass != nil {
            throw ValidationError("\(tlsEngine != nil ? "--tls-engine" : "--tls-engine-kpass-sha1"): OpenSSL engines are not supported")
        }
        if let keyForm, keyForm != "pem" {
            throw ValidationError(keyForm == "engine" ? "--keyform engine: OpenSSL engines are not supported" : "--keyform '\(keyForm)': must be pem or engine")
        }
        if let protocolVersion {
            switch protocolVersion {
            case "mqttv311", "311": break
            case "mqttv31", "31": throw ValidationError("-V \(protocolVersion): MQTT 3.1 is not supported; this client speaks MQTT 3.1.1 (-V mqttv311)")
            case "mqttv5", "5": throw ValidationError("-V \(protocolVersion): MQTT v5 is not supported; this client speaks MQTT 3.1.1 (-V mqttv311)")
            default: throw ValidationError("-V '\(protocolVersion)': invalid protocol version; use mqttv311 (or 311)")
            }
        }
        if let sessionExpiry { try Self.checkSessionExpiry(sessionExpiry) }
        if let maxInflight, !(1...65535).contains(maxInflight) { throw ValidationError("-M \(maxInflight): invalid maximum in flight, must be 1..65535") }
        if !properties.isEmpty { throw ValidationError("-D \(properties[0]): properties are MQTT v5 only; this client speaks MQTT 3.1.1") }
        if let port, !(1...65535).contains(port) { throw ValidationError("-p \(port): invalid port, must be 1..65535") }
        guard (0...2).contains(qos) else { throw ValidationError("-q \(qos): invalid QoS, must be 0, 1 or 2") }
        guard (0...2).contains(willQoS) else { throw ValidationError("--will-qos \(willQoS): invalid QoS, must be 0, 1 or 2") }
        guard keepAlive == 0 || (5...65535).contains(keepAlive) else {
            throw ValidationError("-k \(keepAlive): invalid keepalive, must be 5..65535 (or 0 for none)")
        }
        if let timeout, !(1...3_153_600_000).contains(timeout) { throw ValidationError("-W \(timeout): invalid timeout, must be at least 1 second") }
        if let clientID {
            if clientID.isEmpty { throw ValidationError("-i '': the client id is empty; leave -i out for a generated one") }
            if clientID.utf8.count > 65535 { throw ValidationError("-i: the client id is longer than 65535 bytes") }
            if clientIDPrefix != nil { throw ValidationError("-i and -I cannot be given together") }
        }
        if let clientIDPrefix, clientIDPrefix.utf8.count > 65500 { throw ValidationError("-I: the client id prefix is too long") }
        if let tlsVersion, MQTTTLSVersion(rawValue: tlsVersion) == nil {
            throw ValidationError("--tls-version '\(tlsVersion)': must be tlsv1.3, tlsv1.2 or tlsv1.1")
        }
        if let url { _ = try Self.parseURL(url) }
        if let willTopic {
            guard MQTTTopic.isValidName(willTopic) else { throw ValidationError("--will-topic '\(willTopic)': invalid topic (no + or #, not empty)") }
        } else {
            if willPayload != nil { throw ValidationError("--will-payload needs --will-topic") }
            if willRetain { throw ValidationError("--will-retain needs --will-topic") }
            if willQoS != 0 { throw ValidationError("--will-qos needs --will-topic") }
        }
        if certFile != nil && keyFile == nil { throw ValidationError("--cert needs --key") }
        if keyFile != nil && certFile == nil { throw ValidationError("--key needs --cert") }
        if disableCleanSession && clientID == nil {
            throw ValidationError(clientIDPrefix != nil ? "-c needs a fixed client id (-i), not a prefix (-I)" : "-c needs a client id (-i)")
        }
    }

    /// `-x`: a number of seconds 0...4294967295 (C's base prefixes `0x` and `0` allowed), `-1` or
    /// `∞` for never. Only MQTT v5 sends it; on 3.1.1 it is checked and not used, as mosquitto does.
    static func checkSessionExpiry(_ text: String) throws {
        if text == "∞" || text == "-1" { return }
        var digits = Substring(text)
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            radix = 16
            digits = digits.dropFirst(2)
        } else if digits.count > 1 && digits.hasPrefix("0") {
            radix = 8
            digits = digits.dropFirst()
        }
        guard let value = UInt64(digits, radix: radix) else { throw ValidationError("-x '\(text)': the session expiry interval is not a number") }
        guard value <= 4_294_967_295 else { throw ValidationError("-x \(text): the session expiry interval is out of range (0..4294967295, -1 or ∞)") }
    }

    /// `mqtt(s)://[username[:password]@]host[:port]/topic`, as mosquitto reads it.
    static func parseURL(_ url: String) throws -> URLParts {
        let secure: Bool
        var rest: Substring
        if url.hasPrefix("mqtt://") {
            secure = false
            rest = url.dropFirst("mqtt://".count)
        } else if url.hasPrefix("mqtts://") {
            secure = true
            rest = url.dropFirst("mqtts://".count)
        } else {
            throw ValidationError("-L '\(url)': unsupported URL scheme; use mqtt:// or mqtts://")
        }
        var topic: String?
        if let slash = rest.firstIndex(of: "/") {
            topic = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        var parts = URLParts(secure: secure, host: "", port: nil, username: nil, password: nil, topic: topic)
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                parts.username = String(credentials[..<colon])
                parts.password = String(credentials[credentials.index(after: colon)...])
            } else {
                parts.username = String(credentials)
            }
        }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            parts.host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") { parts.port = try port(of: rest.dropFirst(), url: url) }
        } else if let colon = rest.lastIndex(of: ":") {
            parts.host = String(rest[..<colon])
            parts.port = try port(of: rest[rest.index(after: colon)...], url: url)
        } else {
            parts.host = String(rest)
        }
        guard !parts.host.isEmpty else { throw ValidationError("-L '\(url)': no host in the URL") }
        guard let topic = parts.topic, !topic.isEmpty else { throw ValidationError("-L '\(url)': no topic in the URL (mqtt://host/topic)") }
        return parts
    }

    private static func port(of text: Substring, url: String) throws -> Int {
        guard let port = Int(text), (1...65535).contains(port) else { throw ValidationError("-L '\(url)': invalid port '\(text)'") }
        return port
    }

    var urlParts: URLParts? { url.flatMap { try? Self.parseURL($0) } }

    var usesTLS: Bool {
        caFile != nil || caPath != nil || useOSCertificates || urlParts?.secure == true
    }

    /// The client's settings. `defaultPrefix` is `weevent_pub_` or `weevent_sub_`.
    func makeConfiguration(defaultPrefix: String, reconnect: MQTTReconnectPolicy) -> MQTTConfiguration {
        let parts = urlParts
        var tls: MQTTTLSConfiguration?
        if usesTLS {
            var settings = MQTTTLSConfiguration(caFile: caFile, certificateFile: certFile, privateKeyFile: keyFile, verifyHostname: !insecure)
            settings.caDirectory = caPath
            // mqtts:// without a CA named trusts the system's, as mosquitto does.
            settings.trustSystemRoots = useOSCertificates || (caFile == nil && caPath == nil)
            settings.ciphers = ciphers
            settings.version = tlsVersion.flatMap(MQTTTLSVersion.init(rawValue:))
            settings.alpn = alpn.map { [$0] } ?? []
            tls = settings
        }
        let id = clientID ?? ((clientIDPrefix ?? defaultPrefix) + "\(getpid())")
        var configuration = MQTTConfiguration(
            host: host ?? parts?.host ?? "localhost",
            port: port ?? parts?.port ?? (tls == nil ? 1883 : 8883),
            tls: tls,
            clientID: id,
            cleanSession: !disableCleanSession,
            keepAlive: .seconds(Int64(keepAlive)),
            username: username ?? parts?.username,
            password: password ?? parts?.password,
            will: willTopic.map {
                MQTTWill(topic: $0, payload: ByteBuffer(string: willPayload ?? ""), qos: MQTTQoS(rawValue: UInt8(willQoS))!, retain: willRetain)
            },
            reconnect: reconnect
        )
        configuration.bindAddress = bindAddress
        if let maxInflight { configuration.maxInflight = maxInflight }
        if debug && !quiet {
            configuration.packetTrace = { sent, packet in
                for line in DebugTrace.lines(sent: sent, packet, clientID: id) { CLIOutput.line(line) }
            }
        }
        return configuration
    }

    var mqttQoS: MQTTQoS { MQTTQoS(rawValue: UInt8(qos))! }

    /// An error message unless `--quiet`.
    func fail(_ text: String, code: Int32 = CLIExit.failure) -> Never {
        if quiet { processExit(code) }
        CLIOutput.fail(text, code: code)
    }

    func printVersion(_ tool: String) {
        CLIOutput.line("weevent mqtt \(tool) (MQTT 3.1.1 client; options as mosquitto_\(tool) 2.0)")
    }
}
