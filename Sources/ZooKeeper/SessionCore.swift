internal import CZooKeeper
import Logging

/// Everything the C library's watcher callback reaches: the session state and the watch registry.
///
/// `zookeeper_init` gets one retained reference as the handle's context; it is released after
/// `zookeeper_close` has returned, when the library has stopped calling back.
final class SessionCore: Sendable {
    let state = StateBroadcast(SessionState.connecting)
    let watches = WatchRegistry()
    let inFlight = InFlightCalls()
    let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Called on the C library's completion thread; only updates state and enqueues.
    func handleWatcherEvent(type: Int32, state cState: Int32, path: String?) {
        if type == czk_event_session() {
            handleSessionEvent(cState)
            return
        }
        guard let path else { return }
        let kind: NodeEvent.Kind
        switch type {
        case czk_event_created(): kind = .created
        case czk_event_deleted(): kind = .deleted
        case czk_event_changed(): kind = .dataChanged
        case czk_event_child(): kind = .childrenChanged
        default: return  // ZOO_NOTWATCHING_EVENT: a removed watch
        }
        watches.dispatch(kind, path: path)
    }

    private func handleSessionEvent(_ cState: Int32) {
        var terminal: ZooKeeperError.Code?
        state.update { current in
            guard !current.isTerminal else { return nil }
            switch cState {
            case czk_state_connected(), czk_state_readonly():
                return .connected
            case czk_state_connecting(), czk_state_associating():
                return current == .connecting ? .connecting : .suspended
            case czk_state_expired():
                terminal = .sessionExpired
                return .expired
            case czk_state_auth_failed():
                terminal = .authFailed
                return .authFailed
            default:
                return nil
            }
        }
        logger.debug("zookeeper session state", metadata: ["state": "\(state.current)"])
        if let terminal {
            watches.end(terminal)
        }
    }
}

// MARK: - C callbacks

/// `watcher_fn` of every handle: session events and every watch set with the `watch` flag.
/// `context` is the handle's context, the `SessionCore` passed to `zookeeper_init2`.
func zkGlobalWatcher(
    _ handle: OpaquePointer?, _ type: Int32, _ state: Int32,
    _ path: UnsafePointer<CChar>?, _ context: UnsafeMutableRawPointer?
) {
    guard let context else { return }
    let core = Unmanaged<SessionCore>.fromOpaque(context).takeUnretainedValue()
    let path = path.flatMap { $0.pointee == 0 ? nil : String(cString: $0) }
    core.handleWatcherEvent(type: type, state: state, path: path)
}

/// The C library's own log lines (WARN and ERROR only) go to swift-log at debug level: connection
/// refusals while a server is down are expected, the client's session states say what matters.
let cLibraryLogger = Logger(label: "zookeeper.c")

func zkLogCallback(_ message: UnsafePointer<CChar>?) {
    guard let message else { return }
    cLibraryLogger.debug("\(String(cString: message))")
}

/// Sets the C library's process-wide log level once, before the first handle.
let configureCLibraryLogging: Void = {
    czk_set_log_level_warn()
}()
