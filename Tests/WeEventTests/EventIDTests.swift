import Testing
@testable import WeEvent

@Suite struct EventIDTests {
    @Test func encodesTopicHashSequenceAndBlock() {
        // SHA-256("hello") starts 2cf24dba, the example of DESIGN §5.
        let id = EventID(topic: "hello", sequence: 59, blockHeight: 1124)
        #expect(id.description == "2cf24dba-59-1124")
    }

    @Test(arguments: ["2cf24dba-59-1124", "00000000-1-1", "abcdef01-9223372036854775807-9223372036854775807"])
    func roundTrips(_ text: String) throws {
        let id = try EventID.parse(text)
        #expect(id.description == text)
    }

    @Test(arguments: [
        ("", 100300), ("  ", 100300),
        (String(repeating: "1", count: 65), 100301),
        ("2cf24dba-59", 100302), ("2cf24dba-59-1124-1", 100302), ("2CF24DBA-59-1124", 100302),
        ("2cf24db-59-1124", 100302), ("2cf24dba-0-1124", 100302), ("2cf24dba-59-0", 100302),
        ("2cf24dba--59-1124", 100302), ("2cf24dba-+5-1124", 100302), ("zzzzzzzz-1-1", 100302),
        ("2cf24dba-99999999999999999999-1", 100302),
        // Above Int64.max: no ledger can hold such a sequence or height.
        ("abcdef01-18446744073709551615-7", 100302), ("abcdef01-9223372036854775808-7", 100302),
        ("abcdef01-1-9223372036854775808", 100302),
    ])
    func rejectsMalformed(_ text: String, _ code: Int) {
        do {
            _ = try EventID.parse(text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.code.rawValue == code)
        }
    }

    @Test func hexRoundTripsAndRefusesWhatIsNotHex() {
        let bytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xab, 0xff]
        #expect(WeEvent.bytes(hex: hexString(bytes)) == bytes)
        #expect(WeEvent.bytes(hex: "ABff") == [0xab, 0xff])
        #expect(WeEvent.bytes(hex: "") == [])
        for bad in ["a", "0g", "zz", " 0", "0x00"] { #expect(WeEvent.bytes(hex: bad) == nil, "\(bad)") }
    }
}
