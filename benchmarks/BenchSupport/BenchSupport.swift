import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

// What the HTTP-driven benchmarks (StreamBench, BridgeBench) share.

public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A value shared by concurrent tasks.
public final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    public init(_ value: Value) { self.value = Mutex(value) }
    public func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
    public var current: Value { value.withLock { $0 } }
}

/// CLOCK_MONOTONIC in nanoseconds.
public func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// The value at fraction `p` of an ascending array (nan when empty).
public func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

/// GET `url`; the body as text, or an error naming the status.
public func getText(_ http: HTTPClient, _ url: String) async throws -> String {
    let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
    let body = try await response.body.collect(upTo: 1 << 20)
    guard response.status == .ok else { throw BenchError("\(url): \(response.status) \(String(buffer: body))") }
    return String(buffer: body)
}

/// Reads a `rest/stream` SSE response, calling `onOpen` once the stream is live and `onEvent`
/// with each event's `data:` line until it returns false or the stream ends.
public func followStream(
    _ http: HTTPClient, _ url: String, onOpen: @Sendable () -> Void, onEvent: @Sendable (Substring) -> Bool
) async throws {
    let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(600))
    guard response.status == .ok else { throw BenchError("stream \(url): \(response.status)") }
    var pending = ""
    for try await buffer in response.body {
        pending += String(buffer: buffer)
        var consumed = pending.startIndex
        while let end = pending[consumed...].range(of: "\n\n") {
            let block = pending[consumed..<end.lowerBound]
            consumed = end.upperBound
            if block.hasPrefix(": weevent stream") { onOpen(); continue }
            if let data = block.range(of: "data: ") {
                if !onEvent(block[data.upperBound...]) { return }
            }
        }
        pending = String(pending[consumed...])
    }
}
