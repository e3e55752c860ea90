// swift-tools-version:6.1
// The benchmarks, a package of their own on top of the broker's (by path), so a user's build
// and the Docker image compile only the product. `make bench` (scripts/bench.sh) builds and runs
// them; docs/performance.md has the figures.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "weevent-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "weevent", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.30.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // In-process ledger appends, embedded store.
        .executableTarget(
            name: "LedgerBench",
            dependencies: [
                .product(name: "WeEventDomain", package: "weevent"), .product(name: "WeEventLedger", package: "weevent"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "LedgerBench",
            swiftSettings: strict
        ),
        // A ledger of N events with a signed checkpoint, for the audit benchmark (issue 23).
        .executableTarget(
            name: "TreeBench",
            dependencies: [
                .product(name: "WeEventDomain", package: "weevent"), .product(name: "WeEventLedger", package: "weevent"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "TreeBench",
            swiftSettings: strict
        ),
        // The MQTT client against mosquitto (issue 3).
        .executableTarget(
            name: "MQTTBench",
            dependencies: [.product(name: "WeEventMQTT", package: "weevent"), .product(name: "NIOCore", package: "swift-nio")],
            path: "MQTTBench",
            swiftSettings: strict
        ),
        // Publish-to-stream latency and fan-out (issue 5).
        .executableTarget(
            name: "StreamBench",
            dependencies: [
                "BenchSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "StreamBench",
            swiftSettings: strict
        ),
        // MQTT bridge (issue 4): inbound/outbound rates and device-to-ledger latency beside mosquitto's own rate.
        .executableTarget(
            name: "BridgeBench",
            dependencies: [
                "BenchSupport",
                .product(name: "WeEventMQTT", package: "weevent"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "BridgeBench",
            swiftSettings: strict
        ),
        // What the HTTP-driven benchmarks share (SSE reader, percentiles, ...).
        .target(
            name: "BenchSupport",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "BenchSupport",
            swiftSettings: strict
        ),
    ]
)
