import BrokerConfiguration
import Hummingbird
import WeEvent

/// Request parameters from the query string and, for POST, an
/// `application/x-www-form-urlencoded` body; a body value wins over the query's.
/// `+` means a space in both, as in the Java servlet containers WeEvent runs on.
public struct RequestParameters: Sendable {
    public private(set) var values: [String: String] = [:]
    /// Who sent the request (`AccessControl`); the open broker's anyone until resolved.
    var caller = Caller.openBroker

    public subscript(name: String) -> String? { values[name] }

    public init(_ values: [String: String]) {
        self.values = values
    }

    static func collect(_ request: Request, maxBodyBytes: Int) async throws -> RequestParameters {
        var parameters = RequestParameters([:])
        if let query = request.uri.query {
            try parameters.merge(formEncoded: Substring(query))
        }
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        if request.method == .post, contentType.hasPrefix("application/x-www-form-urlencoded") {
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: maxBodyBytes)
            } catch {
                throw WeEventError(.eventContentExceedsMaxLength, detail: "request body above \(maxBodyBytes) bytes")
            }
            try parameters.merge(formEncoded: Substring(String(buffer: buffer)))
        }
        return parameters
    }

    /// Splits at `&` and the first `=` by bytes: both are ASCII, and splitting the text by
    /// Characters (grapheme breaking) cost about 5% of a publish's CPU in a profile.
    mutating func merge(formEncoded text: Substring) throws(WeEventError) {
        for pair in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let rawName = Substring(pair[..<(equals ?? pair.endIndex)])
            let rawValue = equals.map { Substring(pair[pair.index(after: $0)...]) } ?? ""
            guard let name = Self.decode(rawName), let value = Self.decode(rawValue) else {
                throw WeEventError(.invalidInputParam, message: "malformed percent-encoding in parameter '\(rawName)'")
            }
            if !name.isEmpty { values[name] = value }
        }
    }

    /// Percent-decoding with `+` as space; nil when an escape is malformed or the bytes are not UTF-8.
    static func decode(_ text: Substring) -> String? {
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }

    /// `weevent-*` parameters, which a publish keeps as the event's extensions.
    var extensions: [String: String] {
        values.filter { $0.key.hasPrefix(Validation.extensionPrefix) }
    }

    /// `content` and the `weevent-*` extensions of an event a client publishes, checked against
    /// the configured limits (rest/publish, rest/request).
    func clientEvent(_ configuration: BrokerConfiguration.Configuration) throws(WeEventError) -> (content: [UInt8], extensions: [String: String]) {
        let content = Array((self["content"] ?? "").utf8)
        try Validation.content(content, maxLength: configuration.events.contentMaxLength)
        var extensions = self.extensions
        try Validation.clientExtensions(extensions, maxLength: configuration.events.extensionsMaxLength)
        // The publisher, which no client can set (a reserved name), under the event hash.
        extensions.merge(caller.publisherExtensions) { _, broker in broker }
        return (content, extensions)
    }

    /// Checks the event's `weevent-signature` against the caller's key (100709): a signature
    /// must come from an identity with a registered key and verify over the group, topic,
    /// publisher, content and extensions; an identity that must sign may not publish without.
    func checkSignature(group: String, topic: String, content: [UInt8], extensions: [String: String]) throws(WeEventError) {
        guard let signature = extensions[EventSignature.extensionName] else {
            if let identity = caller.identity, identity.signaturesRequired {
                let name = identity.name
                throw WeEventError(
                    .eventSignatureInvalid,
                    message:
                        "event signature invalid: identity \(name) must sign its events (weevent-signature, docs/ledger.md \"Publishers and signed events\")")
            }
            return
        }
        guard let name = caller.name, let key = caller.identity?.publicKey else {
            throw WeEventError(
                .eventSignatureInvalid,
                message: "event signature invalid: a signed event needs a caller whose identity has a registered public key"
                    + (caller.name.map { " (identity \($0) has none)" } ?? " (this call has no token)"))
        }
        let message = EventSignature.message(group: group, topic: topic, publisher: name, content: content, extensions: extensions)
        guard EventSignature.verify(signature, message: message, publicKey: key) else {
            throw WeEventError(
                .eventSignatureInvalid,
                message: "event signature invalid: weevent-signature does not verify under identity \(name)'s key over group \(group), "
                    + "topic '\(topic)', the content and the extensions (docs/ledger.md \"Publishers and signed events\")")
        }
    }
}
