import CSpawn
import Foundation

/// A child process started with `posix_spawn`, its own descriptors closed by this type.
/// Foundation's `Process` on Linux leaks a pipe per child and crashes once a test process
/// has more than about a thousand descriptors open, so tests start children with this.
public final class Child: @unchecked Sendable {
    /// Where one of the child's output streams goes.
    public enum Output: Sendable {
        case discard
        /// A pipe this process reads (`readSome`, `readAll`).
        case capture
        /// Appended to a file.
        case file(String)
    }

    public let pid: pid_t
    /// This process's end of the child's stdout pipe, or -1.
    private var stdoutFD: Int32
    private var status: Int32?
    private let lock = NSLock()

    private init(pid: pid_t, stdoutFD: Int32) {
        self.pid = pid
        self.stdoutFD = stdoutFD
    }

    deinit { if stdoutFD >= 0 { close(stdoutFD) } }

    /// Starts `argv` (a bare name is looked up on the environment's `PATH` by `/usr/bin/env`).
    public static func start(
        _ argv: [String], in directory: String? = nil, environment: [String: String],
        stdout: Output = .discard, stderr: Output = .discard
    ) throws -> Child {
        let spawned = try spawn(
            argv, in: directory, environment: environment, input: false, stdout: stdout, stderr: stderr)
        return Child(pid: spawned.pid, stdoutFD: spawned.stdout)
    }

    /// Waits for the child to exit and returns its status: the exit code, or 128 plus the
    /// signal that ended it.
    @discardableResult
    public func wait() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        let result = reap(pid)
        status = result
        return result
    }

    /// Whether the child has not exited yet (reaping it if it has).
    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        if status != nil { return false }
        var raw: Int32 = 0
        let done = waitpid(pid, &raw, WNOHANG)
        if done == pid {
            status = decode(raw)
            return false
        }
        return done == 0
    }

    /// Sends `signal` to the child.
    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// The next bytes the child writes to a captured stdout.
    @discardableResult
    public func readSome() -> String {
        precondition(stdoutFD >= 0, "stdout is not captured")
        return String(decoding: readSomeBytes(stdoutFD), as: UTF8.self)
    }

    /// Everything the child writes to a captured stdout until it closes it.
    public func readAll() -> String {
        precondition(stdoutFD >= 0, "stdout is not captured")
        return String(decoding: readAllBytes(stdoutFD), as: UTF8.self)
    }
}

/// Runs `executable` with `arguments`, feeding `input`, and returns its status and output.
@discardableResult
public func run(
    _ executable: String, _ arguments: [String], in directory: String? = nil,
    environment: [String: String]? = nil, input: String? = nil
) throws -> ProcessResult {
    let spawned = try spawn(
        [executable] + arguments, in: directory, environment: environment ?? ProcessInfo.processInfo.environment,
        input: true, stdout: .capture, stderr: .capture)
    // Feed stdin and drain both pipes at once so a full pipe never blocks either side.
    let group = DispatchGroup()
    let stdinFD = spawned.stdin
    DispatchQueue.global().async(group: group) {
        if let input {
            let bytes = Array(input.utf8)
            var offset = 0
            while offset < bytes.count {
                let count = bytes[offset...].withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                offset += count
            }
        }
        close(stdinFD)
    }
    nonisolated(unsafe) var outData: [UInt8] = []
    nonisolated(unsafe) var errData: [UInt8] = []
    DispatchQueue.global().async(group: group) { outData = readAllBytes(spawned.stdout) }
    DispatchQueue.global().async(group: group) { errData = readAllBytes(spawned.stderr) }
    group.wait()
    close(spawned.stdout)
    close(spawned.stderr)
    let status = reap(spawned.pid)
    return ProcessResult(
        status: status, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

private struct Spawned {
    var pid: pid_t
    var stdin: Int32 = -1
    var stdout: Int32 = -1
    var stderr: Int32 = -1
}

private let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

private func spawn(
    _ argv: [String], in directory: String?, environment: [String: String], input: Bool, stdout: Child.Output,
    stderr: Child.Output
) throws -> Spawned {
    _ = ignoreSIGPIPE
    precondition(!argv.isEmpty)
    let full = argv[0].hasPrefix("/") ? argv : ["/usr/bin/env"] + argv
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var spawned = Spawned(pid: 0)
    // Both ends are close-on-exec; the child gets its end through dup2, which clears it.
    var childEnds: [Int32] = []
    defer { for fd in childEnds { close(fd) } }
    func makePipe() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        guard gw_pipe_cloexec(&ends) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return (ends[0], ends[1])
    }
    if input {
        let ends = try makePipe()
        spawned.stdin = ends.write
        childEnds.append(ends.read)
        posix_spawn_file_actions_adddup2(&actions, ends.read, 0)
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    for (target, output) in [(Int32(1), stdout), (Int32(2), stderr)] {
        switch output {
        case .discard:
            posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
        case .file(let path):
            posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        case .capture:
            let ends = try makePipe()
            if target == 1 { spawned.stdout = ends.read } else { spawned.stderr = ends.read }
            childEnds.append(ends.write)
            posix_spawn_file_actions_adddup2(&actions, ends.write, target)
        }
    }
    if let directory { _ = gw_spawn_chdir(&actions, directory) }
    let cArguments = full.map { strdup($0) } + [nil]
    let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        for pointer in cArguments { free(pointer) }
        for pointer in cEnvironment { free(pointer) }
    }
    // The child starts with no signal blocked and SIGPIPE at its default, whatever the
    // spawning thread had (a test thread may block signals; this process ignores SIGPIPE).
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let result = posix_spawn(&spawned.pid, full[0], &actions, &attributes, cArguments, cEnvironment)
    guard result == 0 else {
        for fd in [spawned.stdin, spawned.stdout, spawned.stderr] where fd >= 0 { close(fd) }
        throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO)
    }
    return spawned
}

private func decode(_ raw: Int32) -> Int32 {
    let signal = raw & 0x7f
    return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
}

private func reap(_ pid: pid_t) -> Int32 {
    var raw: Int32 = 0
    while waitpid(pid, &raw, 0) < 0 {
        if errno != EINTR { return 255 }
    }
    return decode(raw)
}

private func readAllBytes(_ fd: Int32) -> [UInt8] {
    var data: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count < 0, errno == EINTR { continue }
        if count <= 0 { break }
        data.append(contentsOf: buffer[0..<count])
    }
    return data
}

private func readSomeBytes(_ fd: Int32) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: 4_096)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count < 0, errno == EINTR { continue }
        return Array(buffer[0..<max(count, 0)])
    }
}
