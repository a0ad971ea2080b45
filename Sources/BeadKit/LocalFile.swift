#if canImport(Glibc)
    import Glibc
#endif

/// Reading a whole local file (drafts, formulas), with the system's reason when it fails.
public enum LocalFile {
    public struct Failure: Error, Sendable {
        /// `strerror` of the failure, e.g. "No such file or directory".
        public var reason: String
    }

    public static func read(_ path: String) throws(Failure) -> [UInt8] {
        guard let file = fopen(path, "r") else { throw Failure(reason: String(cString: strerror(errno))) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return bytes
    }
}

extension LocalFile {
    public static func isFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// A folder Gasworks ships (`formulas`, `hooks`), found from the running executable's
    /// real path: `<prefix>/share/gasworks/<name>` when installed, else `<name>` at the top
    /// of the source tree it was built in.
    public static func shippedDirectory(_ name: String) -> String? {
        guard var directory = currentExecutable() else { return nil }
        for _ in 0..<5 {
            directory = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
            guard !directory.isEmpty else { return nil }
            let installed = directory + "/share/gasworks/" + name
            if isDirectory(installed) { return installed }
            if isDirectory(directory + "/" + name), isFile(directory + "/Package.swift") {
                return directory + "/" + name
            }
        }
        return nil
    }

    /// `path` with a leading `~/` standing for `$HOME` (as git reads paths in its config).
    public static func expandingHome(_ path: String) -> String {
        guard path.hasPrefix("~/"), let home = getenv("HOME").map({ String(cString: $0) }) else { return path }
        return home + path.dropFirst()
    }

    /// The running executable's real path (symlinks such as `git-bead` resolved).
    public static func currentExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension LocalFile {
    /// Writes `text` to `path` all at once: into a temporary file beside it, then renamed
    /// over it, so a reader (or a crash) never sees half a file.
    public static func write(_ text: String, to path: String, mode: mode_t = 0o644) throws(Failure) {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(reason: String(cString: strerror(errno))) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw Failure(reason: reason)
            }
            written += count
        }
        fchmod(fd, mode)
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(reason: reason)
        }
    }

    /// `mkdir -p`.
    public static func makeDirectories(_ path: String) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            mkdir(current, 0o755)
        }
    }

    public static func isExecutable(_ path: String) -> Bool { access(path, X_OK) == 0 && isFile(path) }
}

extension LocalFile {
    /// The names in a directory (without `.` and `..`); empty when it cannot be read.
    public static func list(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
