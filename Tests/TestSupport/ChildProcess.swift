import Foundation

/// Runs a command to completion; returns its exit status and standard output (with standard
/// error too when `mergeStandardError`, else that goes to the test's own standard error).
@discardableResult
public func runProcess(
    _ path: String, _ arguments: [String], input: String? = nil, mergeStandardError: Bool = false
) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = mergeStandardError ? output : FileHandle.standardError
    let inputPipe = Pipe()
    if input != nil { process.standardInput = inputPipe }
    try process.run()
    if let input {
        inputPipe.fileHandleForWriting.write(Data(input.utf8))
        try inputPipe.fileHandleForWriting.close()
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    return (waitForChildExit(process), String(decoding: data, as: UTF8.self))
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
