import Foundation
import GRDB
import Logging
import WeEvent

/// Runs on the ledger's writer thread: turns a batch of queued writes into blocks,
/// commits them in one durable transaction, then answers every waiting caller.
struct BlockWriter {
    let ledger: SQLiteLedger

    private struct PendingEvent {
        var topic: String
        var sequence: UInt64
        var content: [UInt8]
        var extensions: [String: String]
        var hash: [UInt8]
    }

    private struct SealedBlock {
        var header: BlockHeader
        var firstPosition: UInt64
        var events: [PendingEvent]
    }

    /// What each op gets once the transaction committed.
    private enum Answer {
        case eventID(CheckedContinuation<EventID, any Error>, EventID)
        case batch(CheckedContinuation<[Result<EventID, WeEventError>], any Error>, [Result<EventID, WeEventError>])
        case opened(CheckedContinuation<Bool, any Error>)
        case closed(CheckedContinuation<Void, any Error>)
        case released(CheckedContinuation<Void, any Error>)

        func succeed() {
            switch self {
            case .eventID(let c, let id): c.resume(returning: id)
            case .batch(let c, let results): c.resume(returning: results)
            case .opened(let c): c.resume(returning: true)
            case .closed(let c), .released(let c): c.resume()
            }
        }

        func fail(_ error: any Error) {
            switch self {
            case .eventID(let c, _): c.resume(throwing: error)
            case .batch(let c, _): c.resume(throwing: error)
            case .opened(let c): c.resume(throwing: error)
            case .closed(let c), .released(let c): c.resume(throwing: error)
            }
        }
    }

    init(ledger: SQLiteLedger) {
        self.ledger = ledger
    }

    mutating func write(_ batch: [WriteOp]) {
        let base = ledger.view.withLock { view in
            (topics: view.topics, height: view.height, lastHash: view.lastHash, eventCount: view.eventCount, nextOrder: view.topics.count)
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var changes: [String: TopicRecord] = [:]
        var nextOrder = base.nextOrder
        var blocks: [SealedBlock] = []
        var current: [PendingEvent] = []
        var answers: [Answer] = []
        var receiptsToStore: [(InboundReceipt, String)] = []
        var receiptsToRelease: [InboundReceipt] = []
        answers.reserveCapacity(batch.count)
        let maxEvents = ledger.blockMaxEvents

        func record(_ topic: String) -> TopicRecord? { changes[topic] ?? base.topics[topic] }
        func height() -> UInt64 { base.height + UInt64(blocks.count) + 1 }
        func seal() {
            guard !current.isEmpty else { return }
            let previous = blocks.last?.header.hash ?? base.lastHash
            let h = height()
            let root = BlockHash.merkleRoot(current.map(\.hash))
            let hash = BlockHash.block(height: h, previousHash: previous, merkleRoot: root, timestamp: now, eventCount: UInt32(current.count))
            let first = (blocks.last.map { $0.firstPosition + UInt64($0.events.count) }) ?? (base.eventCount + 1)
            blocks.append(SealedBlock(
                header: BlockHeader(height: h, previousHash: previous, merkleRoot: root, hash: hash, timestamp: now, eventCount: UInt32(current.count)),
                firstPosition: first, events: current
            ))
            current = []
        }
        func append(_ event: NewEvent) -> Result<EventID, WeEventError> {
            // One hash lookup per event once a topic is in `changes` (the common case under load).
            var index = changes.index(forKey: event.topic)
            if index == nil {
                guard let rec = base.topics[event.topic] else { return .failure(notOpen(event.topic)) }
                changes[event.topic] = rec
                index = changes.index(forKey: event.topic)
            }
            guard let index, changes.values[index].isOpen else { return .failure(notOpen(event.topic)) }
            if current.count >= maxEvents { seal() }
            let h = height()
            let sequence = changes.values[index].sequence + 1
            changes.values[index].sequence = sequence
            changes.values[index].lastBlock = h
            changes.values[index].lastTimestamp = now
            current.append(PendingEvent(
                topic: event.topic, sequence: sequence, content: event.content, extensions: event.extensions,
                hash: BlockHash.event(topic: event.topic, sequence: sequence, timestamp: now, content: event.content, extensions: event.extensions)
            ))
            return .success(EventID(topicHash: changes.values[index].idPrefix, sequence: sequence, blockHeight: h))
        }
        func notOpen(_ topic: String) -> WeEventError {
            WeEventError(.topicNotExist, detail: "topic \(topic) in group \(ledger.groupID)")
        }

        for op in batch {
            switch op {
            case .publish(let event, let c):
                switch append(event) {
                case .success(let id): answers.append(.eventID(c, id))
                case .failure(let error): c.resume(throwing: error)
                }
            case .publishBatch(let events, let receipts, let c):
                var results: [Result<EventID, WeEventError>] = []
                results.reserveCapacity(events.count)
                for (i, event) in events.enumerated() {
                    let result = append(event)
                    if case .success(let id) = result, let receipt = receipts?[i] {
                        receiptsToStore.append((receipt, id.description))
                    }
                    results.append(result)
                }
                answers.append(.batch(c, results))
            case .releaseReceipts(let receipts, let c):
                receiptsToRelease.append(contentsOf: receipts)
                answers.append(.released(c))
            case .open(let topic, let c):
                if var rec = record(topic) {
                    if !rec.isOpen {
                        rec.isOpen = true
                        changes[topic] = rec
                    }
                } else {
                    changes[topic] = TopicRecord(
                        created: now, sequence: 0, lastBlock: 0, lastTimestamp: now, isOpen: true, order: nextOrder,
                        idPrefix: EventID.topicHash(topic)
                    )
                    nextOrder += 1
                }
                answers.append(.opened(c))
            case .close(let topic, let c):
                guard var rec = record(topic), rec.isOpen else {
                    c.resume(throwing: WeEventError(.topicNotExist, detail: "topic \(topic) in group \(ledger.groupID)"))
                    continue
                }
                rec.isOpen = false
                changes[topic] = rec
                answers.append(.closed(c))
            }
        }
        seal()

        if changes.isEmpty && blocks.isEmpty && receiptsToRelease.isEmpty {
            for answer in answers { answer.succeed() }
            return
        }
        do {
            try ledger.pool.write { db in
                try Self.insert(blocks, into: db)
                if !receiptsToRelease.isEmpty {
                    let delete = try db.cachedStatement(sql: "DELETE FROM mqtt_receipts WHERE session = ? AND packet_id = ?")
                    for receipt in receiptsToRelease { try delete.execute(arguments: [receipt.session, Int64(receipt.packetID)]) }
                }
                if !receiptsToStore.isEmpty {
                    let upsert = try db.cachedStatement(sql: "INSERT OR REPLACE INTO mqtt_receipts(session, packet_id, event_id) VALUES (?, ?, ?)")
                    for (receipt, id) in receiptsToStore {
                        try upsert.execute(arguments: [receipt.session, Int64(receipt.packetID), id])
                    }
                }
                let upsert = try db.cachedStatement(sql: """
                    INSERT INTO topics(name, created, seq, last_block, last_timestamp, open, ord) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, last_block = excluded.last_block,
                    last_timestamp = excluded.last_timestamp, open = excluded.open
                    """)
                for (name, rec) in changes {
                    try upsert.execute(arguments: [
                        name, rec.created, Int64(rec.sequence), Int64(rec.lastBlock), rec.lastTimestamp, rec.isOpen ? 1 : 0, rec.order,
                    ])
                }
            }
        } catch {
            ledger.logger.error("ledger commit failed; answering every writer of this batch with 200000", metadata: [
                "error": "\(error)", "blocks": "\(blocks.count)",
            ])
            let failure = WeEventError(.unknownError, detail: "ledger commit failed: \(error)")
            for answer in answers { answer.fail(failure) }
            return
        }
        ledger.view.withLock { view in
            for (name, rec) in changes { view.add(name, rec) }
            if let last = blocks.last {
                view.height = last.header.height
                view.lastHash = last.header.hash
                view.eventCount = last.firstPosition + UInt64(last.events.count) - 1
            }
        }
        if let last = blocks.last {
            ledger.commits.committed(through: last.firstPosition + UInt64(last.events.count) - 1) {
                Self.positioned(blocks)
            }
        }
        for answer in answers { answer.succeed() }
    }

    /// The committed events as live readers get them (`CommitFeed`).
    private static func positioned(_ blocks: [SealedBlock]) -> [PositionedEvent] {
        var topicHashes: [String: String] = [:]
        var result: [PositionedEvent] = []
        result.reserveCapacity(blocks.reduce(0) { $0 + $1.events.count })
        for block in blocks {
            var position = block.firstPosition
            for event in block.events {
                let topicHash = topicHashes[event.topic] ?? EventID.topicHash(event.topic)
                topicHashes[event.topic] = topicHash
                let id = EventID(topicHash: topicHash, sequence: event.sequence, blockHeight: block.header.height)
                result.append(PositionedEvent(position: position, event: Event(
                    id: id, topic: event.topic, content: event.content, extensions: event.extensions, timestamp: block.header.timestamp
                )))
                position += 1
            }
        }
        return result
    }

    private static func insert(_ blocks: [SealedBlock], into db: Database) throws {
        guard !blocks.isEmpty else { return }
        let insertEvent = try db.cachedStatement(sql: """
            INSERT INTO events(position, block, topic, seq, timestamp, content, extensions, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let insertBlock = try db.cachedStatement(sql: """
            INSERT INTO blocks(height, prev_hash, merkle_root, hash, timestamp, event_count, first_position) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for block in blocks {
            let header = block.header
            var position = Int64(block.firstPosition)
            for event in block.events {
                insertEvent.setUncheckedArguments([
                    position, Int64(header.height), event.topic, Int64(event.sequence), header.timestamp,
                    Data(event.content), ExtensionCoding.encode(event.extensions), Data(event.hash),
                ])
                try insertEvent.execute()
                position += 1
            }
            try insertBlock.execute(arguments: [
                Int64(header.height), Data(header.previousHash), Data(header.merkleRoot), Data(header.hash),
                header.timestamp, Int64(header.eventCount), Int64(block.firstPosition),
            ])
        }
    }
}
