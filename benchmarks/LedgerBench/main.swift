import Foundation
import Ledger
import Logging
import WeEvent

// In-process ledger appends per second, durable (fsync per commit), as `make bench` reports them.
// Usage: LedgerBench [events] [directory]

let total = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 200_000 : 200_000
let base = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : NSTemporaryDirectory() + "ledger-bench-\(getpid())"
let content = Array(repeating: UInt8(ascii: "x"), count: 100)

func measure(_ name: String, tasks: Int, batch: Int) async throws -> (String, Double, UInt64) {
    let dir = "\(base)/\(name)"
    try? FileManager.default.removeItem(atPath: dir)
    let ledger = try GroupLedger.openSQLite(groupID: "1", directory: dir, blockMaxEvents: 1000, blockMaxDelay: .milliseconds(1))
    let ledgers = LedgerSet(groups: ["1"], ledgers: ["1": ledger])
    let (seconds, info) = try await ledgers.withRunning(logger: Logger(label: "bench")) {
        _ = try await ledger.open(topic: "bench")
        let perTask = total / tasks
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    if batch == 1 {
                        for _ in 0..<perTask { _ = try await ledger.publish(NewEvent(topic: "bench", content: content)) }
                    } else {
                        let events = Array(repeating: NewEvent(topic: "bench", content: content), count: batch)
                        for _ in 0..<(perTask / batch) { _ = try await ledger.publish(events) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let info = try await ledger.chainInfo()
        let report = try await ledger.verify()
        precondition(report.isIntact, "\(report)")
        return (seconds, info)
    }
    try? FileManager.default.removeItem(atPath: dir)
    return (name, Double(info.eventCount) / seconds, info.blockHeight)
}

var rows: [(String, Double, UInt64)] = []
rows.append(try await measure("1000 tasks x single publish", tasks: 1000, batch: 1))
rows.append(try await measure("64 tasks x batches of 100", tasks: 64, batch: 100))
print("| in-process ledger appends (\(total) events of 100 B, fsync per commit) | appends/s | blocks |")
print("|---|---:|---:|")
for (name, rate, blocks) in rows {
    print("| \(name) | \(Int(rate)) | \(blocks) |")
}
try? FileManager.default.removeItem(atPath: base)
