import CLibgit2

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Who made a commit and when, copied out of libgit2 as a plain value.
public struct Signature: Sendable, Equatable {
    public var name: String
    public var email: String
    /// Seconds since the epoch.
    public var time: Int64
    /// Offset from UTC in minutes.
    public var offsetMinutes: Int32

    public init(name: String, email: String, time: Int64, offsetMinutes: Int32 = 0) {
        self.name = name
        self.email = email
        self.time = time
        self.offsetMinutes = offsetMinutes
    }

    init(_ raw: UnsafePointer<git_signature>) {
        name = String(cString: raw.pointee.name)
        email = String(cString: raw.pointee.email)
        time = raw.pointee.when.time
        offsetMinutes = raw.pointee.when.offset
    }

    func withRaw<T>(_ body: (UnsafePointer<git_signature>) throws -> T) throws -> T {
        var raw: UnsafeMutablePointer<git_signature>?
        try check(git_signature_new(&raw, name, email, time, offsetMinutes), "git_signature_new")
        defer { git_signature_free(raw) }
        return try body(raw!)
    }

    /// The committer git itself would use here: `GIT_COMMITTER_NAME`/`EMAIL`/`DATE`
    /// from the environment first, then `user.name`/`user.email`, and the clock.
    /// Honouring `GIT_COMMITTER_DATE` keeps commit ids reproducible under pinned dates.
    public static func committer(in repository: Repository) throws -> Signature {
        let env = ProcessEnvironment.self
        let name = try env["GIT_COMMITTER_NAME"] ?? repository.config("user.name") ?? "Gasworks"
        let email = try env["GIT_COMMITTER_EMAIL"] ?? repository.config("user.email") ?? "gasworks@localhost"
        let (time, offset) = env["GIT_COMMITTER_DATE"].flatMap(parseGitDate) ?? (Int64(Glibc.time(nil)), 0)
        return Signature(name: name, email: email, time: time, offsetMinutes: offset)
    }

    /// Parses git's internal date format (`@1700000000 +0000` or `1700000000 +0000`) and
    /// ISO 8601 with a `Z` or numeric zone (`2025-01-02T03:04:05Z`).
    public static func parseGitDate(_ text: String) -> (Int64, Int32)? {
        let parts = text.split(separator: " ")
        if let first = parts.first {
            let digits = first.hasPrefix("@") ? first.dropFirst() : first[...]
            if let seconds = Int64(digits) {
                let offset = parts.count > 1 ? parseZone(String(parts[1])) ?? 0 : 0
                return (seconds, offset)
            }
        }
        return parseISO8601(text)
    }

    private static func parseZone(_ zone: String) -> Int32? {
        guard zone.count == 5, let sign = zone.first, sign == "+" || sign == "-",
            let hhmm = Int32(zone.dropFirst())
        else { return nil }
        let minutes = (hhmm / 100) * 60 + hhmm % 100
        return sign == "-" ? -minutes : minutes
    }

    private static func parseISO8601(_ text: String) -> (Int64, Int32)? {
        guard let seconds = ISO8601.parse(text) else { return nil }
        return (seconds, ISO8601.zoneMinutes(text) ?? 0)
    }
}

/// Environment lookups in one place, so they read the same everywhere.
public enum ProcessEnvironment {
    public static subscript(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}
