import Foundation

/// A tree head in C2SP tlog-checkpoint form: the note text `<origin>\n<size>\n<base64 root>\n`
/// (and extension lines, which this ledger does not write).
public struct Checkpoint: Sendable, Equatable {
    /// Names the log: `<ledger.origin>/<groupId>` for a group's tree.
    public var origin: String
    public var size: UInt64
    public var root: [UInt8]
    public var extensions: [String]

    public init(origin: String, size: UInt64, root: [UInt8], extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.root = root
        self.extensions = extensions
    }

    /// The note text.
    public var text: String {
        ([origin, String(size), Data(root).base64EncodedString()] + extensions).map { $0 + "\n" }.joined()
    }

    /// Parses a note text; nil unless it has an origin, a decimal size without leading zeroes,
    /// a base64 root of 32 bytes, and only non-empty extension lines.
    public init?(text: String) {
        guard text.hasSuffix("\n") else { return nil }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3, !lines[0].isEmpty, lines.allSatisfy({ !$0.isEmpty }),
            lines[1] == "0" || (!lines[1].hasPrefix("0") && lines[1].allSatisfy(\.isASCII)),
            let size = UInt64(lines[1]),
            let root = Data(base64Encoded: String(lines[2])), root.count == 32
        else { return nil }
        self.init(origin: String(lines[0]), size: size, root: Array(root), extensions: lines.dropFirst(3).map(String.init))
    }
}
