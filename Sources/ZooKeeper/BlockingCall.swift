#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The work for one dedicated thread; retained for the thread, taken back by it.
private final class ThreadWork: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Runs a blocking call (`zookeeper_init`, `zookeeper_close`, the ensemble probe's socket reads)
/// on a thread of its own, never on the cooperative pool. These calls are rare (one pair per
/// session, a probe every few seconds), so a thread each is cheap, and none of them can starve
/// another (zookeeper_close can wait seconds to flush).
package func runOnDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
        let work = ThreadWork { continuation.resume(returning: body()) }
        let argument = Unmanaged.passRetained(work).toOpaque()
        #if canImport(Darwin)
            var thread: pthread_t?
        #else
            var thread = pthread_t()
        #endif
        let rc = pthread_create(
            &thread, nil,
            { argument in
                #if canImport(Darwin)
                    let work = Unmanaged<ThreadWork>.fromOpaque(argument).takeRetainedValue()
                #else
                    let work = Unmanaged<ThreadWork>.fromOpaque(argument!).takeRetainedValue()
                #endif
                work.body()
                return nil
            }, argument)
        if rc == 0 {
            #if canImport(Darwin)
                pthread_detach(thread!)
            #else
                pthread_detach(thread)
            #endif
        } else {
            // No thread: run here rather than never.
            let work = Unmanaged<ThreadWork>.fromOpaque(argument).takeRetainedValue()
            work.body()
        }
    }
}
