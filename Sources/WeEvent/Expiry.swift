import Foundation

/// When a command stops being worth sending (docs/mqtt-bridge.md "Expiring commands"): an
/// event's own `weevent-expiry` (milliseconds since 1970), or its outbound binding's TTL after
/// the event's block time; the earlier of the two. The bridge does not send an expired event
/// to its device, and rest/request stops waiting for the reply to an expired command.
public enum Expiry {
    public static let extensionName = "weevent-expiry"
    /// 9999-12-31T23:59:59.999Z: later values are refused as malformed.
    public static let latest: Int64 = 253_402_300_799_999

    /// Now, in milliseconds since 1970: the clock expiries, retention and identities' times count in.
    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// The value of `weevent-expiry`: decimal digits up to `latest`; nil for anything else.
    public static func parse(_ text: String) -> Int64? {
        guard !text.isEmpty, text.utf8.count <= 15, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let value = Int64(text), value <= latest
        else { return nil }
        return value
    }

    /// When the event expires (ms since 1970), from its extension and a TTL (ms) counted from
    /// its block time; nil when neither applies. A malformed extension (one stored before it was
    /// checked) does not count.
    public static func of(_ event: Event, ttl: Int64?) -> Int64? {
        let own = event.extensions[extensionName].flatMap(parse)
        let byTTL = ttl.map { event.timestamp.addingReportingOverflow($0).overflow ? Int64.max : event.timestamp + $0 }
        switch (own, byTTL) {
        case (let a?, let b?): return min(a, b)
        case (let a?, nil): return a
        case (nil, let b?): return b
        case (nil, nil): return nil
        }
    }
}
