import CoreMetrics
import Foundation
import Synchronization
import WeEvent

/// Token buckets of publishes and requests, one per identity, and one per address for callers
/// without a token (docs/api.md "Rate limits"). Each instance counts its own calls: a cluster of
/// N instances behind a balancer lets an identity make up to N times its limit.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
        var limit: RateLimit
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    private let metrics: (any MetricsFactory)?
    /// What time it is (tests stop it).
    private let now: @Sendable () -> ContinuousClock.Instant
    /// Past this many buckets, the full ones (idle long enough to have refilled) are dropped.
    static let maxBuckets = 10_000

    init(metrics: (any MetricsFactory)?, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.metrics = metrics
        self.now = now
    }

    /// Takes one call from the caller's bucket; 100710 (429) when it is empty, saying when the
    /// next call will be taken, counted in `weevent_rate_limited_total{identity}`.
    func admit(_ caller: Caller) throws(WeEventError) {
        let limit = caller.rateLimit
        guard !limit.isUnlimited, let key = caller.rateKey else { return }
        guard let wait = take(key, limit: limit, now: now()) else { return }
        if let metrics {
            Counter(label: "weevent_rate_limited_total", dimensions: [("identity", caller.name ?? "anonymous")], factory: metrics).increment()
        }
        let who = caller.name.map { "identity \($0)" } ?? "this address (no token)"
        let milliseconds = Int(Self.seconds(wait) * 1000) + 1
        throw WeEventError(
            .rateLimited,
            message: "rate limit reached: \(who) may publish and request \(limit.perSecond) times a second (burst \(limit.burst)); "
                + "retry in \(milliseconds) ms")
    }

    /// nil when a token was taken; otherwise how long until one is there.
    func take(_ key: String, limit: RateLimit, now: ContinuousClock.Instant) -> Duration? {
        buckets.withLock { buckets in
            // A new caller, or a changed limit, starts with a full bucket.
            var bucket = buckets[key] ?? Bucket(tokens: Double(limit.burst), updated: now, limit: limit)
            if bucket.limit != limit { bucket = Bucket(tokens: Double(limit.burst), updated: now, limit: limit) }
            let elapsed = max(0, Self.seconds(now - bucket.updated))
            bucket.tokens = min(Double(limit.burst), bucket.tokens + elapsed * Double(limit.perSecond))
            bucket.updated = now
            defer {
                buckets[key] = bucket
                if buckets.count > Self.maxBuckets { Self.dropFull(&buckets, now: now) }
            }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return .seconds((1 - bucket.tokens) / Double(limit.perSecond))
        }
    }

    /// Buckets that would be full by now hold nothing worth keeping.
    private static func dropFull(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        buckets = buckets.filter { _, bucket in
            bucket.tokens + seconds(now - bucket.updated) * Double(bucket.limit.perSecond) < Double(bucket.limit.burst)
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
