#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The broker's files hold every event, subscription and binding: they are created readable by
/// the broker's user only (directories 0700, files 0600), whatever the umask lets others read.
/// Files and directories that exist already keep their mode.
public enum PrivateFiles {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// Creates `path` and any missing parent, each 0700.
    public static func directory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + component
            if mkdir(current, 0o700) != 0, errno != EEXIST {
                throw Failure(description: "cannot create directory \(current): errno \(errno)")
            }
        }
    }

    /// Creates `path` as an empty file, 0600, unless it exists. An empty file is an empty SQLite
    /// database, and SQLite gives a database's -wal and -shm files its mode.
    public static func file(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if fd >= 0 {
            close(fd)
        } else if errno != EEXIST {
            throw Failure(description: "cannot create \(path): errno \(errno)")
        }
    }

    /// `directory(path)`, then `file(path/name)`; the file's path.
    public static func file(_ name: String, in directory: String) throws -> String {
        try Self.directory(directory)
        let path = directory + "/" + name
        try file(path)
        return path
    }

    /// Creates `path` (0600) holding `contents`, synced to disk; false when it exists already.
    /// The file appears whole: it is written beside `path` and linked into place, so a process
    /// that finds it never reads it half written.
    public static func create(_ path: String, contents: [UInt8]) throws -> Bool {
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        try writeNew(temporary, contents: contents)
        defer { unlink(temporary) }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST { return false }
            throw Failure(description: "cannot create \(path): errno \(errno)")
        }
        syncDirectory(of: path)
        return true
    }

    /// Writes a new file `path` (0600, failing when it exists) and syncs it.
    private static func writeNew(_ path: String, contents: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(path): errno \(errno)") }
        let written = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == contents.count, synced == 0 else {
            unlink(path)
            throw Failure(description: "cannot write \(path): errno \(errno)")
        }
    }

    private static func syncDirectory(of path: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// Replaces `path` (0600) with `contents` at once: written and synced beside it, renamed
    /// over it, the directory synced; a crash leaves the old file or the new one.
    public static func replace(_ path: String, contents: [UInt8]) throws {
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        try writeNew(temporary, contents: contents)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Failure(description: "cannot rename \(temporary) to \(path): errno \(errno)")
        }
        syncDirectory(of: path)
    }
}
