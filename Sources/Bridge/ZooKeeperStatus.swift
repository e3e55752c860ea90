import Cluster
import Foundation
import Logging
import WeEvent

/// Shares the leader's bridge counters with every instance through `<root>/status`,
/// so mqtt_list_topic shows the same figures whichever instance answers.
public final class ZooKeeperStatus: BridgeStatusSource {
    let coordinator: ZooKeeperCoordinator
    let board: BridgeStatusBoard
    let logger: Logger

    public init(coordinator: ZooKeeperCoordinator, board: BridgeStatusBoard, logger: Logger) {
        self.coordinator = coordinator
        self.board = board
        self.logger = logger
    }

    /// The node under the coordinator's root holding the leader's counters.
    static let node = "status"

    public func statuses() async -> [Binding.Key: BindingStatus] {
        if coordinator.isLeading { return board.snapshot() }
        guard let data = await coordinator.currentData(of: Self.node),
            let records = try? JSONDecoder().decode([BindingStatusRecord].self, from: Data(data))
        else { return [:] }
        return Dictionary(records.map { ($0.key, $0.status) }, uniquingKeysWith: { $1 })
    }

    /// While leading: writes the counters when they changed, every `interval`, and at once
    /// (within `liveCheck`) when a binding became live or stopped being live: an instance that
    /// answers mqtt_add_inbound_topic waits for that.
    func publishWhileLeading(interval: Duration = .seconds(2), liveCheck: Duration = .milliseconds(50)) async {
        var last: [Binding.Key: BindingStatus]?
        var lastLive: [Binding.Key: String]?
        var lastWrite = ContinuousClock.now - interval
        while !Task.isCancelled {
            let live = board.liveness()
            let due = ContinuousClock.now - lastWrite >= interval || live != lastLive
            // The counters are copied only when a write may be due, not on every check.
            let now = due ? board.snapshot() : last
            if due, let now, now != last {
                let records = now.map { BindingStatusRecord(direction: $0.key.direction, groupId: $0.key.groupId, topic: $0.key.topic, status: $0.value) }
                do {
                    try await coordinator.setData(of: Self.node, to: Array(try JSONEncoder().encode(records)))
                    lastWrite = ContinuousClock.now
                    last = now
                    lastLive = live
                } catch is CoordinationError {
                    // No session at the moment: tried again at the next check, not `interval` later.
                } catch {
                    lastWrite = ContinuousClock.now
                    logger.debug("publishing bridge counters failed", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: liveCheck)
        }
    }
}
