import Foundation
import Synchronization
import Testing
import WeEvent
@testable import Ledger

/// rest/request's wait for a reply (`ReplySearch`) on a real embedded ledger, without HTTP.
@Suite(.timeLimit(.minutes(2))) struct ReplySearchTests {
    /// Stores a command on "commands" and returns it prepared, with its position.
    static func send(_ content: String, on ledger: any EventLedger) async throws -> (CorrelatedCommand, UInt64) {
        let command = try CorrelatedCommand.prepare(Array(content.utf8), path: nil)
        let id = try await ledger.publish(NewEvent(topic: "commands", content: command.content))
        return (command, try await ledger.position(of: id))
    }

    static func reply(_ content: String, on ledger: any EventLedger, bridged: Bool = false) async throws {
        _ = try await ledger.publish(
            NewEvent(
                topic: "replies", content: Array(content.utf8), extensions: bridged ? [Validation.mqttTopicExtension: "devices/reply"] : [:]
            ))
    }

    static func text(_ outcome: ReplySearch.Outcome) -> String? {
        guard case .reply(let event) = outcome else { return nil }
        return String(decoding: event.content, as: UTF8.self)
    }

    @Test func repliesStoredBeforeTheWaitStartsAreFoundAndOnlyTheMatchingOneAnswers() async throws {
        try await withLedger(.sqlite) { ledger, _ in
            _ = try await ledger.open(topic: "commands")
            _ = try await ledger.open(topic: "replies")
            let (command, position) = try await Self.send(#"{"action":"switch","header":{"reqid":"129393"}}"#, on: ledger)
            try await Self.reply(#"{"retcode":1,"header":{"reqid":"someone-else"}}"#, on: ledger)
            try await Self.reply(#"{"retcode":0,"header":{"reqid":"129393"}}"#, on: ledger)
            let outcome = try await ReplySearch(command: command, replyTopic: "replies")
                .wait(after: position, in: ledger, until: .now + .seconds(10))
            #expect(Self.text(outcome) == #"{"retcode":0,"header":{"reqid":"129393"}}"#)
        }
    }

    @Test func aReplyStoredBeforeTheCommandIsNoAnswerAndTheWaitLastsItsTimeout() async throws {
        try await withLedger(.sqlite) { ledger, _ in
            _ = try await ledger.open(topic: "commands")
            _ = try await ledger.open(topic: "replies")
            try await Self.reply(#"{"reqId":"r1"}"#, on: ledger)
            let (command, position) = try await Self.send(#"{"reqId":"r1"}"#, on: ledger)
            let started = ContinuousClock.now
            let outcome = try await ReplySearch(command: command, replyTopic: "replies")
                .wait(after: position, in: ledger, until: started + .milliseconds(300))
            guard case .timedOut = outcome else {
                Issue.record("expected a timeout, got \(outcome)")
                return
            }
            #expect(ContinuousClock.now - started >= .milliseconds(300))
        }
    }

    /// Storing the reply outlasted the whole timeout (a busy store): it is on the ledger when the
    /// wait starts, after its deadline, and it is the answer.
    @Test func aReplyOnTheLedgerIsTheAnswerEvenPastTheDeadline() async throws {
        try await withLedger(.sqlite) { ledger, _ in
            _ = try await ledger.open(topic: "commands")
            _ = try await ledger.open(topic: "replies")
            let (command, position) = try await Self.send(#"{"reqId":"late-1"}"#, on: ledger)
            try await Self.reply(#"{"reqId":"late-1"}"#, on: ledger)
            let outcome = try await ReplySearch(command: command, replyTopic: "replies")
                .wait(after: position, in: ledger, until: .now - .seconds(1))
            #expect(Self.text(outcome) == #"{"reqId":"late-1"}"#)
        }
    }

    @Test func aReplyCommittedWhileWaitingEndsTheWait() async throws {
        try await withLedger(.sqlite) { ledger, _ in
            _ = try await ledger.open(topic: "commands")
            _ = try await ledger.open(topic: "replies")
            let (command, position) = try await Self.send(#"{"id":7}"#, on: ledger)
            let started = ContinuousClock.now
            async let outcome = ReplySearch(command: command, replyTopic: "replies")
                .wait(after: position, in: ledger, until: started + .seconds(30))
            try await Self.reply(#"{"id":7,"done":true}"#, on: ledger)
            #expect(Self.text(try await outcome) == #"{"id":7,"done":true}"#)
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    /// With `bridgedOnly`, an event anyone could publish over REST does not answer; one the
    /// bridge stored (with weevent-mqtt-topic) does. Without it, the first match answers.
    @Test(arguments: [true, false]) func onlyTheBridgesReplyAnswersWhenAsked(_ bridgedOnly: Bool) async throws {
        try await withLedger(.sqlite) { ledger, _ in
            _ = try await ledger.open(topic: "commands")
            _ = try await ledger.open(topic: "replies")
            let (command, position) = try await Self.send(#"{"reqId":"42"}"#, on: ledger)
            try await Self.reply(#"{"reqId":"42","state":"forged"}"#, on: ledger)
            try await Self.reply(#"{"reqId":"42","state":"from the device"}"#, on: ledger, bridged: true)
            let outcome = try await ReplySearch(command: command, replyTopic: "replies", bridgedOnly: bridgedOnly)
                .wait(after: position, in: ledger, until: .now + .seconds(10))
            #expect(Self.text(outcome) == (bridgedOnly ? #"{"reqId":"42","state":"from the device"}"# : #"{"reqId":"42","state":"forged"}"#))
        }
    }

    @Test func aCallerWhoLeavesEndsTheWaitAtOnce() async throws {
        try await withLedger(.sqlite) { ledger, _ in
            _ = try await ledger.open(topic: "commands")
            _ = try await ledger.open(topic: "replies")
            let (command, position) = try await Self.send(#"{"reqId":"gone"}"#, on: ledger)
            let leave = Mutex<(@Sendable () -> Void)?>(nil)
            let gone = Mutex(false)
            let (watching, watched) = AsyncStream.makeStream(of: Void.self)
            let started = ContinuousClock.now
            async let outcome = ReplySearch(command: command, replyTopic: "replies").wait(
                after: position, in: ledger, until: started + .seconds(30),
                watchCaller: { close in
                    leave.withLock { $0 = close }
                    watched.yield()
                },
                callerGone: { gone.withLock { $0 } }
            )
            for await _ in watching { break }
            gone.withLock { $0 = true }
            leave.withLock { $0 }?()
            guard case .callerLeft = try await outcome else {
                Issue.record("the wait did not end with the caller")
                return
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }
}
