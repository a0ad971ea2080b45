import CLibgit2

#if canImport(Glibc)
    import Glibc
#endif

/// An open git repository: the one owner of a `git_repository` handle, freed in `deinit`.
///
/// Threads: libgit2 is built thread-safe, but one `Repository` (and anything read
/// through it) must be used by one thread at a time. Open one `Repository` per thread
/// or task that needs one; separate instances on the same path may be used in parallel,
/// and processes coordinate through compare-and-swap on refs, never through shared handles.
public final class Repository {
    let pointer: OpaquePointer
    /// While this handle collects a batch (`withObjectBatch`), the ids of objects it wrote.
    var batchWrites: [OID]?

    private init(pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        git_repository_free(pointer)
    }

    /// Opens the repository whose git dir or working tree is exactly `path`.
    public static func open(_ path: String) throws -> Repository {
        Libgit2.ready
        var out: OpaquePointer?
        try check(
            git_repository_open_ext(&out, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil),
            "git_repository_open_ext")
        return Repository(pointer: out!)
    }

    /// Finds the repository containing `path`, walking up like git does; works from inside
    /// a linked worktree (its `commonDir` is then the main repository's git dir).
    public static func discover(from path: String) throws -> Repository {
        Libgit2.ready
        var out: OpaquePointer?
        try check(git_repository_open_ext(&out, path, 0, nil), "git_repository_open_ext")
        return Repository(pointer: out!)
    }

    /// Creates a new repository (`git init`), bare or with a working tree, on branch `main`.
    @discardableResult
    public static func create(at path: String, bare: Bool = false, initialBranch: String = "main") throws -> Repository
    {
        Libgit2.ready
        var options = git_repository_init_options()
        try check(
            git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)),
            "git_repository_init_options_init")
        options.flags = GIT_REPOSITORY_INIT_MKPATH.rawValue | (bare ? GIT_REPOSITORY_INIT_BARE.rawValue : 0)
        var out: OpaquePointer?
        try initialBranch.withCString { branch in
            options.initial_head = branch
            try check(git_repository_init_ext(&out, path, &options), "git_repository_init_ext")
        }
        return Repository(pointer: out!)
    }

    /// This checkout's git dir (for a linked worktree, `.git/worktrees/<name>/`), with a trailing slash.
    public var gitDir: String { String(cString: git_repository_path(pointer)) }

    /// The git dir shared by all worktrees: where refs, objects and Gasworks' caches live.
    public var commonDir: String { String(cString: git_repository_commondir(pointer)) }

    /// The working tree, nil for a bare repository.
    public var workdir: String? { git_repository_workdir(pointer).map { String(cString: $0) } }

    public var isBare: Bool { git_repository_is_bare(pointer) == 1 }

    /// True when this handle was opened through a linked worktree.
    public var isLinkedWorktree: Bool { git_repository_is_worktree(pointer) == 1 }
}

// MARK: - configuration

extension Repository {
    /// Reads one configuration value through every level (system, global, local, worktree).
    public func config(_ key: String) throws -> String? {
        try withConfigSnapshot { config in
            var buf = git_buf()
            defer { git_buf_dispose(&buf) }
            let rc = git_config_get_string_buf(&buf, config, key)
            if rc == GIT_ENOTFOUND.rawValue { return nil }
            try check(rc, "git_config_get_string_buf(\(key))")
            return String(cString: buf.ptr)
        }
    }

    /// Reads a boolean configuration value with git's spelling rules (yes/on/true/1).
    public func configBool(_ key: String) throws -> Bool? {
        try withConfigSnapshot { config in
            var value: Int32 = 0
            let rc = git_config_get_bool(&value, config, key)
            if rc == GIT_ENOTFOUND.rawValue { return nil }
            try check(rc, "git_config_get_bool(\(key))")
            return value != 0
        }
    }

    /// All values of a multi-valued key, in file order.
    public func configValues(_ key: String) throws -> [String] {
        try withConfigSnapshot { config in
            var values: [String] = []
            var iterator: OpaquePointer?
            let rc = git_config_multivar_iterator_new(&iterator, config, key, nil)
            if rc == GIT_ENOTFOUND.rawValue { return [] }
            try check(rc, "git_config_multivar_iterator_new(\(key))")
            defer { git_config_iterator_free(iterator) }
            var entry: UnsafeMutablePointer<git_config_entry>?
            while git_config_next(&entry, iterator) == 0, let entry {
                values.append(String(cString: entry.pointee.value))
            }
            return values
        }
    }

    /// Writes a value into the repository's own config file (`.git/config`).
    public func setConfig(_ key: String, _ value: String) throws {
        try withLocalConfig { config in
            try check(git_config_set_string(config, key, value), "git_config_set_string(\(key))")
        }
    }

    /// Adds one more value to a multi-valued key unless it is already there.
    public func addConfigValue(_ key: String, _ value: String) throws {
        guard try !configValues(key).contains(value) else { return }
        try withLocalConfig { config in
            try check(git_config_set_multivar(config, key, "^$", value), "git_config_set_multivar(\(key))")
        }
    }

    private func withConfigSnapshot<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        var config: OpaquePointer?
        try check(git_repository_config_snapshot(&config, pointer), "git_repository_config_snapshot")
        defer { git_config_free(config) }
        return try body(config!)
    }

    /// Every config entry whose (normalized, lower-case) name matches the regular expression
    /// `pattern`, as (name, value) in file order.
    public func configEntries(matching pattern: String) throws -> [(name: String, value: String)] {
        try withConfigSnapshot { config in
            var iterator: OpaquePointer?
            try check(git_config_iterator_glob_new(&iterator, config, pattern), "git_config_iterator_glob_new")
            defer { git_config_iterator_free(iterator) }
            var entries: [(String, String)] = []
            var entry: UnsafeMutablePointer<git_config_entry>?
            while git_config_next(&entry, iterator) == 0, let entry {
                entries.append((String(cString: entry.pointee.name), String(cString: entry.pointee.value)))
            }
            return entries
        }
    }

    /// Removes a key from the repository's own config file; nothing happens when it is not there.
    public func unsetConfig(_ key: String) throws {
        try withLocalConfig { config in
            let rc = git_config_delete_entry(config, key)
            if rc == GIT_ENOTFOUND.rawValue { return }
            try check(rc, "git_config_delete_entry(\(key))")
        }
    }

    /// Runs `body` on the repository's own config file. Another writer holding
    /// `config.lock` (ten polecats slung at once each write their hooks' include) is waited
    /// out; a lock left by a killed writer is cleared once it is stale.
    private func withLocalConfig<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        try RetryPolicy.standard.run(
            retrying: { $0.code == .locked },
            onLocked: {
                let lock = commonDir + "config.lock"
                var info = stat()
                if stat(lock, &info) == 0, Double(time(nil)) - Double(info.st_mtim.tv_sec) > 10 { unlink(lock) }
            }
        ) { try withLocalConfigOnce(body) }
    }

    private func withLocalConfigOnce<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        var all: OpaquePointer?
        try check(git_repository_config(&all, pointer), "git_repository_config")
        defer { git_config_free(all) }
        var local: OpaquePointer?
        try check(git_config_open_level(&local, all, GIT_CONFIG_LEVEL_LOCAL), "git_config_open_level")
        defer { git_config_free(local) }
        return try body(local!)
    }
}
