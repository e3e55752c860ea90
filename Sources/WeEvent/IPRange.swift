#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 address as its network-order bytes (4 or 16). An IPv4-mapped IPv6 address
/// (`::ffff:192.0.2.1`) is the IPv4 address it maps, so one rule covers both spellings.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public var isIPv4: Bool { bytes.count == 4 }

    /// nil unless `text` is a complete IPv4 dotted quad or IPv6 address (no zone, no port).
    public init?(_ text: some StringProtocol) {
        let text = String(text)
        guard !text.isEmpty, text.utf8.count <= 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(bytes: withUnsafeBytes(of: &v4) { Array($0) })
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let raw = withUnsafeBytes(of: &v6) { Array($0) }
        self.init(bytes: raw)
    }

    /// From 4 or 16 bytes; an IPv4-mapped IPv6 address becomes its IPv4 address.
    public init?(bytes raw: [UInt8]) {
        switch raw.count {
        case 4:
            bytes = raw
        case 16:
            let mapped = raw[0..<10].allSatisfy { $0 == 0 } && raw[10] == 0xFF && raw[11] == 0xFF
            bytes = mapped ? Array(raw[12..<16]) : raw
        default:
            return nil
        }
    }

    /// The IPv4 address an IPv6 address carries where one is reached through it: 6to4
    /// (`2002:AABB:CCDD::/48` carries AA.BB.CC.DD) and IPv4-translated (`::ffff:0:a.b.c.d`).
    public var embeddedIPv4: IPAddress? {
        guard bytes.count == 16 else { return nil }
        if bytes[0] == 0x20, bytes[1] == 0x02 { return IPAddress(bytes: Array(bytes[2..<6])) }
        if bytes[0..<8].allSatisfy({ $0 == 0 }), bytes[8] == 0xFF, bytes[9] == 0xFF, bytes[10] == 0, bytes[11] == 0 {
            return IPAddress(bytes: Array(bytes[12..<16]))
        }
        return nil
    }

    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil else { return "?" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A CIDR range (`10.0.0.0/8`, `fe80::/10`), or one address (`192.0.2.7`: a /32 or /128).
public struct IPRange: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    /// nil unless `text` is an address, optionally followed by `/` and a prefix length that fits it.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let bits = address.bytes.count * 8
        var length = bits
        if parts.count == 2 {
            // An IPv4-mapped range is written against 128 bits: ::ffff:10.0.0.0/104 is 10.0.0.0/8.
            let written = bits == 32 && parts[0].contains(":") ? 128 : bits
            guard parts[1].count <= 3, parts[1].allSatisfy(\.isASCII), let parsed = Int(parts[1]),
                (0...written).contains(parsed), parsed >= written - bits
            else { return nil }
            length = parsed - (written - bits)
        }
        self.init(address, prefixLength: length)
    }

    public init(_ address: IPAddress, prefixLength: Int) {
        precondition((0...address.bytes.count * 8).contains(prefixLength))
        self.prefixLength = prefixLength
        // Kept with the host bits cleared, so equal ranges compare equal.
        var masked = address.bytes
        for index in masked.indices {
            let keep = max(0, min(8, prefixLength - index * 8))
            masked[index] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        network = IPAddress(bytes: masked)!
    }

    public func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        return IPRange(address, prefixLength: prefixLength).network == network
    }

    public var description: String {
        prefixLength == network.bytes.count * 8 ? network.description : "\(network)/\(prefixLength)"
    }

    /// Addresses a callback must not reach unless allowed by configuration: this host, private
    /// networks, link-local (cloud metadata services live at 169.254.169.254), shared address
    /// space, multicast, and the reserved and documentation-free special blocks; in IPv6 also
    /// the deprecated IPv4-compatible (`::/96`) and site-local (`fec0::/10`) blocks, NAT64 and
    /// Teredo (`2001::/32`), which lead to IPv4 addresses. IPv4-mapped addresses are their IPv4
    /// address, and 6to4 (`2002::/16`) and IPv4-translated (`::ffff:0:0:0/96`) addresses are
    /// judged by the IPv4 address they carry (`IPAddress.embeddedIPv4`).
    public static let nonPublic: [IPRange] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
        "::/96", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "fc00::/7", "fe80::/10",
        "fec0::/10", "ff00::/8",
    ].map { IPRange($0)! }

    /// Loopback in either family.
    public static let loopback: [IPRange] = ["127.0.0.0/8", "::1/128"].map { IPRange($0)! }
}

extension Sequence<IPRange> {
    /// Whether any range of the list holds `address`.
    public func contains(_ address: IPAddress) -> Bool {
        contains { $0.contains(address) }
    }
}
