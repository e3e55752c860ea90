import Foundation
import Testing
import TestSupport

/// scripts/zookeeper.sh is started from test processes with system(3), which hands the script
/// every descriptor the process holds at that moment, other tests' pipes among them. A server
/// that kept one would keep that pipe from ever reaching end-of-file, and the test reading it
/// would wait as long as the server runs (for the shared one: until the run is killed).
@Suite("scripts/zookeeper.sh")
struct ZooKeeperScriptTests {
    @Test func theServerKeepsNoDescriptorOfItsCaller() async throws {
        let pipe = Pipe()  // not close-on-exec, as Foundation makes them
        let ours = try pipeInode(pipe.fileHandleForWriting.fileDescriptor)
        let server = try await ZooKeeperServer.start()
        defer { Task { try? await server.stop() } }
        let held = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/fd").compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(server.pid)/fd/\($0)")
        }
        #expect(!held.isEmpty, "the server's descriptors could not be read")
        #expect(!held.contains("pipe:[\(ours)]"), "the server holds the test's pipe: \(held)")
        try? pipe.fileHandleForWriting.close()
    }

    private func pipeInode(_ fd: Int32) throws -> UInt {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CocoaError(.fileReadUnknown) }
        return UInt(info.st_ino)
    }
}
