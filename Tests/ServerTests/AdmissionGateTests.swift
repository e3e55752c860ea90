import Testing
import WeEvent
@testable import Server

/// One client cannot take every place: each has its own bound inside the total.
@Suite struct AdmissionGateTests {
    private func gate(limit: Int, perClient: Int) -> AdmissionGate {
        AdmissionGate(limit: limit, perClient: perClient) { refused in
            switch refused {
            case .total: WeEventError(.tooManyStreams, message: "total")
            case .client(let client, _): WeEventError(.tooManyStreams, message: "client \(client)")
            }
        }
    }

    @Test func aClientIsBoundedAndOthersStillGetPlaces() throws {
        let gate = gate(limit: 5, perClient: 2)
        let a = IPAddress("192.0.2.1"), b = IPAddress("192.0.2.2"), c = IPAddress("2001:db8::1")
        var held = [try gate.enter(client: a), try gate.enter(client: a)]
        do {
            _ = try gate.enter(client: a)
            Issue.record("a third place for one client")
        } catch {
            #expect(error.message == "client 192.0.2.1")
        }
        held += [try gate.enter(client: b), try gate.enter(client: b), try gate.enter(client: c)]
        do {
            _ = try gate.enter(client: c)
            Issue.record("a sixth place in all")
        } catch {
            #expect(error.message == "total")
        }
        // A place given back is a place again, for its client.
        held.removeFirst().release()
        held.append(try gate.enter(client: a))
        #expect(held.count == 5)
        // Unknown clients share one count.
        let open = self.gate(limit: 10, perClient: 1)
        let unknown = try open.enter(client: nil)
        #expect(throws: WeEventError.self) { try open.enter(client: nil) }
        unknown.release()
        _ = try open.enter(client: nil)
    }
}
