import Foundation
import Testing
import WeEvent

/// The bytes a publisher signs, checked against the worked example of docs/ledger.md (computed
/// with Python's hashlib and the `cryptography` package's Ed25519).
@Suite struct EventSignatureTests {
    static let seed = [UInt8](repeating: 1, count: 32)
    static let publicKey = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="
    static let signature = "Rh5SRyRqCREHRs3v1D/yyimdx4U7Ek985XmEfGzydZXbByERx02LD2sReN0+UQP3qMYfak4GYOxrqTd0DOWdDA=="

    @Test func theSignedBytesAndSignatureAreThoseOfTheWorkedExample() throws {
        let message = EventSignature.message(
            group: "1", topic: "t", publisher: "sensor", content: Array("hi".utf8),
            extensions: ["weevent-unit": "C", "weevent-publisher": "sensor", "weevent-signature": "ignored"])
        #expect(
            hexString(message)
                == "77656576656e74206576656e74207369676e617475726520763100" + "0000000131" + "0000000174" + "0000000673656e736f72"
                + "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4" + "00000001"
                + "0000000c77656576656e742d756e6974" + "0000000143")
        #expect(try EventSignature.sign(message, privateKey: Self.seed) == Self.signature, "Ed25519 is deterministic")
        let key = try #require(EventSignature.publicKey(base64: Self.publicKey))
        #expect(EventSignature.verify(Self.signature, message: message, publicKey: key))
    }

    @Test func aSignatureHoldsOnlyForWhatWasSigned() throws {
        let key = try #require(EventSignature.publicKey(base64: Self.publicKey))
        func verifies(group: String = "1", topic: String = "t", publisher: String = "sensor", content: String = "hi", unit: String = "C") -> Bool {
            let message = EventSignature.message(
                group: group, topic: topic, publisher: publisher, content: Array(content.utf8), extensions: ["weevent-unit": unit])
            return EventSignature.verify(Self.signature, message: message, publicKey: key)
        }
        #expect(verifies())
        #expect(!verifies(group: "2"))
        #expect(!verifies(topic: "u"), "a replay under another topic")
        #expect(!verifies(publisher: "mallory"))
        #expect(!verifies(content: "ho"))
        #expect(!verifies(unit: "F"))
        #expect(!EventSignature.verify("not base64!", message: [], publicKey: key))
        #expect(EventSignature.publicKey(base64: "AAAA") == nil)
    }
}
