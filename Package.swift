// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "weevent",
    platforms: [.macOS(.v15)],
    products: [
        // The executable's target and folder differ from the WeEvent library by more than case:
        // a case-insensitive file system (macOS's default) would fold them into one.
        .executable(name: "weevent", targets: ["WeEventCommand"]),
        .executable(name: "weevent-mqtt", targets: ["weevent-mqtt"]),
        // For the benchmarks package (benchmarks/Package.swift), which depends on this one by path.
        // (Named apart from the `weevent` executable by more than case.)
        .library(name: "WeEventDomain", targets: ["WeEvent"]),
        .library(name: "WeEventLedger", targets: ["Ledger"]),
        .library(name: "WeEventMQTT", targets: ["MQTT"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // The HTTP part types between Hummingbird's codec and its handler (server.read-timeout-ms).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // The shared ledger (ledger.store=postgresql): the SSWG PostgreSQL driver.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Callback delivery (no redirects, pinned checked address, deadline); also the SSE client of tests and benches.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.30.0"),
    ],
    targets: [
        .target(
            name: "WeEvent",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Ledger",
            dependencies: [
                "WeEvent", "BrokerConfiguration",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "MQTT",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .systemLibrary(
            name: "CZooKeeper",
            path: "Sources/CZooKeeper",
            providers: [.apt(["libzookeeper-mt-dev"])]
        ),
        .target(
            name: "ZooKeeper",
            dependencies: [
                "CZooKeeper",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // This instance's place in the cluster: ZooKeeper session, election, leader terms, watched JSON documents.
        // conf/weevent.properties: the properties format and one settings part per area.
        .target(
            name: "BrokerConfiguration",
            dependencies: ["WeEvent"],
            swiftSettings: strict
        ),
        .target(
            name: "Cluster",
            dependencies: [
                "ZooKeeper",
                "WeEvent",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "MQTTCLI",
            dependencies: [
                "MQTT",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Bridge",
            dependencies: [
                "WeEvent", "BrokerConfiguration", "Ledger", "MQTT", "Cluster",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Server",
            dependencies: [
                "WeEvent", "BrokerConfiguration", "Ledger", "Bridge", "Cluster", "ConsoleAssets",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "Subscriptions",
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "WeEventCommand",
            dependencies: [
                "WeEvent", "BrokerConfiguration", "Ledger", "Server", "Bridge", "Cluster", "MQTTCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "Subscriptions",
            ],
            swiftSettings: strict
        ),
        // `weevent mqtt` alone, small and quick to start (issue 13).
        .executableTarget(
            name: "weevent-mqtt",
            dependencies: ["MQTTCLI"],
            swiftSettings: strict
        ),
        // Callback subscriptions: durable store and leader-only delivery service.
        .target(
            name: "Subscriptions",
            dependencies: [
                "WeEvent", "BrokerConfiguration", "Ledger", "Cluster",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The console's files (console/), embedded as Swift by scripts/console-assets.py: generated
        // code in a target of its own, out of Server.
        .target(name: "ConsoleAssets", swiftSettings: strict),
        // Helpers shared by the test targets that run child processes.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        // Our MQTT client as a process of its own for the tests (a client nobody reads, a scripted
        // device); `make bench`'s command round trips use it too.
        .executableTarget(
            name: "MQTTPeer",
            dependencies: ["MQTT", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/MQTTPeer",
            swiftSettings: strict
        ),
        .testTarget(name: "WeEventTests", dependencies: ["WeEvent"], swiftSettings: strict),
        .testTarget(name: "BrokerConfigurationTests", dependencies: ["BrokerConfiguration", "WeEvent"], swiftSettings: strict),
        .testTarget(
            name: "LedgerTests",
            dependencies: [
                "WeEvent", "BrokerConfiguration", "Ledger", "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MQTTTests",
            dependencies: [
                "MQTT", "MQTTCLI", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MQTTIntegrationTests",
            dependencies: ["MQTT", "TestSupport", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(name: "ZooKeeperTests", dependencies: ["ZooKeeper", "CZooKeeper", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "ZooKeeper", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "BridgeTests",
            dependencies: [
                "WeEvent", "BrokerConfiguration", "Ledger", "Bridge", "MQTT", "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SubscriptionsTests",
            dependencies: ["Subscriptions", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "WeEvent", "BrokerConfiguration", "Ledger", "Server", "Bridge", "TestSupport", "ConsoleAssets",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                "Subscriptions",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "TestSupport", "WeEvent", "BrokerConfiguration", "Ledger", "MQTT", "Cluster", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
