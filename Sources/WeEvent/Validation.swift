/// Input rules of WeEvent's REST API (DESIGN §4), shared by every entry point.
public enum Validation {
    public static let maxTopicLength = 64
    public static let maxEventIDLength = 64
    public static let extensionPrefix = "weevent-"
    /// The extension the MQTT bridge sets on an inbound event: the MQTT topic it came from. The
    /// outbound bridge does not send such an event back to that topic (loop prevention).
    public static let mqttTopicExtension = "weevent-mqtt-topic"
    /// The extension naming who published an event: the identity's name, or `mqtt:<binding's
    /// MQTT topic>` for an event the inbound bridge stored; absent for an anonymous publish.
    public static let publisherExtension = "weevent-publisher"
    /// Extensions only the broker sets; a client may not (compared without case).
    public static let reservedExtensions: Set<String> = [mqttTopicExtension, publisherExtension]

    /// Checks a topic name: not blank, at most 64 bytes, printable ASCII without `+`/`#`, not ending in `/`.
    public static func topic(_ topic: String?) throws(WeEventError) -> String {
        guard let topic, !topic.allSatisfy({ $0.isWhitespace }) else {
            throw WeEventError(.topicIsBlank)
        }
        let bytes = topic.utf8
        if bytes.count > maxTopicLength {
            throw WeEventError(.topicExceedMaxLength)
        }
        for byte in bytes where byte < 32 || byte > 127 || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") {
            throw WeEventError(.topicContainInvalidChar, detail: "byte \(byte) in topic")
        }
        if bytes.last == UInt8(ascii: "/") {
            throw WeEventError(.topicContainInvalidChar, message: "topic name must not end with '/'")
        }
        return topic
    }

    /// Checks event content against the configured limit (bytes).
    public static func content(_ content: [UInt8], maxLength: Int) throws(WeEventError) {
        if content.isEmpty {
            throw WeEventError(.eventContentIsBlank)
        }
        if content.count > maxLength {
            throw WeEventError(
                .eventContentExceedsMaxLength,
                message: maxLength == 10240 ? nil : "event content exceeds max length[\(maxLength) bytes]"
            )
        }
    }

    /// Checks extensions: only `weevent-` keys, keys and values together at most `maxLength` bytes.
    public static func extensions(_ extensions: [String: String], maxLength: Int) throws(WeEventError) {
        var total = 0
        for (key, value) in extensions {
            guard key.hasPrefix(extensionPrefix) else {
                throw WeEventError(.eventExtensionsKeyInvalid, detail: key)
            }
            total += key.utf8.count + value.utf8.count
        }
        if total > maxLength {
            throw WeEventError(
                .eventExtensionsExceedsMaxLength,
                message: maxLength == 1024 ? nil : "event extensions exceeds max length[\(maxLength) bytes]"
            )
        }
    }

    /// A client's extensions (REST publish): the rules above, and none of the broker's reserved names.
    public static func clientExtensions(_ extensions: [String: String], maxLength: Int) throws(WeEventError) {
        for key in extensions.keys where reservedExtensions.contains(key.lowercased()) {
            throw WeEventError(
                .eventExtensionsKeyInvalid, message: "event extensions key \(key) is reserved for the broker", detail: key
            )
        }
        try Self.extensions(extensions, maxLength: maxLength)
        if let expiry = extensions[Expiry.extensionName], Expiry.parse(expiry) == nil {
            throw WeEventError(
                .expiryInvalid, message: "weevent-expiry should be milliseconds since 1970 (decimal digits, before year 10000), got '\(expiry.prefix(40))'")
        }
    }

    /// pageIndex: an integer from 0.
    public static func pageIndex(_ raw: String?) throws(WeEventError) -> Int {
        guard let raw, let value = Int(raw), value >= 0 else { throw WeEventError(.pageIndexInvalid) }
        return value
    }

    /// pageSize: an integer in 1...100.
    public static func pageSize(_ raw: String?) throws(WeEventError) -> Int {
        guard let raw, let value = Int(raw), (1...100).contains(value) else { throw WeEventError(.pageSizeInvalid) }
        return value
    }
}
