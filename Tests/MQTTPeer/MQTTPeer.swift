import Foundation
import MQTT
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Our MQTT client in a process of its own, in the roles the tests (and `make bench`'s command
/// round trips) need a real peer to play:
///
///     MQTTPeer hold PORT COUNT STATUSFILE
///     MQTTPeer device PORT COMMAND_FILTER REPLY_TOPIC answer|silent [READY_FILE]
@main
struct MQTTPeer {
    static func main() async throws {
        let args = CommandLine.arguments
        if args.count >= 5, args[1] == "device", let port = Int(args[2]) {
            try await device(
                port: port, commands: args[3], replies: args[4], silent: args.count > 5 && args[5] == "silent",
                readyFile: args.count > 6 ? args[6] : nil
            )
            return
        }
        if args.count == 5, args[1] == "hold", let port = Int(args[2]), let count = Int(args[3]) {
            try await hold(port: port, count: count, statusFile: args[4])
            return
        }
        print("usage: MQTTPeer hold PORT COUNT STATUSFILE | device PORT COMMAND_FILTER REPLY_TOPIC answer|silent [READY_FILE]")
        exit(2)
    }

    // MARK: A client nobody reads (MQTTTests/BackpressureTests)

    /// `MQTTPeer hold PORT COUNT STATUSFILE`: connects to a broker on PORT and takes none of the
    /// messages it pushes, writing `rss=BYTES` (this process's resident size) to STATUSFILE every
    /// 50 ms, until STATUSFILE.go exists; then takes COUNT messages, checks they are
    /// `flood/0`, `flood/1` ... in order, writes `received=N inorder=BOOL` and exits.
    /// A process of its own, so what it holds is measured apart from everything else a test
    /// process runs at the same time.
    nonisolated static func hold(port: Int, count: Int, statusFile: String) async throws {
        // No keep-alive (the scripted broker answers no PINGREQ) and no reconnect: a lost
        // connection ends the stream, and the count written says so.
        var configuration = MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "backpressure", keepAlive: .seconds(0))
        configuration.reconnect = .never
        // The scripted broker answers CONNECT from a test process that a full parallel run can
        // keep busy for seconds (a CI run's CONNACK came after the default 5 s, and the test
        // then failed writing to the closed connection); how long it takes is not under test.
        configuration.connectTimeout = .seconds(60)
        let client = try MQTTClient(configuration: configuration)
        try await client.connect()
        while !FileManager.default.fileExists(atPath: statusFile + ".go") {
            try "rss=\(residentBytes())\n".write(toFile: statusFile + ".tmp", atomically: false, encoding: .utf8)
            _ = rename(statusFile + ".tmp", statusFile)
            try await Task.sleep(for: .milliseconds(50))
        }
        var received = 0
        var inOrder = true
        for await message in client.messages {
            if message.topic != "flood/\(received)" { inOrder = false }
            received += 1
            if received == count { break }
        }
        try "received=\(received) inorder=\(inOrder)\n".write(toFile: statusFile + ".tmp", atomically: false, encoding: .utf8)
        _ = rename(statusFile + ".tmp", statusFile)
        await client.disconnect()
    }

    /// A scripted device for rest/request (tests and `make bench`): subscribes to `commands`
    /// (QoS 1) and answers each command on `replies` in the shape the command came in, echoing
    /// its correlation value with its JSON type:
    /// - `{"action":..,"header":{"reqid":X}}` (003) -> `{"retcode":0,"header":{"reqid":X},"data":{"action":..}}`
    /// - `{"d":{..},"reqId":X}` (004) -> `{"rc":0,"reqId":X}`
    /// - `{"id":X,..}` (002, command_send) -> `{"id":X,"result":"done"}`
    /// A command in none of these shapes is counted and not answered; `silent` answers nothing.
    /// Prints `ready` (and creates `readyFile`) once subscribed; runs until killed.
    ///
    ///     MQTTPeer device PORT COMMAND_FILTER REPLY_TOPIC answer|silent [READY_FILE]
    nonisolated static func device(port: Int, commands: String, replies: String, silent: Bool, readyFile: String?) async throws {
        let client = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "device-\(getpid())"))
        try await client.connect()
        _ = try await client.subscribe(to: [MQTTSubscription(topicFilter: commands, qos: .atLeastOnce)])
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        if let readyFile { FileManager.default.createFile(atPath: readyFile, contents: Data("ready\n".utf8)) }
        for await message in client.messages {
            message.ack()
            guard !silent, let reply = deviceReply(to: Array(message.payload.readableBytesView)) else { continue }
            // Not awaited: the next command is answered while this reply's PUBACK is on its way.
            _ = client.startPublish(to: replies, payload: ByteBuffer(bytes: reply), qos: .atLeastOnce)
        }
    }

    static func deviceReply(to command: [UInt8]) -> [UInt8]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(command)) as? [String: Any] else { return nil }
        let reply: [String: Any]
        if let header = object["header"] as? [String: Any], let reqid = header["reqid"] {
            reply = ["retcode": 0, "header": ["reqid": reqid], "data": ["action": object["action"] ?? NSNull()]]
        } else if let reqId = object["reqId"] {
            reply = ["rc": 0, "reqId": reqId]
        } else if let id = object["id"] {
            reply = ["id": id, "result": "done"]
        } else {
            return nil
        }
        return (try? JSONSerialization.data(withJSONObject: reply)).map { Array($0) }
    }

    /// Resident set size of this process, from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
