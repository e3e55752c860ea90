@testable import MQTTCLI
import Testing

/// `sub -F` and its JSON, byte for byte (the comparison with mosquitto_sub itself is in
/// MQTTToolComparisonTests; these pin the cases where we choose not to copy it, and hostile input).
@Suite struct MessageFormatTests {
    let hello = FormattedMessage(topic: "f/topic", payload: Array("hello".utf8), qos: 1, retain: true, messageID: 7)
    let time = ReceiveTime(seconds: 1_796_185_305, nanoseconds: 60_261_799)

    func render(_ format: String, _ message: FormattedMessage? = nil) throws -> String {
        let (bytes, failures) = try MessageFormat(format).render(message ?? hello, at: time, pretty: false)
        #expect(failures.isEmpty)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func fieldsWidthsAndPrecision() throws {
        #expect(try render("%t|%p|%q|%r|%l|%m|%%") == "f/topic|hello|1|1|5|7|%")
        #expect(try render("[%10t][%-10t][%.3t][%-10.3t][%010t]") == "[   f/topic][f/topic   ][f/t][f/t       ][   f/topic]")
        #expect(try render("[%10p][%-10p][%010p][%3p][%.3p]") == "[     hello][hello     ][00000hello][hel][hello]")
        #expect(try render("[%5l][%-5l][%05l][%-05l][%5q]") == "[    5][5    ][00005][5    ][1]")
        #expect(try render("[%A][%5C][%D][%5E][%05F][%P][%5R][%5S]") == "[][     ][][     ][00000][][][     ]")
        #expect(try render("%U") == "1796185305.060261799")
        #expect(try render("@@ @N") == "@ 060261799")
        #expect(try render("a\\tb\\0c\\e") == "a\tb\0c\u{1B}")
    }

    /// mosquitto_sub 2.0.11 shows min(length, width) / 2 bytes (`%020X` of hello: 6865); we show
    /// every byte that fits in the width, and `%-p` without a width adds no spaces.
    @Test func hexWidthsShowEveryByteThatFits() throws {
        #expect(try render("[%x][%X]") == "[68656c6c6f][68656C6C6F]")
        #expect(try render("[%020X]") == "[000000000068656C6C6F]")
        #expect(try render("[%4x][%-4x][%3x]") == "[6865][6865][ 68]")
        #expect(try render("[%4x]", FormattedMessage(topic: "t", payload: [0x35], qos: 0, retain: false, messageID: 0)) == "[  35]")
        #expect(try render("[%-p]") == "[hello]")
    }

    @Test func invalidFormatsAreNamed() {
        for (format, says) in [
            ("%z", "'%z'"), ("%", "incomplete"), ("%10", "incomplete"), ("@", "incomplete"), ("\\", "incomplete"),
            ("\\q", "'\\q'"), ("%0-5p", "'%-'"), ("%c", "'%c'"), ("%99999999999999999999p", "width"),
        ] {
            #expect {
                _ = try MessageFormat(format)
            } throws: { error in
                "\(error)".contains(says)
            }
        }
    }

    @Test func jsonAsMosquittoWritesIt() throws {
        let message = FormattedMessage(
            topic: "j",
            payload: Array(
                #" {"a": [1, 2.5, -0, 1e300, 0.30000000000000004, 12345678901234567890, -7.25e-5, "x\u00e9\/\n"], "b": {}, "c": [], "a": null} "#.utf8), qos: 0,
            retain: false, messageID: 0)
        let (bytes, failures) = try MessageFormat("%J").render(message, at: time, pretty: false)
        #expect(failures.isEmpty)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(
            text.hasSuffix(
                #""payloadlen":\#(message.payload.count),"payload":{"a":[1,2.5,-0,1e+300,0.3,1.2345678901234567e+19,-7.25e-05,"xé/\n"],"b":{},"c":[],"a":null}}"#
            ), "\(text)")
        #expect(!text.contains("\"mid\""))
        let pretty = try MessageFormat("%J").render(
            FormattedMessage(topic: "j", payload: Array(#"{"a":[[1,2],{"b":[]}],"e":{}}"#.utf8), qos: 2, retain: false, messageID: 3), at: time, pretty: true)
        #expect(
            String(decoding: pretty.bytes, as: UTF8.self).hasSuffix(
                "\t\"mid\":\t3,\n\t\"payload\":\t{\n\t\t\"a\":\t[[1, 2], {\n\t\t\t\t\"b\":\t[]\n\t\t\t}],\n\t\t\"e\":\t{\n\t\t}\n\t}\n}"))
        // %j: the payload as a string up to a NUL, control characters escaped, other bytes as they are.
        let raw = try MessageFormat("%j").render(
            FormattedMessage(topic: "j", payload: [0x61, 0x01, 0x22, 0x5C, 0xFF, 0x00, 0x62], qos: 0, retain: false, messageID: 0), at: time, pretty: false)
        let expected = Array(#""payload":"a\u0001\"\\"#.utf8) + [0xFF, 0x22, 0x7D]
        #expect(Array(raw.bytes.suffix(expected.count)) == expected)
    }

    @Test func payloadsThatAreNotJSONAreReportedNotFatal() throws {
        for payload in ["{\"a\":1} x", "{", "[1,]", "\"\\x\"", "tru", "{\"a\"}", "\"\\ud800\"", "a\0b"] {
            let message = FormattedMessage(topic: "bad", payload: Array(payload.utf8), qos: 0, retain: false, messageID: 0)
            let (bytes, failures) = try MessageFormat("<%J>").render(message, at: time, pretty: false)
            #expect(String(decoding: bytes, as: UTF8.self) == "<>", "\(payload)")
            #expect(failures == ["Message payload is not valid JSON on topic bad."], "\(payload)")
        }
        // Deep nesting is refused, not a stack overflow.
        let deep = FormattedMessage(topic: "deep", payload: Array(String(repeating: "[", count: 100_000).utf8), qos: 0, retain: false, messageID: 0)
        #expect(try MessageFormat("%J").render(deep, at: time, pretty: false).failures.count == 1)
    }

    @Test func optionsFileLines() {
        #expect(OptionsFile.parse("# comment\n-h broker\n-m hello world  \r\n\n  -v\n-t\tx\n") == ["-h", "broker", "-m", "hello world  ", "-v", "-t\tx"])
        let env = ProcessEnvironment(home: "/home/u", xdgConfigHome: nil)
        #expect((try? OptionsFile.expand(["pub", "-t", "a"], environment: env)) == ["pub", "-t", "a"])
    }

    @Test func urls() throws {
        let parts = try ConnectionOptions.parseURL("mqtts://chen:pw:x@broker.example:8884/a/b")
        #expect(parts == ConnectionOptions.URLParts(secure: true, host: "broker.example", port: 8884, username: "chen", password: "pw:x", topic: "a/b"))
        #expect(try ConnectionOptions.parseURL("mqtt://h/t").port == nil)
        #expect(throws: (any Error).self) { try ConnectionOptions.parseURL("mqtt://h:0/t") }
    }
}
