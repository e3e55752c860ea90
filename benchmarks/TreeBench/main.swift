import Foundation
import Ledger
import Logging
import WeEvent

// Fills an embedded ledger for the audit benchmark (scripts/bench-audit.sh): N events of 100 B
// on topic `bench`, 1000 per block (block k holds sequences 1000(k-1)+1 ... 1000k), then signs
// one checkpoint of the whole tree with the key at DIR/signing.key (made when absent).
// Usage: TreeBench DIR N
//        TreeBench DIR N prove COUNT   (times COUNT tree proofs of random events in-process)

let arguments = CommandLine.arguments
guard arguments.count == 3 || arguments.count == 5, let total = Int(arguments[2]), total > 0 else {
    FileHandle.standardError.write(Data("usage: TreeBench DIR N [prove COUNT]\n".utf8))
    exit(2)
}
if arguments.count == 5, let count = Int(arguments[4]) {
    let ledger = try GroupLedger.openSQLite(groupID: "1", directory: "\(arguments[1])/group-1", blockMaxEvents: 1000)
    let ledgers = LedgerSet(groups: ["1"], ledgers: ["1": ledger])
    try await ledgers.withRunning(logger: Logger(label: "bench")) {
        var times: [Double] = []
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<count {
            let sequence = UInt64.random(in: 1...UInt64(total), using: &generator)
            let id = EventID(topic: "bench", sequence: sequence, blockHeight: (sequence - 1) / 1000 + 1)
            let start = ContinuousClock.now
            _ = try await ledger.treeProof(of: id, treeSize: nil)
            let elapsed = ContinuousClock.now - start
            times.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
        }
        times.sort()
        print(String(format: "in-process treeProof, %d events: p50 %.3f ms, p99 %.3f ms", total, times[times.count / 2], times[times.count * 99 / 100]))
    }
    exit(0)
}
let directory = arguments[1]
let content = Array(repeating: UInt8(ascii: "x"), count: 100)
let ledger = try GroupLedger.openSQLite(groupID: "1", directory: "\(directory)/group-1", blockMaxEvents: 1000)
let ledgers = LedgerSet(groups: ["1"], ledgers: ["1": ledger])
let key = try CheckpointKey.loadOrCreate(path: "\(directory)/signing.key", origin: "weevent.localhost").key
let start = ContinuousClock.now
try await ledgers.withRunning(logger: Logger(label: "bench")) {
    _ = try await ledger.open(topic: "bench")
    var written = 0
    while written < total {
        let count = min(1000, total - written)
        let results = try await ledger.publish(Array(repeating: NewEvent(topic: "bench", content: content), count: count))
        precondition(results.allSatisfy { (try? $0.get()) != nil })
        written += count
    }
    let signed = try await ledger.signCheckpoint(with: key.signer(group: "1"))
    precondition(signed?.size == UInt64(total))
}
let elapsed = ContinuousClock.now - start
FileHandle.standardError.write(Data("TreeBench: \(total) events in \(elapsed)\n".utf8))
