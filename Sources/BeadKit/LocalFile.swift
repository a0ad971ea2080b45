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
