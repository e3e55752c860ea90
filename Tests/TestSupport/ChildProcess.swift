import Foundation

/// What a finished child process left: its exit status (128 + signal when killed) and output.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// A child process whose standard output and error are collected; `wait()` returns them with
/// the exit status. The one way tests run a program, long-lived (`Child`) or to completion (`run`).
public final class Child: @unchecked Sendable {
    // @unchecked: `process` is only started in init; the pipes are read on one background queue
    // each, which write the buffers under `lock`.
    public let process: Spawned
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private let done = DispatchGroup()

    public var isRunning: Bool { process.isRunning }

    /// What the program wrote to its standard output until now.
    public var outputSoFar: String { lock.withLock { String(decoding: out, as: UTF8.self) } }

    /// SIGKILL: the test runner blocks SIGTERM and its children inherit that mask.
    public func kill() { process.signal(SIGKILL) }

    /// Sends `signal` (SIGTERM only works when the program unblocks it, as `weevent` does).
    public func signal(_ signal: Int32) { process.signal(signal) }

    /// Starts `executable`; `stdin` is written to it and closed (empty input when nil);
    /// `environment` entries are added to (or replace) the test's own.
    public init(_ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws {
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process = try Spawned(
            executable, arguments,
            environment: environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
            stdin: .descriptor(inPipe.fileHandleForReading.fileDescriptor),
            stdout: .descriptor(outPipe.fileHandleForWriting.fileDescriptor),
            stderr: .descriptor(errPipe.fileHandleForWriting.fileDescriptor))
        // The child holds its ends now; ours close, so reading sees the end when it exits.
        try? inPipe.fileHandleForReading.close()
        try? outPipe.fileHandleForWriting.close()
        try? errPipe.fileHandleForWriting.close()
        for (pipe, isOut) in [(outPipe, true), (errPipe, false)] {
            done.enter()
            DispatchQueue.global().async { [self] in
                // Chunk by chunk, so a test can look at what was printed so far (`outputSoFar`).
                while true {
                    let chunk = pipe.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    lock.withLock { if isOut { out.append(chunk) } else { err.append(chunk) } }
                }
                done.leave()
            }
        }
        // Written on a thread of its own once the readers run: a pipe holds 64 KiB, so a larger
        // input blocks until the child has read it (a cooperative thread must not wait for that),
        // and a child that prints before it reads must find its output drained.
        let input = inPipe.fileHandleForWriting
        if let stdin {
            DispatchQueue.global().async {
                try? input.write(contentsOf: Data(stdin.utf8))
                try? input.close()
            }
        } else {
            try? input.close()
        }
    }

    /// Waits for the exit and for both pipes to be read to their end.
    public func wait() async -> ProcessResult {
        let status: Int32 = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { [self] in
                let status = process.waitForExit()
                done.wait()
                continuation.resume(returning: status)
            }
        }
        let (out, err) = lock.withLock { (self.out, self.err) }
        return ProcessResult(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}

/// Runs a program to completion.
public func run(_ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) async throws -> ProcessResult {
    try await Child(executable, arguments, stdin: stdin, environment: environment).wait()
}

/// A program started with `posix_spawn`, which the test reaps itself.
///
/// Not Foundation's `Process`: on Linux its `run()` reads `/proc/self/fd` to close inherited
/// descriptors and copies each directory entry's whole 256-byte name, reading past the end of
/// the buffer; with the right number of descriptors open the buffer ends at a page boundary and
/// the test process crashed (twice in two full runs). Here the child closes every descriptor
/// from 3 on itself (`posix_spawn_file_actions_addclosefrom_np`), and its exit is read with
/// `waitpid` (`Process.waitUntilExit()` was seen to spin without noticing an exit).
public final class Spawned: @unchecked Sendable {
    // @unchecked: `status` is behind `lock`; the rest is set in init.
    public enum Stream {
        /// This descriptor of the test process (the child gets its own copy).
        case descriptor(Int32)
        /// A file opened for the child: `path` with `flags` (O_WRONLY|O_APPEND for a log).
        case file(String, flags: Int32)
        /// /dev/null.
        case null
    }

    public let processIdentifier: pid_t
    private let lock = NSLock()
    private var status: Int32?

    /// Starts `executable` (a path) with `arguments`; `environment` nil: the test's own.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdin: Stream = .null, stdout: Stream = .null,
        stderr: Stream = .null
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (stream, target) in [(stdin, Int32(0)), (stdout, 1), (stderr, 2)] {
            switch stream {
            case .descriptor(let fd): posix_spawn_file_actions_adddup2(&actions, fd, target)
            case .file(let path, let flags): posix_spawn_file_actions_addopen(&actions, target, path, flags, 0o644)
            case .null: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            }
        }
        guard let closeFrom = Self.closeFrom else {
            throw SpawnError(message: "posix_spawn_file_actions_addclosefrom_np is not available (glibc 2.34 or later)")
        }
        _ = closeFrom(&actions, 3)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { (text: String) in strdup(text) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { (key: String, value: String) in strdup("\(key)=\(value)") } + [nil] }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp ?? [] { free(pointer) }
        }
        var pid: pid_t = 0
        let result =
            envp.map { envp in posix_spawn(&pid, executable, &actions, nil, argv, envp) } ?? posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else { throw SpawnError(message: "posix_spawn \(executable): \(String(cString: strerror(result)))") }
        processIdentifier = pid
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    /// Not in Swift's Glibc module (a GNU extension), so looked up by name.
    private static let closeFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: CloseFrom.self) }

    public func signal(_ signal: Int32) {
        guard isRunning else { return }
        Foundation.kill(processIdentifier, signal)
    }

    /// Whether it still runs (reaps it once it has ended).
    public var isRunning: Bool {
        lock.withLock {
            if status != nil { return false }
            var raw: Int32 = 0
            let reaped = waitpid(processIdentifier, &raw, WNOHANG)
            if reaped == processIdentifier { status = Self.exitStatus(raw) }
            return status == nil
        }
    }

    /// Blocks until it has ended; its exit status (128 + signal when killed).
    @discardableResult
    public func waitForExit() -> Int32 {
        while true {
            if let status = lock.withLock({ status }) { return status }
            var raw: Int32 = 0
            let reaped = waitpid(processIdentifier, &raw, 0)
            if reaped == processIdentifier {
                return lock.withLock {
                    status = status ?? Self.exitStatus(raw)
                    return status!
                }
            }
            if reaped == -1 && errno == EINTR { continue }
            // Reaped by `isRunning` on another thread meanwhile.
            if let status = lock.withLock({ status }) { return status }
            usleep(10_000)
        }
    }

    /// The same without blocking a task's thread: the wait runs on a dispatch thread.
    public func exit() async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: self.waitForExit()) }
        }
    }

    private static func exitStatus(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
