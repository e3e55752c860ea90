import BrokerConfiguration
import Testing
@testable import WeEvent

@Suite struct ConfigurationTests {
    @Test func defaultsMatchTheDesign() throws {
        let c = try Configuration(properties: Properties(parsing: ""))
        #expect(c.server.port == 8080)
        #expect(c.ledger.groups == ["1"])
        #expect(c.mqtt.brokerURL == "tcp://127.0.0.1:1883")
        #expect(c.mqtt.qos == 2)
        #expect(c.mqtt.timeout == .milliseconds(5000))
        #expect(c.mqtt.keepAlive == .seconds(15))
        #expect(c.zookeeper.hosts == "127.0.0.1:2181")
        #expect(c.zookeeper.path == "/event_broker")
        #expect(c.zookeeper.sessionTimeout == .milliseconds(3000))
        #expect(c.events.contentMaxLength == 10240)
        #expect(c.events.extensionsMaxLength == 1024)
        #expect(c.ledger.origin == "weevent.localhost")
        #expect(c.ledger.signingKeyPath == "./data/signing.key")
    }

    @Test func theSigningKeyAndOriginAreRead() throws {
        let c = try Configuration(
            properties: Properties(parsing: "ledger.path=/var/lib/w\nledger.origin=events.example.com")
        )
        #expect(c.ledger.signingKeyPath == "/var/lib/w/signing.key")
        #expect(c.ledger.origin == "events.example.com")
        let d = try Configuration(properties: Properties(parsing: "ledger.signing-key=/etc/weevent/key"))
        #expect(d.ledger.signingKeyPath == "/etc/weevent/key")
        #expect(d.ledger.checkpointInterval == .seconds(1) && d.ledger.witnesses.isEmpty)
        let w = "w1+c1484473+BJ61XR8i09JfRzNi/dAOACCssOqjSJKk5YgCXO69D9e4"
        let e = try Configuration(
            properties: Properties(parsing: "ledger.checkpoint.interval-ms=0\nledger.witnesses=\(w), w2+00000000+BJ61XR8i09JfRzNi/dAOACCssOqjSJKk5YgCXO69D9e4"))
        #expect(e.ledger.checkpointInterval == .zero)
        #expect(e.ledger.witnesses == [w, "w2+00000000+BJ61XR8i09JfRzNi/dAOACCssOqjSJKk5YgCXO69D9e4"])
    }

    @Test func retentionIsOffByDefaultAndReadInUnits() throws {
        let d = Configuration()
        #expect(d.ledger.retention == RetentionPolicy() && d.ledger.retentionInterval == .seconds(10))
        let c = try Configuration(
            properties: Properties(parsing: "ledger.retention.max-age=2m\nledger.retention.max-bytes=20GiB\nledger.retention.interval-ms=500"))
        #expect(c.ledger.retention == RetentionPolicy(maxAge: 120_000, maxBytes: 20 << 30))
        #expect(c.ledger.retentionInterval == .milliseconds(500))
    }

    @Test func readsTheSourceDocumentsKeys() throws {
        let text = """
            mqtt.broker.url=tcp://127.0.0.1:1883
            mqtt.broker.user=${user}
            mqtt.broker.password=${password}
            mqtt.broker.qos=2
            mqtt.broker.timeout=5000
            #mosquitto default 20s
            mqtt.broker.keep-alive=15
            broker.zookeeper.ip=127.0.0.1:2181     
            broker.zookeeper.path=/event_broker
            broker.zookeeper.timeout=3000
            """
        let c = try Configuration(properties: Properties(parsing: text, environment: ["user": "u", "password": "p"]))
        #expect(c.mqtt.user == "u")
        #expect(c.mqtt.password == "p")
        #expect(c.zookeeper.hosts == "127.0.0.1:2181")
        #expect(c.unknownKeys.isEmpty)
    }

    @Test(arguments: [
        ("server.port=http", "server.port", "'http' is not an integer in 1...65535"),
        ("server.port=70000", "server.port", "'70000' is not an integer in 1...65535"),
        ("mqtt.broker.qos=3", "mqtt.broker.qos", "'3' is not an integer in 0...2"),
        ("mqtt.broker.url=http://x:1", "mqtt.broker.url", "'http://x:1' is not tcp://host:port or ssl://host:port"),
        ("broker.zookeeper.ip=localhost", "broker.zookeeper.ip", "'localhost' is not host:port"),
        ("broker.zookeeper.path=event_broker", "broker.zookeeper.path", "'event_broker' must start with '/' and not end with '/'"),
        (
            "ip.check.white-table=10.0.0.1, example.com", "ip.check.white-table",
            "'example.com' is not an IPv4 or IPv6 address or CIDR range (like 10.0.0.0/8)"
        ),
        (
            "ip.check.white-table=10.0.0.0/33", "ip.check.white-table",
            "'10.0.0.0/33' is not an IPv4 or IPv6 address or CIDR range (like 10.0.0.0/8)"
        ),
        (
            "server.trusted-proxies=10.0.0.1:80", "server.trusted-proxies",
            "'10.0.0.1:80' is not an IPv4 or IPv6 address or CIDR range (like 10.0.0.0/8)"
        ),
        (
            "subscription.callback.allowed-ranges=fe80::/129", "subscription.callback.allowed-ranges",
            "'fe80::/129' is not an IPv4 or IPv6 address or CIDR range (like 10.0.0.0/8)"
        ),
        ("subscription.max-count=-1", "subscription.max-count", "'-1' is not an integer in 0...1000000"),
        (
            "subscription.callback.timeout-ms=99999999999999999999", "subscription.callback.timeout-ms",
            "'99999999999999999999' is not an integer in 100...600000"
        ),
        ("ledger.groups=1,1", "ledger.groups", "a group is listed twice"),
        ("ledger.groups=a/b", "ledger.groups", "group id 'a/b' must be printable ASCII without '/' or '+', at most 64 bytes"),
        ("ledger.groups=1,a+b", "ledger.groups", "group id 'a+b' must be printable ASCII without '/' or '+', at most 64 bytes"),
        ("ledger.store=mysql", "ledger.store", "'mysql' is not sqlite or postgresql"),
        ("ledger.store=postgresql", "ledger.store", "postgresql needs ledger.postgresql.url"),
        (
            "ledger.postgresql.url=mysql://u@h/db\nledger.store=postgresql", "ledger.postgresql.url",
            "not a postgres:// URL: must start with postgres://"
        ),
        (
            "ledger.postgresql.url=postgres://u@h:99999/db\nledger.store=postgresql", "ledger.postgresql.url",
            "not a postgres:// URL: port must be an integer in 1...65535"
        ),
        (
            "ledger.postgresql.schema=Weevent", "ledger.postgresql.schema",
            "'Weevent' must be lowercase letters, digits and '_', not starting with a digit, at most 63 bytes"
        ),
        ("ledger.postgresql.timeout-ms=0", "ledger.postgresql.timeout-ms", "'0' is not an integer in 100...600000"),
        ("rest.request.max-timeout-ms=0", "rest.request.max-timeout-ms", "'0' is not an integer in 1...3600000"),
        ("rest.request.max-count=0", "rest.request.max-count", "'0' is not an integer in 1...1000000"),
        (
            "ledger.origin=my log", "ledger.origin",
            "'my log' must be at most 200 bytes without spaces, control characters or '+' (a name like events.example.com)"
        ),
        (
            "mqtt.checkpoint.topic-prefix=devices/+/checkpoint/", "mqtt.checkpoint.topic-prefix",
            "'devices/+/checkpoint/' must be an MQTT topic prefix without '+', '#' or NUL, at most 1000 bytes"
        ),
        ("ledger.checkpoint.interval-ms=-1", "ledger.checkpoint.interval-ms", "'-1' is not an integer in 0...86400000"),
        ("ledger.retention.max-age=10", "ledger.retention.max-age", "'10' is not none or a duration like 90s, 15m, 12h, 7d"),
        ("ledger.retention.max-age=0s", "ledger.retention.max-age", "'0s' is not none or a duration like 90s, 15m, 12h, 7d"),
        ("ledger.retention.max-bytes=lots", "ledger.retention.max-bytes", "'lots' is not none or a size like 500MB, 20GiB, 1048576"),
        ("ledger.retention.interval-ms=50", "ledger.retention.interval-ms", "'50' is not an integer in 100...86400000"),
        (
            "ledger.witnesses=w1+c1484473", "ledger.witnesses",
            "'w1+c1484473' is not a verifier key <name>+<8 hex key id>+<base64 of 33 bytes> (weevent witness prints its key)"
        ),
        (
            "ledger.witnesses=weevent.localhost/1+465956ed+Aec3x3Xrh+zx8yAsI8sU709rMaSO+e0mXZ3q2cYeF31N", "ledger.witnesses",
            "'weevent.localhost/1' is not a witness key (type 0x04, tlog-cosignature)"
        ),
        (
            "ledger.witnesses=w+c1484473+BJ61XR8i09JfRzNi/dAOACCssOqjSJKk5YgCXO69D9e4,w+00000000+BJ61XR8i09JfRzNi/dAOACCssOqjSJKk5YgCXO69D9e4",
            "ledger.witnesses", "two witness keys have the same name"
        ),
        (
            "access.anonymous=read:public write:x", "access.anonymous",
            "invalid right 'write:x': 'write' is not an action (publish, read, request, manage, admin); write ACTIONS[@GROUPS][:TOPICS]"
        ),
        // The default wait may not exceed the longest one.
        (
            "rest.request.default-timeout-ms=2000\nrest.request.max-timeout-ms=1000", "rest.request.default-timeout-ms",
            "'2000' is not an integer in 1...1000"
        ),
    ])
    func malformedValueNamesKeyAndLine(line: String, key: String, message: String) {
        do {
            _ = try Configuration(properties: Properties(parsing: "# first\n\(line)", source: "w.properties"))
            Issue.record("expected an error for \(line)")
        } catch {
            #expect(error == ConfigurationError(source: "w.properties", line: 2, key: key, message: message))
        }
    }

    @Test func theSharedLedgerIsConfiguredByURLWithEnvironmentAndSSLMode() throws {
        let text = """
            ledger.store=postgresql
            ledger.postgresql.url=postgres://weevent:${PGPASSWORD}@db.example:6432/events?sslmode=require
            ledger.postgresql.pool-size=32
            """
        let c = try Configuration(properties: Properties(parsing: text, environment: ["PGPASSWORD": "p@ss"]))
        #expect(c.ledger.store == .postgresql)
        #expect(c.postgres.url == PostgresURL(host: "db.example", port: 6432, user: "weevent", password: "p@ss", database: "events", tls: .require))
        #expect(c.postgres.poolSize == 32)
        #expect(c.postgres.schema == "weevent")
        #expect(c.postgres.url?.description == "postgres://weevent@db.example:6432/events?sslmode=require", "no password in logs")
        #expect(try Configuration(properties: Properties(parsing: "")).ledger.store == .sqlite)
    }

    @Test func severalHostsNameOneReplicatedCluster() throws {
        let text = "ledger.store=postgresql\nledger.postgresql.url=postgres://weevent:secret@pg1:5432,pg2:5433/events?target_session_attrs=read-write\n"
        let url = try #require(try Configuration(properties: Properties(parsing: text)).postgres.url)
        #expect(url.endpoints == [.init(host: "pg1", port: 5432), .init(host: "pg2", port: 5433)])
        #expect(url.description == "postgres://weevent@pg1:5432,pg2:5433/events", "every host, no password")
        do {
            _ = try Configuration(
                properties: Properties(parsing: "ledger.store=postgresql\nledger.postgresql.url=postgres://u@h1,h2/d?target_session_attrs=any"))
            Issue.record("target_session_attrs=any was accepted")
        } catch {
            #expect(error.key == "ledger.postgresql.url" && error.line == 2)
            #expect(error.message.contains("target_session_attrs must be read-write or primary"))
        }
    }

    @Test(arguments: [
        ("postgresql://a%40b:p%3Aw@[::1]/d", PostgresURL(host: "::1", user: "a@b", password: "p:w", database: "d")),
        ("postgres://u@h/d?sslmode=prefer", PostgresURL(host: "h", user: "u", database: "d", tls: .prefer)),
        (
            "postgres://u@pg1:5433,pg2,[::1]:5434/d?target_session_attrs=read-write&sslmode=require",
            PostgresURL(
                endpoints: [.init(host: "pg1", port: 5433), .init(host: "pg2"), .init(host: "::1", port: 5434)], user: "u", database: "d", tls: .require
            )
        ),
        ("postgres://u@h1,h2/d?target_session_attrs=primary", PostgresURL(endpoints: [.init(host: "h1"), .init(host: "h2")], user: "u", database: "d")),
        ("postgres://u@::1,h2:6000/d", PostgresURL(endpoints: [.init(host: "::1"), .init(host: "h2", port: 6000)], user: "u", database: "d")),
    ])
    func postgresURLsParse(text: String, expected: PostgresURL) throws {
        #expect(try PostgresURL.parse(text).get() == expected)
    }

    @Test(arguments: [
        "postgres://h/d", "postgres://u@h", "postgres://u@h/", "postgres://u@:5432/d", "postgres://u@h/d?sslmode=verify-full", "postgres://u@h/d?x=1",
        "postgres://u@h1,/d", "postgres://u@h1:5432,h1/d", "postgres://u@h1,h2:0/d", "postgres://u@h1,h2/d?target_session_attrs=any",
        "postgres://u@h1,h2/d?target_session_attrs=read-only", "postgres://u@[::1/d", "postgres://u@h1,[::1:5432/d",
    ])
    func malformedPostgresURLsAreRefused(text: String) {
        #expect(throws: PostgresURLError.self) { try PostgresURL.parse(text).get() }
    }

    @Test func aSmallerLongestRequestWaitLowersTheDefaultOne() throws {
        let c = try Configuration(properties: Properties(parsing: "rest.request.max-timeout-ms=300"))
        #expect(c.request.maxTimeout == .milliseconds(300))
        #expect(c.request.defaultTimeout == .milliseconds(300))
        let d = try Configuration(properties: Properties(parsing: ""))
        #expect(d.request.defaultTimeout == .seconds(5) && d.request.maxTimeout == .seconds(60) && d.request.maxCount == 1000)
    }

    @Test func theRateLimitIsOffByDefaultAndItsBurstDefaultsToItsRate() throws {
        #expect(try Configuration(properties: Properties(parsing: "")).server.rateLimit.isUnlimited)
        #expect(try Configuration(properties: Properties(parsing: "access.rate.per-second=50")).server.rateLimit == RateLimit(perSecond: 50, burst: 50))
        let both = try Configuration(properties: Properties(parsing: "access.rate.per-second=50\naccess.rate.burst=200")).server.rateLimit
        #expect(both == RateLimit(perSecond: 50, burst: 200))
        #expect(throws: ConfigurationError.self) { try Configuration(properties: Properties(parsing: "access.rate.per-second=-1")) }
    }

    @Test func accessAnonymousIsAListOfRightsOrNone() throws {
        #expect(try Configuration(properties: Properties(parsing: "")).server.anonymousRights == nil)
        #expect(try Configuration(properties: Properties(parsing: "access.anonymous=none")).server.anonymousRights == Rights.none)
        #expect(try Configuration(properties: Properties(parsing: "access.anonymous=")).server.anonymousRights == Rights.none)
        let rights = try #require(try Configuration(properties: Properties(parsing: "access.anonymous=read:public/# publish@2:in")).server.anonymousRights)
        #expect(rights.description == "read@*:public/# publish@2:in")
    }

    @Test func unknownKeysAreReportedNotFatal() throws {
        let c = try Configuration(properties: Properties(parsing: "server.port=9000\nserver.prot=1"))
        #expect(c.server.port == 9000)
        #expect(c.unknownKeys.map(\.key) == ["server.prot"])
        #expect(c.unknownKeys.first?.line == 2)
    }

    /// Every key the configuration reads is known: setting any of them is no "unknown key"
    /// (the rest.request.* keys once were).
    @Test func everyKeyTheConfigurationReadsIsKnown() throws {
        let text = """
            rest.request.max-timeout-ms=30000
            rest.request.default-timeout-ms=2000
            rest.request.max-count=10
            rest.filter.max-items=20
            rest.stream.max-count=5
            subscription.callback.timeout-ms=1000
            """
        let c = try Configuration(properties: Properties(parsing: text))
        #expect(c.unknownKeys.isEmpty, "\(c.unknownKeys.map(\.key))")
        #expect(c.request.maxCount == 10)
        #expect(c.rest.filterMaxItems == 20)
        #expect(throws: ConfigurationError.self) { try Configuration(properties: Properties(parsing: "rest.filter.max-items=0")) }
    }

    @Test func emptyBridgeAndZooKeeperMeanOff() throws {
        let c = try Configuration(properties: Properties(parsing: "mqtt.broker.url=\nbroker.zookeeper.ip="))
        #expect(c.mqtt.brokerURL.isEmpty)
        #expect(c.zookeeper.hosts.isEmpty)
    }

    @Test func theShippedConfigurationLoads() throws {
        let root = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let c = try Configuration.load(path: "/\(root)/conf/weevent.properties", environment: [:])
        #expect(c.server.port == 8080)
        #expect(c.unknownKeys.isEmpty)
        let docker = try Configuration.load(path: "/\(root)/docker/weevent.properties.docker", environment: ["PGPASSWORD": "pw"])
        #expect(docker.ledger.store == .postgresql)
        #expect(docker.postgres.url?.host == "postgres")
        #expect(docker.unknownKeys.isEmpty)
    }
}
