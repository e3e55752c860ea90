import Foundation
import Hummingbird
import WeEvent

/// An event as getEvent answers it (`{"content","eventId","extensions","topic"}`, keys sorted),
/// written straight into a buffer. Streams send every event to every reader, so this runs
/// far more often than any other encoding; JSONEncoder costs several times more per event.
enum EventJSON {
    static func write(_ event: Event, into buffer: inout ByteBuffer) {
        buffer.writeString(#"{"content":""#)
        buffer.writeString(Data(event.content).base64EncodedString())
        buffer.writeString(#"","eventId":""#)
        buffer.writeString(event.id.description)
        buffer.writeString(#"","extensions":{"#)
        var first = true
        for key in event.extensions.keys.sorted() {
            if !first { buffer.writeInteger(UInt8(ascii: ",")) }
            first = false
            writeString(key, into: &buffer)
            buffer.writeInteger(UInt8(ascii: ":"))
            writeString(event.extensions[key]!, into: &buffer)
        }
        buffer.writeString(#"},"topic":"#)
        writeString(event.topic, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as UTF-8.
    static func writeString(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString(#"\""#)
            case UInt8(ascii: "\\"): buffer.writeStaticString(#"\\"#)
            case 0x0A: buffer.writeStaticString(#"\n"#)
            case 0x0D: buffer.writeStaticString(#"\r"#)
            case 0x09: buffer.writeStaticString(#"\t"#)
            case 0x08: buffer.writeStaticString(#"\b"#)
            case 0x0C: buffer.writeStaticString(#"\f"#)
            case 0x00..<0x20:
                let digits: StaticString = "0123456789abcdef"
                buffer.writeStaticString(#"\u00"#)
                buffer.writeInteger(digits.utf8Start[Int(byte >> 4)])
                buffer.writeInteger(digits.utf8Start[Int(byte & 0x0f)])
            default: buffer.writeInteger(byte)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
