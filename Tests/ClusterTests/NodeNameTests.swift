import Cluster
import Testing

@Suite struct NodeNameTests {
    @Test(arguments: ["1/com.weevent.iot.event", "1/a/b c/%/温度", "group-2/x~y_z", "\u{1}"])
    func roundTrips(_ text: String) {
        let encoded = NodeName.encode(text)
        #expect(!encoded.contains("/"))
        #expect(NodeName.decode(encoded) == text)
    }

    @Test func unreservedCharactersStayAndOthersArePercentEncoded() {
        #expect(NodeName.encode("a-b_c.d~e") == "a-b_c.d~e")
        #expect(NodeName.encode("1/a b") == "1%2Fa%20b")
        #expect(NodeName.encode("\n") == "%0A")
        #expect(NodeName.decode("%2") == nil)
    }
}
