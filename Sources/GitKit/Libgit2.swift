import CLibgit2
import CLibgit2Startup

/// Initializes libgit2 once per process, with the options every Gasworks process wants.
public enum Libgit2 {
    /// How many times libgit2 asked to load CA certificates (answered with nothing).
    /// Reading it also keeps the replacement loaders linked into every executable.
    public static var caBundleRequests: Int { Int(gw_ca_bundle_requests()) }

    static let ready: Void = {
        git_libgit2_init()
        // Objects GitKit writes are built from ids it just wrote or read; libgit2's extra
        // existence check on every tree entry and parent is a second lookup of each.
        _ = gw_opts_enable_strict_object_creation(0)
        // Trees over 4 KB (a notes fan-out root of 256 entries is ~7.7 KB) are not cached by
        // default, so every note lookup would inflate and hash the root again.
        _ = gw_opts_set_tree_cache_limit(1 << 20)
    }()
}
