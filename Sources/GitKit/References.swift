import CLibgit2

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A reference name with the object it points at (symbolic refs are resolved).
public struct Reference: Sendable, Equatable {
    public var name: String
    public var target: OID

    public init(name: String, target: OID) {
        self.name = name
        self.target = target
    }
}

/// What a compare-and-swap update decides to do with the value it read.
public enum ReferenceChange: Sendable, Equatable {
    case set(OID)
    case delete
    /// Leave the reference as it is (nothing to write).
    case keep
}

extension Repository {
    /// The ref a symbolic ref (such as `HEAD`) points at; nil when `name` does not exist or
    /// is not symbolic.
    public func symbolicTarget(_ name: String) throws -> String? {
        var reference: OpaquePointer?
        let rc = git_reference_lookup(&reference, pointer, name)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check(rc, "git_reference_lookup(\(name))")
        defer { git_reference_free(reference) }
        return git_reference_symbolic_target(reference).map { String(cString: $0) }
    }

    /// The names of the configured remotes.
    public func remoteNames() throws -> [String] {
        var list = git_strarray()
        try check(git_remote_list(&list, pointer), "git_remote_list")
        defer { git_strarray_dispose(&list) }
        return (0..<list.count).compactMap { list.strings[$0].map { String(cString: $0) } }
    }

    /// The object `name` points at (following symbolic refs), nil when it does not exist.
    public func referenceTarget(_ name: String) throws -> OID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, pointer, name)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check(rc, "git_reference_name_to_id(\(name))")
        return OID(oid)
    }

    /// Every reference whose name starts with `prefix` (for example `refs/gt/beads/`), sorted by name.
    /// With `sorted: false` the order is libgit2's (loose, then packed), which spares
    /// sorting 10,000 names when the caller builds a dictionary anyway.
    public func references(withPrefix prefix: String, sorted: Bool = true) throws -> [Reference] {
        // libgit2's glob `*` crosses `/`, which is exactly a prefix match.
        try iterateReferences(glob: prefix + "*", sorted: sorted).filter { $0.name.hasPrefix(prefix) }
    }

    /// References matching a git-style glob, where `*` and `?` never cross a `/`
    /// (libgit2's own glob does cross it, so its answers are filtered again here).
    public func references(matching glob: String) throws -> [Reference] {
        try iterateReferences(glob: glob).filter { fnmatch(glob, $0.name, FNM_PATHNAME) == 0 }
    }

    private func iterateReferences(glob: String, sorted: Bool = true) throws -> [Reference] {
        var iterator: OpaquePointer?
        try check(git_reference_iterator_glob_new(&iterator, pointer, glob), "git_reference_iterator_glob_new")
        defer { git_reference_iterator_free(iterator) }
        var found: [Reference] = []
        var ref: OpaquePointer?
        while true {
            let rc = git_reference_next(&ref, iterator)
            if rc == GIT_ITEROVER.rawValue { break }
            try check(rc, "git_reference_next")
            defer { git_reference_free(ref) }
            let name = String(cString: git_reference_name(ref))
            if let direct = git_reference_target(ref) {
                found.append(Reference(name: name, target: OID(direct)))
            } else if let target = try referenceTarget(name) {
                found.append(Reference(name: name, target: target))
            }
        }
        return sorted ? found.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) } : found
    }

    /// Points `name` at `target` only if it currently points at `expected`
    /// (nil: only if it does not exist yet). Throws `.modified`, `.exists`, `.notFound`
    /// or `.locked` when another writer got there first; nothing is written then.
    public func setReference(_ name: String, to target: OID, expecting expected: OID?, message: String) throws {
        try ReferenceGuard.check?(name, false)
        var new = target.raw
        var ref: OpaquePointer?
        if let expected {
            var old = expected.raw
            try check(
                git_reference_create_matching(&ref, pointer, name, &new, 1, &old, message),
                "git_reference_create_matching(\(name))")
        } else {
            // Create only if absent. git_reference_create(force: 0) checks for an existing ref
            // before taking the lock, so two creators racing can both "succeed" and the later
            // silently replaces the earlier. An expected value of all zeros is checked under
            // the lock: absent matches, present is GIT_EMODIFIED, reported here as `.exists`.
            var absent = git_oid()
            let rc = git_reference_create_matching(&ref, pointer, name, &new, 1, &absent, message)
            if rc == GIT_EMODIFIED.rawValue {
                throw GitError(code: .exists, message: "reference '\(name)' already exists", function: "setReference")
            }
            try check(rc, "git_reference_create_matching(\(name), absent)")
        }
        git_reference_free(ref)
    }

    /// Deletes `name` only if it still points at `expected`.
    public func deleteReference(_ name: String, expecting expected: OID) throws {
        try ReferenceGuard.check?(name, true)
        var ref: OpaquePointer?
        try check(git_reference_lookup(&ref, pointer, name), "git_reference_lookup(\(name))")
        defer { git_reference_free(ref) }
        guard let current = git_reference_target(ref), OID(current) == expected else {
            throw GitError(code: .modified, message: "reference '\(name)' moved", function: "deleteReference")
        }
        // libgit2 deletes only if the ref still has the value it was loaded with.
        try check(git_reference_delete(ref), "git_reference_delete(\(name))")
    }

    /// Reads `name`, asks `decide` what to do with its current value, and applies that
    /// with compare-and-swap. On a conflict (another writer moved, created or deleted the
    /// ref, or holds its lock) it reads again and calls `decide` again, so `decide` must
    /// only compute: it may write objects but must not publish anything.
    @discardableResult
    public func updateReference<T>(
        _ name: String, message: String, policy: RetryPolicy = .standard,
        _ decide: (OID?) throws -> (ReferenceChange, T)
    ) throws -> T {
        try withRetry(touching: [name], policy: policy) { () throws -> T in
            let current = try referenceTarget(name)
            let (change, result) = try decide(current)
            switch change {
            case .keep:
                break
            case .set(let target):
                if target != current { try setReference(name, to: target, expecting: current, message: message) }
            case .delete:
                if let current { try deleteReference(name, expecting: current) }
            }
            return result
        }
    }
}

extension Repository {
    /// Runs `attempt` under `policy`, clearing stale lock files of the `touching` refs
    /// when a lock is met. Use it around `updateReferences` transactions. With
    /// `onlyLocks`, any other conflict (`.exists` for a name that is taken) is thrown at
    /// once for the caller to answer, rather than retried.
    public func withRetry<T>(
        touching names: [String], policy: RetryPolicy = .standard, onlyLocks: Bool = false, _ attempt: () throws -> T
    ) throws -> T {
        try policy.run(
            retrying: { onlyLocks ? $0.code == .locked : $0.isRetryableConflict },
            onLocked: { clearStaleLocks(of: names, olderThan: policy.staleLockSeconds) }, attempt)
    }

    /// Removes `<ref>.lock` and `packed-refs.lock` files older than `seconds`.
    ///
    /// git holds a ref lock for the microseconds between creating and renaming it, so a
    /// lock that has sat for seconds belongs to a writer that was killed: without this,
    /// one SIGKILL would block that ref for every later writer, git's included.
    public func clearStaleLocks(of names: [String], olderThan seconds: Double) {
        let now = Double(time(nil))
        for path in names.map({ commonDir + $0 + ".lock" }) + [commonDir + "packed-refs.lock"] {
            var info = stat()
            guard stat(path, &info) == 0, now - Double(info.st_mtim.tv_sec) > seconds else { continue }
            // Rename first so that two cleaners never unlink a lock a live writer just took.
            let claimed = path + ".stale.\(getpid())"
            if rename(path, claimed) == 0 { unlink(claimed) }
        }
    }
}

/// How compare-and-swap loops retry: immediately at first, then with growing randomized
/// sleeps so that 30 contending processes spread out, up to a deadline.
public struct RetryPolicy: Sendable {
    public var deadlineSeconds: Double
    public var maxSleepMicroseconds: UInt32
    /// A ref lock file older than this is taken as left by a killed writer.
    public var staleLockSeconds: Double

    public static let standard = RetryPolicy(deadlineSeconds: 120, maxSleepMicroseconds: 20_000, staleLockSeconds: 10)

    public init(deadlineSeconds: Double, maxSleepMicroseconds: UInt32, staleLockSeconds: Double) {
        self.deadlineSeconds = deadlineSeconds
        self.maxSleepMicroseconds = maxSleepMicroseconds
        self.staleLockSeconds = staleLockSeconds
    }

    /// Runs `attempt` until it returns or fails with something other than a conflict;
    /// `onLocked` runs before the retry that follows a `.locked` failure.
    public func run<T>(
        retrying shouldRetry: (GitError) -> Bool = { $0.isRetryableConflict }, onLocked: () -> Void = {},
        _ attempt: () throws -> T
    ) throws -> T {
        let start = MonotonicClock.seconds()
        var tries = 0
        while true {
            do {
                return try attempt()
            } catch let error as GitError where shouldRetry(error) {
                tries += 1
                if error.code == .locked { onLocked() }
                if MonotonicClock.seconds() - start > deadlineSeconds {
                    throw GitError(
                        code: error.code, rawCode: error.rawCode, errorClass: error.errorClass,
                        message: "gave up after \(tries) conflicting attempts: \(error.message)",
                        function: error.function)
                }
                if tries > 1 {
                    let ceiling = min(maxSleepMicroseconds, UInt32(50) << UInt32(min(tries, 9)))
                    usleep(UInt32.random(in: 0...ceiling))
                }
            }
        }
    }
}

/// A monotonic clock for deadlines and measurements (never for stored times).
public enum MonotonicClock {
    public static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Sleeps `seconds` (a watch's interval), a second at a time so no duration overflows
    /// `usleep`'s argument.
    public static func sleep(_ seconds: Double) {
        var rest = seconds
        while rest > 0 {
            usleep(UInt32(min(rest, 1) * 1_000_000))
            rest -= 1
        }
    }
}

extension Repository {
    /// Packs loose references into `packed-refs` (what `git pack-refs --all` does).
    public func packReferences() throws {
        var refdb: OpaquePointer?
        try check(git_repository_refdb(&refdb, pointer), "git_repository_refdb")
        defer { git_refdb_free(refdb) }
        try withRetry(touching: []) {
            try check(git_refdb_compress(refdb), "git_refdb_compress")
        }
    }
}

/// Counting loose ref files without reading them.
public enum LooseRefs {
    /// Files directly inside `directory` (0 when it does not exist).
    public static func count(in directory: String) -> Int {
        guard let dir = opendir(directory) else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            if entry.pointee.d_type == UInt8(DT_REG) { count += 1 }
        }
        return count
    }
}
