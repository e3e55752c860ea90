import Testing
import WeEvent

@Suite struct IPRangeTests {
    @Test func addressesParseInBothFamiliesAndMappedIPv4IsIPv4() throws {
        #expect(IPAddress("192.0.2.1")?.bytes == [192, 0, 2, 1])
        #expect(IPAddress("::ffff:192.0.2.1") == IPAddress("192.0.2.1"))
        #expect(IPAddress("2001:DB8::1")?.description == "2001:db8::1")
        for bad in ["", "1.2.3", "1.2.3.256", "01.2.3.4x", "example.com", "fe80::1%eth0", "1.2.3.4:80", "[::1]", " 1.2.3.4"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
    }

    @Test func rangesHoldWhatTheirPrefixCovers() throws {
        let ten = try #require(IPRange("10.0.0.0/8"))
        #expect(ten.contains(IPAddress("10.255.3.4")!))
        #expect(!ten.contains(IPAddress("11.0.0.1")!))
        #expect(ten.contains(IPAddress("::ffff:10.1.2.3")!))
        // Host bits are cleared: the same range however it is written.
        #expect(IPRange("10.9.8.7/8") == ten)
        #expect(IPRange("::ffff:10.0.0.0/104") == ten)
        let odd = try #require(IPRange("172.16.0.0/12"))
        #expect(odd.contains(IPAddress("172.31.255.255")!))
        #expect(!odd.contains(IPAddress("172.32.0.0")!))
        let linkLocal = try #require(IPRange("fe80::/10"))
        #expect(linkLocal.contains(IPAddress("febf::1")!))
        #expect(!linkLocal.contains(IPAddress("fec0::1")!))
        #expect(!linkLocal.contains(IPAddress("10.0.0.1")!))
        #expect(IPRange("192.0.2.7")?.description == "192.0.2.7")
        #expect(IPRange("0.0.0.0/0")!.contains(IPAddress("203.0.113.5")!))
        for bad in ["10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "::/129", "::ffff:10.0.0.0/95", "10.0.0.0/8/8", "10.0.0.0/ 8"] {
            #expect(IPRange(bad) == nil, "\(bad)")
        }
    }

    @Test func nonPublicCoversWhatCallbacksMustNotReach() {
        for inside in [
            "127.0.0.1", "10.1.1.1", "172.20.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
            "::1", "::", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "224.0.0.1", "255.255.255.255",
        ] {
            #expect(IPRange.nonPublic.contains(IPAddress(inside)!), "\(inside)")
        }
        for outside in ["8.8.8.8", "203.0.113.9", "172.32.0.1", "2001:4860::8888", "192.0.3.1"] {
            #expect(!IPRange.nonPublic.contains(IPAddress(outside)!), "\(outside)")
        }
    }
}
