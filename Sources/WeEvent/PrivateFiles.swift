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
}
