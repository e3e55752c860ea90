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
    // @unchecked: `process` is only started in init and read after exit; the pipes are read on
    // one background queue each, which write the buffers under `lock`.
    public let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private let done = DispatchGroup()

    /// Starts `executable`; `stdin` is written and closed at once (empty input when nil);
    /// `environment` entries are added to (or replace) the test's own.
    public init(_ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        try spawn(process)
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inPipe.fileHandleForWriting.close()
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
    }

    public var isRunning: Bool { !hasExited(process) }

    /// What the program wrote to its standard output until now.
    public var outputSoFar: String { lock.withLock { String(decoding: out, as: UTF8.self) } }

    /// SIGKILL: the test runner blocks SIGTERM and its children inherit that mask.
    public func kill() { Foundation.kill(process.processIdentifier, SIGKILL) }

    /// Sends `signal` (SIGTERM only works when the program unblocks it, as `weevent` does).
    public func signal(_ signal: Int32) { Foundation.kill(process.processIdentifier, signal) }

    /// Waits for the exit and for both pipes to be read to their end.
    public func wait() async -> ProcessResult {
        let status: Int32 = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { [self] in
                let status = waitForChildExit(process)
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

/// Blocks until `process` has ended and returns its exit status (128 + signal when killed).
///
/// Not `Process.waitUntilExit()`: on Linux it spins in its run loop and was seen never noticing
/// a child's exit, hanging a whole test run at 100% CPU. `waitid` with `WNOWAIT` sees the exit
/// without reaping, so Foundation can still reap the child as it means to.
@discardableResult
public func waitForChildExit(_ process: Process) -> Int32 {
    var info = siginfo_t()
    while waitid(P_PID, id_t(process.processIdentifier), &info, WEXITED | WNOWAIT) != 0 {
        if errno == EINTR { continue }
        // Already reaped by Foundation, which records the status a moment later.
        for _ in 0..<500 where process.isRunning { usleep(10_000) }
        if process.isRunning { return -1 }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }
    let status = info._sifields._sigchld.si_status
    return info.si_code == CLD_EXITED ? status : 128 + status
}

/// Whether `process` has ended, without waiting or reaping it. Not `Process.isRunning`, which
/// on Linux was seen to stay true for seconds after the child had exited.
public func hasExited(_ process: Process) -> Bool {
    var info = siginfo_t()
    if waitid(P_PID, id_t(process.processIdentifier), &info, WEXITED | WNOHANG | WNOWAIT) != 0 {
        return !process.isRunning  // already reaped by Foundation
    }
    return info._sifields._sigchld.si_pid != 0
}

/// The same without blocking a task's thread: the wait runs on a dispatch thread.
public func childExit(_ process: Process) async -> Int32 {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: waitForChildExit(process)) }
    }
}

/// Starts `process`, one start at a time in this test process: Foundation's `Process.run()` was
/// seen to crash (a bad pointer in its memcpy) while several suites started children at once.
public func spawn(_ process: Process) throws {
    try spawnLock.withLock { try process.run() }
}

private let spawnLock = NSLock()
