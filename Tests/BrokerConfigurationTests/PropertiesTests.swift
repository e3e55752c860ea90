import BrokerConfiguration
import Testing
@testable import WeEvent

@Suite struct PropertiesTests {
    @Test func readsCommentsSeparatorsAndBlankLines() throws {
        let text = """
            # a comment
            ! another comment
              
            a=1
            b: 2
            c 3
            d   =   four  
            e=
            """
        let p = try Properties(parsing: text)
        #expect(p["a"] == "1")
        #expect(p["b"] == "2")
        #expect(p["c"] == "3")
        #expect(p["d"] == "four")
        #expect(p["e"] == "")
        #expect(p.values["d"]?.line == 7)
        #expect(p.entries.count == 5)
    }

    @Test func joinsContinuationLinesDroppingLeadingBlanks() throws {
        let p = try Properties(parsing: "list=a,\\\n    b,\\\n\tc\nnext=x\n")
        #expect(p["list"] == "a,b,c")
        #expect(p["next"] == "x")
        #expect(p.values["next"]?.line == 4)
    }

    @Test func evenBackslashesDoNotContinue() throws {
        let p = try Properties(parsing: "path=C:\\\\\nother=1")
        #expect(p["path"] == "C:\\")
        #expect(p["other"] == "1")
    }

    @Test func decodesEscapes() throws {
        let p = try Properties(parsing: #"greeting=\u4f60\u597d tab\tend\=x"# + "\nkey\\ with\\ space=v\nk\\:colon=w")
        #expect(p["greeting"] == "你好 tab\tend=x")
        #expect(p["key with space"] == "v")
        #expect(p["k:colon"] == "w")
    }

    @Test func malformedUnicodeEscapeNamesKeyAndLine() {
        #expect(throws: ConfigurationError(source: "f", line: 2, key: "bad", message: "malformed \\uXXXX escape '\\u12G4'")) {
            try Properties(parsing: "ok=1\nbad=\\u12G4", source: "f")
        }
    }

    @Test func expandsEnvironmentVariables() throws {
        let p = try Properties(parsing: "mqtt.broker.user=${user}\nurl=tcp://${HOST}:${PORT}/x", environment: ["user": "alice", "HOST": "h", "PORT": "1"])
        #expect(p["mqtt.broker.user"] == "alice")
        #expect(p["url"] == "tcp://h:1/x")
    }

    @Test func unsetEnvironmentVariableNamesKeyAndLine() {
        do {
            _ = try Properties(parsing: "# c\nmqtt.broker.password=${password}", source: "conf/weevent.properties")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 2)
            #expect(error.key == "mqtt.broker.password")
            #expect(error.description == "conf/weevent.properties:2: mqtt.broker.password: environment variable 'password' is not set")
        }
    }

    @Test func handlesCRLFAndCR() throws {
        let p = try Properties(parsing: "a=1\r\nb=2\rc=3")
        #expect(p["a"] == "1" && p["b"] == "2" && p["c"] == "3")
        #expect(p.values["c"]?.line == 3)
    }
}
