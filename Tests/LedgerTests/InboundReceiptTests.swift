import Foundation
import GRDB
import Logging
import Testing
import TestSupport
import WeEvent
@testable import Ledger

@Suite(.timeLimit(.minutes(6))) struct InboundReceiptTests {
    @Test(arguments: Store.allCases) func receiptIsStoredWithItsEventAndSurvivesReopening(_ store: Store) async throws {
        let receipt = InboundReceipt(session: "weevent-bridge", packetID: 7)
        try await withKeptLocation(store) { place in
            let id = try await withLedger(store, keep: place) { ledger, _ in
                _ = try await ledger.open(topic: "t")
                #expect(try await ledger.receipt(receipt) == nil)
                let results = try await ledger.publish(
                    [NewEvent(topic: "t", content: [1]), NewEvent(topic: "t", content: [2])],
                    receipts: [nil, receipt]
                )
                return try results[1].get()
            }
            try await withLedger(store, keep: place) { ledger, _ throws in
                #expect(try await ledger.receipt(receipt) == id)
                #expect(try await ledger.event(id: id).content == [2])
            }
        }
    }

    @Test(arguments: Store.allCases) func noReceiptForAnEventThatWasRefused(_ store: Store) async throws {
        try await withLedger(store) { ledger, _ in
            let receipt = InboundReceipt(session: "s", packetID: 1)
            let results = try await ledger.publish([NewEvent(topic: "closed", content: [1])], receipts: [receipt])
            #expect((try? results[0].get()) == nil)
            #expect(try await ledger.receipt(receipt) == nil)
        }
    }

    @Test(arguments: Store.allCases) func aReusedPacketIDPointsAtTheNewestEvent(_ store: Store) async throws {
        try await withLedger(store) { ledger, _ in
            _ = try await ledger.open(topic: "t")
            let receipt = InboundReceipt(session: "s", packetID: 9)
            _ = try await ledger.publish([NewEvent(topic: "t", content: [1])], receipts: [receipt])
            let second = try await ledger.publish([NewEvent(topic: "t", content: [2])], receipts: [receipt])
            #expect(try await ledger.receipt(receipt) == (try second[0].get()))
        }
    }

    /// Retired when the broker releases the packet: gone durably, for that session and id only.
    @Test(arguments: Store.allCases) func aRetiredReceiptIsGoneAfterReopeningAndOthersStay(_ store: Store) async throws {
        let released = InboundReceipt(session: "weevent-bridge", packetID: 3)
        let other = InboundReceipt(session: "weevent-bridge", packetID: 4)
        let otherSession = InboundReceipt(session: "another-bridge", packetID: 3)
        try await withKeptLocation(store) { place in
            try await withLedger(store, keep: place) { ledger, _ in
                _ = try await ledger.open(topic: "t")
                _ = try await ledger.publish(
                    [NewEvent(topic: "t", content: [1]), NewEvent(topic: "t", content: [2]), NewEvent(topic: "t", content: [3])],
                    receipts: [released, other, otherSession]
                )
                try await ledger.retire([released, InboundReceipt(session: "weevent-bridge", packetID: 99)])
                #expect(try await ledger.receipt(released) == nil)
            }
            try await withLedger(store, keep: place) { ledger, _ throws in
                #expect(try await ledger.receipt(released) == nil)
                #expect(try await ledger.receipt(other) != nil)
                #expect(try await ledger.receipt(otherSession) != nil)
            }
        }
    }
}
