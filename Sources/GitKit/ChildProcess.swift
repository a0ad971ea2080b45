import CSpawn

#if canImport(Glibc)
    import Glibc
#endif

/// A finished child process: how it ended, how long it took, and what it printed.
public struct ChildOutcome: Sendable {
    /// The exit status, or 128 + the signal that ended it.
    public var status: Int32
    /// True when it ran past its time limit and was killed.
    public var timedOut: Bool
    public var seconds: Double
    /// stdout and stderr interleaved as written, up to the capture limit.
    public var output: [UInt8]
    /// Bytes written beyond the capture limit (dropped from `output`).
    public var droppedBytes: Int

    public var text: String { String(decoding: output, as: UTF8.self) }
}

/// Runs commands as real child processes (`posix_spawn`): each in its own process group,
/// so a timeout ends everything it started, with stdout and stderr captured through one pipe.
public enum ChildProcess {
    /// Variables that tie a git process to one repository. A hook runs with them set for the
    /// repository being committed to; children that work elsewhere must not inherit them.
    public static let repositoryVariables: Set<String> = [
        "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_QUARANTINE_PATH",
        "GIT_REFLOG_ACTION", "GIT_EDITOR",
    ]

    /// This process's environment without `removing` and without any variable whose name
    /// starts with one of `removingPrefixes`, with `adding` on top.
    public static func environment(
        removing: Set<String> = repositoryVariables, removingPrefixes: [String] = [], adding: [String: String] = [:]
    ) -> [String] {
        var entries: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            let name = String(text.prefix { $0 != "=" })
            if !removing.contains(name), adding[name] == nil, !removingPrefixes.contains(where: name.hasPrefix) {
                entries.append(text)
            }
            index += 1
        }
        for (name, value) in adding.sorted(by: { $0.key < $1.key }) { entries.append(name + "=" + value) }
        return entries
    }

    /// Runs `argv` (searched on PATH) in `directory` with stdin from /dev/null. After
    /// `timeout` seconds the whole process group gets SIGTERM, then SIGKILL two seconds later.
    /// At most `captureLimit` bytes of output are kept; the rest is counted and dropped.
    public static func run(
        _ argv: [String], in directory: String? = nil, environment: [String]? = nil, timeout: Double? = nil,
        captureLimit: Int = 1 << 20
    ) throws -> ChildOutcome {
        precondition(!argv.isEmpty)
        var pipeEnds: [Int32] = [0, 0]
        // Both ends close-on-exec from the start: no child another thread spawns inherits
        // them; the spawned one gets the write end as 1 and 2.
        guard gw_pipe_cloexec(&pipeEnds) == 0 else {
            throw GitError(
                code: .other(-1), message: "cannot create a pipe: \(String(cString: strerror(errno)))",
                function: "pipe2")
        }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        // Nothing else this process holds (or inherited without close-on-exec) reaches the
        // child: a check or agent that outlives us must not keep our parent's pipes open.
        _ = gw_spawn_close_from(&actions, 3)
        let started = MonotonicClock.seconds()
        let pid: pid_t
        do {
            pid = try spawn(argv, in: directory, environment: environment ?? Self.environment(removing: []), &actions)
        } catch {
            close(writeEnd)
            close(readEnd)
            throw error
        }
        close(writeEnd)

        var output: [UInt8] = []
        var dropped = 0
        var timedOut = false
        var killAt: Double? = nil
        let deadline = timeout.map { started + $0 }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var outputOpen = true
        var status: Int32 = 0
        var statusLost = false
        func take(_ count: Int) {
            let room = max(0, captureLimit - output.count)
            output.append(contentsOf: buffer[0..<min(count, room)])
            dropped += max(0, count - room)
        }
        // Reaps without blocking, so the time limit holds even after the child closed its
        // output (a check that redirects to a file), and stops reading once the child has
        // exited even if something it left running still holds the pipe.
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0, errno != EINTR {
                statusLost = true
                break
            }
            let now = MonotonicClock.seconds()
            if let deadline, !timedOut, now >= deadline {
                timedOut = true
                kill(-pid, SIGTERM)
                killAt = now + 2
            }
            if let at = killAt, now >= at {
                kill(-pid, SIGKILL)
                killAt = nil
            }
            var slice = 0.05
            if let deadline, !timedOut { slice = min(slice, max(0.001, deadline - now)) }
            var descriptor = pollfd(fd: outputOpen ? readEnd : -1, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32((slice * 1000).rounded(.up)))
            guard outputOpen, ready > 0 else { continue }
            let count = read(readEnd, &buffer, buffer.count)
            if count < 0, errno == EINTR { continue }
            if count <= 0 {
                outputOpen = false
            } else {
                take(count)
            }
        }
        // What the child wrote before it exited is in the pipe: take it without waiting for
        // the pipe to close.
        if outputOpen {
            _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
            while true {
                let count = read(readEnd, &buffer, buffer.count)
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                take(count)
            }
        }
        close(readEnd)
        // Whatever the command left running in its group goes with it.
        kill(-pid, SIGKILL)
        let seconds = MonotonicClock.seconds() - started
        // A status that could not be collected is a failure, never a success.
        let exitStatus = statusLost ? 255 : (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ChildOutcome(
            status: exitStatus, timedOut: timedOut, seconds: seconds, output: output, droppedBytes: dropped)
    }
}

extension ChildProcess {
    /// Starts `argv` in `directory` in a process group of its own, stdin from /dev/null,
    /// stdout and stderr appended to `log`, and returns at once: the child outlives this
    /// process (an agent). Nothing else this process holds reaches it.
    public static func spawnDetached(_ argv: [String], in directory: String, environment: [String], log: String)
        throws -> pid_t
    {
        precondition(!argv.isEmpty)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        _ = gw_spawn_close_from(&actions, 3)
        return try spawn(argv, in: directory, environment: environment, &actions)
    }

    /// posix_spawn of `argv` (in `directory`, through a shell's `cd`: posix_spawn has no
    /// portable change of directory) in a new process group, with no signal blocked.
    static func spawn(
        _ argv: [String], in directory: String?, environment: [String], _ actions: inout posix_spawn_file_actions_t
    ) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        let command = directory.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0] + argv } ?? argv
        let cArguments = command.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in cArguments + cEnvironment { free(pointer) }
        }
        var pid = pid_t()
        let rc = posix_spawnp(&pid, command[0], &actions, &attributes, cArguments, cEnvironment)
        guard rc == 0 else {
            throw GitError(
                code: .other(-1), message: "cannot run \(argv[0]): \(String(cString: strerror(rc)))",
                function: "posix_spawnp")
        }
        return pid
    }

    /// When process `pid` started, in clock ticks after boot (`/proc/<pid>/stat` field 22);
    /// nil when there is no such process. A pid with another start time is another process.
    public static func startTime(of pid: pid_t) -> UInt64? {
        guard pid > 0, let file = fopen("/proc/\(pid)/stat", "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 4096)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
        guard let close = line.lastIndex(of: ")") else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19, fields[0] != "Z" else { return nil }
        return UInt64(fields[19])
    }
}
