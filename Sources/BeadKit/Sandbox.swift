import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// The bubblewrap sandbox agents and check commands run in: the whole file system
/// read-only, a private `/tmp` and `/run`, no capabilities, a pid namespace of their own;
/// writable only what the caller names (an agent: its worktree, its worktree's admin
/// directory, the object store, its own branch's ref directory and a private home). The
/// rig's private directory (keys, broker sockets) is replaced by an empty one.
///
/// `gt.sandbox` (`on`, the default, or `off`) and `gt.sandbox.network` (default true) are
/// the overseer's settings; `gt.sandbox.bind` (multi-valued) names more paths an agent may
/// write (an agent CLI's own state, such as `~/.claude`).
public struct Sandbox {
    /// Where an agent finds its broker's socket inside the sandbox.
    public static let brokerSocket = "/run/gasworks-broker.sock"

    public var writable: [String] = []
    /// More paths to show read-only when they lie under the private `/tmp` or `/dev`
    /// (the agent command's own script, say).
    public var readable: [String] = []
    public var network = true
    public var home: String?
    /// A socket outside bound to `brokerSocket` inside.
    public var socket: String?
    public var directory: String?
    public var environment: [String: String] = [:]
    let repository: Repository

    /// A sandbox of `repository`'s settings: the network as `gt.sandbox.network` says, and
    /// the paths `gt.sandbox.bind` names writable (callers add their own).
    public init(repository: Repository) throws {
        self.repository = repository
        network = try repository.configBool("gt.sandbox.network") ?? true
        writable = try repository.configValues("gt.sandbox.bind").map(LocalFile.expandingHome)
    }

    /// Whether the overseer turned the sandbox off (`gt.sandbox=off`).
    public static func isOff(_ repository: Repository) throws -> Bool {
        let value = (try repository.config("gt.sandbox") ?? "on").lowercased()
        switch value {
        case "on", "true", "yes", "1", "": return false
        case "off", "false", "no", "0": return true
        default: throw GasworksError(.usage, "gt.sandbox must be 'on' or 'off', not '\(value)'")
        }
    }

    /// Why the rig's agents run unconfined, or nil when they are sandboxed. Without
    /// `probe`, only whether `bwrap` is on PATH (no process started: cheap enough for
    /// every status screen); with it, whether bubblewrap really makes a sandbox here.
    public static func unconfined(_ repository: Repository, probe: Bool) -> String? {
        if (try? isOff(repository)) ?? false {
            return "the rig's agents are unconfined (gt.sandbox=off): they can write any ref and read the keys"
        }
        if probe {
            probed = nil
            return unavailable().map { "the rig's agents cannot be sandboxed: \($0)" }
        }
        if bwrapExecutable() == nil {
            return "the rig's agents cannot be sandboxed: bubblewrap (bwrap) is not installed"
        }
        return nil
    }

    nonisolated(unsafe) static var probed: String??

    static let notInstalled = "bubblewrap (bwrap) is not installed: apt-get install bubblewrap (or gt.sandbox=off)"

    /// `bwrap` as PATH finds it.
    static func bwrapExecutable() -> String? {
        for directory in (ProcessEnvironment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        where access(String(directory) + "/bwrap", X_OK) == 0 {
            return String(directory) + "/bwrap"
        }
        return nil
    }

    /// This user's directory for brokers' sockets and the probe's result: under the host's
    /// `/tmp`, which no sandbox sees (its `/tmp` is its own).
    public static var runtimeDirectory: String { "/tmp/gasworks-brokers-\(getuid())" }

    /// Nil when bubblewrap runs here; else why not, with the fix, in one line. A success
    /// is remembered for the machine's boot in `runtimeDirectory/sandbox-ok` (a probe
    /// starts a sandbox, which costs a sling milliseconds); a failure is probed again.
    public static func unavailable(_ repository: Repository? = nil) -> String? {
        if let probed { return probed }
        guard let executable = bwrapExecutable() else {
            probed = .some(notInstalled)
            return notInstalled
        }
        // The same bubblewrap (path and time) since this boot.
        var info = stat()
        stat(executable, &info)
        let bootID = (try? LocalFile.read("/proc/sys/kernel/random/boot_id")).map {
            String(decoding: $0, as: UTF8.self).firstLine + " \(executable) \(info.st_mtim.tv_sec)"
        }
        let remembered = repository.map { _ in runtimeDirectory + "/sandbox-ok" }
        if let remembered, let bootID, let bytes = try? LocalFile.read(remembered),
            String(decoding: bytes, as: UTF8.self).firstLine == bootID
        {
            probed = .some(nil)
            return nil
        }
        var reason: String?
        if let outcome = try? ChildProcess.run(
            [executable, "--ro-bind", "/", "/", "--unshare-pid", "--cap-drop", "ALL", "true"], timeout: 20)
        {
            if outcome.status == 127 || outcome.text.contains("No such file") {
                reason = notInstalled
            } else if outcome.status != 0 {
                reason =
                    "bubblewrap cannot make a sandbox here (\(outcome.text.firstLine)): enable user namespaces "
                    + "(sysctl kernel.unprivileged_userns_clone=1) or set gt.sandbox=off"
            }
        } else {
            reason = notInstalled
        }
        probed = .some(reason)
        if reason == nil, let remembered, let bootID {
            LocalFile.makeDirectories(runtimeDirectory)
            chmod(runtimeDirectory, 0o700)
            try? LocalFile.write(bootID + "\n", to: remembered)
        }
        return reason
    }

    /// The `bwrap` command line that runs `argv` in this sandbox.
    public func command(_ argv: [String]) -> [String] {
        var arguments = [
            "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/run",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--cap-drop", "ALL", "--die-with-parent",
        ]
        if !network { arguments.append("--unshare-net") }
        // What lives under the private /tmp or the fresh /dev (test rigs, a TMPDIR in
        // /dev/shm) is shown again, read-only.
        var shown: [String] = []
        let searched = (ProcessEnvironment["PATH"] ?? "").split(separator: ":").map(String.init)
        for path in [repository.commonDir, repository.workdir ?? ""] + writable + [home ?? ""] + searched + readable {
            for root in ["/tmp/", "/dev/shm/"] where path.hasPrefix(root) {
                let top = root + (path.dropFirst(root.count).split(separator: "/").first.map(String.init) ?? "")
                if top != root, !shown.contains(top) { shown.append(top) }
            }
        }
        for path in shown { arguments += ["--ro-bind", path, path] }
        for path in writable where LocalFile.isDirectory(path) || LocalFile.isFile(path) {
            arguments += ["--bind", path, path]
        }
        // Last, so no writable path above can show it again.
        let hidden = RigKeys.privateDirectory(repository)
        if LocalFile.isDirectory(hidden) { arguments += ["--tmpfs", hidden] }
        if let home {
            arguments += ["--bind", home, home, "--setenv", "HOME", home]
        } else {
            arguments += ["--setenv", "HOME", "/tmp"]
        }
        if let socket {
            arguments += ["--bind", socket, Self.brokerSocket, "--setenv", "GT_BROKER", Self.brokerSocket]
        }
        // Automatic gc would rewrite packed-refs, which is not the agent's to write.
        arguments += ["--setenv", "GIT_CONFIG_COUNT", "1", "--setenv", "GIT_CONFIG_KEY_0", "gc.auto"]
        arguments += ["--setenv", "GIT_CONFIG_VALUE_0", "0"]
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) { arguments += ["--setenv", name, value] }
        if let directory { arguments += ["--chdir", directory] }
        return arguments + ["--"] + argv
    }

    /// The admin directory git keeps for the worktree at `path` (`<common>/worktrees/<id>`).
    public static func adminDirectory(ofWorktree path: String) -> String? {
        guard let bytes = try? LocalFile.read(path + "/.git") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).firstLine
        guard text.hasPrefix("gitdir: ") else { return nil }
        return String(text.dropFirst(8))
    }

    /// Runs a check command (`/bin/sh -c`) in `checkout`, sandboxed unless `gt.sandbox=off`
    /// or bubblewrap cannot run here: the code under test is the agent's, and must not
    /// reach the rig's state from there either.
    public static func runCheck(
        _ command: String, in checkout: String, repository: Repository, environment: [String], timeout: Double
    ) throws -> ChildOutcome {
        let argv = ["/bin/sh", "-c", command]
        guard try !isOff(repository), unavailable(repository) == nil else {
            return try ChildProcess.run(argv, in: checkout, environment: environment, timeout: timeout)
        }
        var sandbox = try Sandbox(repository: repository)
        sandbox.writable += [checkout] + (adminDirectory(ofWorktree: checkout).map { [$0] } ?? [])
        sandbox.directory = checkout
        return try ChildProcess.run(sandbox.command(argv), environment: environment, timeout: timeout)
    }
}
