import Foundation

/// The result of a finished child process.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// stdout without the final newline, the way a shell's `$(…)` reads it.
    public var output: String { stdout.hasSuffix("\n") ? String(stdout.dropLast()) : stdout }
}

/// The environment every test process gets: no system or user git config, pinned dates
/// and identity, UTC, so commit ids are the same on every run and machine.
public func pinnedEnvironment(home: String, extra: [String: String] = [:]) -> [String: String] {
    var env: [String: String] = [
        "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        "HOME": home,
        "TZ": "UTC",
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": home + "/.gitconfig",
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
        "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z",
        "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
    ]
    env.merge(extra) { $1 }
    return env
}

/// Runs `executable` with `arguments` and waits for it (a termination handler, not
/// `waitUntilExit`, which adds tens of milliseconds per child on Linux).
@discardableResult
public func run(
    _ executable: String, _ arguments: [String], in directory: String? = nil,
    environment: [String: String]? = nil, input: String? = nil
) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
    process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if let environment { process.environment = environment }
    let outPipe = Pipe()
    let errPipe = Pipe()
    let inPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    process.standardInput = inPipe
    let done = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in done.signal() }
    try process.run()
    // Feed stdin and drain both pipes concurrently so a full pipe never blocks either side.
    let group = DispatchGroup()
    let writer = inPipe.fileHandleForWriting
    DispatchQueue.global().async(group: group) {
        if let input { writer.write(Data(input.utf8)) }
        try? writer.close()
    }
    nonisolated(unsafe) var outData = Data()
    nonisolated(unsafe) var errData = Data()
    DispatchQueue.global().async(group: group) { outData = readToEnd(outPipe.fileHandleForReading) }
    DispatchQueue.global().async(group: group) { errData = readToEnd(errPipe.fileHandleForReading) }
    group.wait()
    done.wait()
    return ProcessResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// A temporary directory with a fresh repository in it, removed when the value is released.
public final class TemporaryRepository: @unchecked Sendable {
    public let root: String
    public let path: String
    public let environment: [String: String]

    /// `reuse` takes over another instance's directory (which then no longer removes it).
    public init(bare: Bool = false, extraEnvironment: [String: String] = [:], reuse: TemporaryRepository? = nil) throws
    {
        if let reuse {
            root = reuse.root
            reuse.owned = false
        } else {
            let template = NSTemporaryDirectory() + "gasworks-test-XXXXXX"
            var bytes = Array(template.utf8CString)
            guard let made = mkdtemp(&bytes) else { throw CocoaError(.fileWriteUnknown) }
            root = String(cString: made)
        }
        path = root + "/repo"
        environment = pinnedEnvironment(home: root, extra: extraEnvironment)
        if reuse == nil {
            let result = try run(
                "git", ["init", "-q", "-b", "main"] + (bare ? ["--bare"] : []) + [path], environment: environment)
            precondition(result.status == 0, result.stderr)
        }
    }

    private var owned = true

    deinit { if owned { try? FileManager.default.removeItem(atPath: root) } }

    /// Runs git in this repository and returns its result.
    @discardableResult
    public func git(_ arguments: String..., input: String? = nil) throws -> ProcessResult {
        try run("git", arguments, in: path, environment: environment, input: input)
    }

    /// Runs git and returns its trimmed stdout, failing the caller on a non-zero exit.
    public func gitOutput(_ arguments: String...) throws -> String {
        let result = try run("git", arguments, in: path, environment: environment)
        guard result.status == 0 else { throw TestFailure("git \(arguments.joined(separator: " ")): \(result.stderr)") }
        return result.output
    }

    /// Makes a commit with one file on the current branch and returns its id.
    @discardableResult
    public func commitFile(_ name: String, _ contents: String, message: String = "change") throws -> String {
        try contents.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
        _ = try gitOutput("add", name)
        _ = try gitOutput("commit", "-q", "--no-verify", "-m", message)
        return try gitOutput("rev-parse", "HEAD")
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Where the package's executables were built: `$GASWORKS_BIN_DIR` when set (scripts/test
/// points it at the release build the user installs), else beside the running test bundle.
public func builtProduct(_ name: String) -> String {
    if let directory = ProcessInfo.processInfo.environment["GASWORKS_BIN_DIR"],
        FileManager.default.isExecutableFile(atPath: directory + "/" + name)
    {
        return directory + "/" + name
    }
    let executable =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
    // macOS-style bundles nest the binary deeper; walk up until the product is found.
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    return name
}

/// A temporary rig whose PATH has the built `git-<tool>` commands, so tests run
/// `git bead …` exactly as a user would.
public final class TemporaryRig: @unchecked Sendable {
    public let repository: TemporaryRepository
    public let bin: String
    public var path: String { repository.path }
    public var root: String { repository.root }

    public init(prefix: String = "gw", tools: [String] = ["bead"]) throws {
        let probe = try TemporaryRepository()
        let bin = probe.root + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for tool in tools {
            try FileManager.default.createSymbolicLink(
                atPath: bin + "/git-" + tool, withDestinationPath: builtProduct("gasworks"))
        }
        // The commit-msg hook's executable, installed beside git-rig.
        if tools.contains("rig") {
            try FileManager.default.createSymbolicLink(
                atPath: bin + "/gasworks-hook", withDestinationPath: builtProduct("gasworks-hook"))
        }
        let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        repository = try TemporaryRepository(extraEnvironment: ["PATH": path], reuse: probe)
        self.bin = bin
        _ = try repository.gitOutput("config", "gt.prefix", prefix)
    }

    /// Runs `git <arguments>` in the rig with extra environment.
    @discardableResult
    public func git(
        _ arguments: [String], env: [String: String] = [:], input: String? = nil, in directory: String? = nil
    ) throws -> ProcessResult {
        try run(
            "git", arguments, in: directory ?? path, environment: repository.environment.merging(env) { $1 },
            input: input)
    }

    /// Runs `git bead …` and returns stdout, failing when it exits non-zero.
    public func bead(_ arguments: String..., env: [String: String] = [:], input: String? = nil) throws -> String {
        let result = try git(["bead"] + arguments, env: env, input: input)
        guard result.status == 0 else {
            throw TestFailure("git bead \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result.output
    }

    /// Runs `git bead …` expecting failure; returns the result for checks on status and stderr.
    public func beadFailing(_ arguments: String..., env: [String: String] = [:], input: String? = nil) throws
        -> ProcessResult
    {
        try git(["bead"] + arguments, env: env, input: input)
    }

    /// Every ref under refs/gt/ with its target, as `git for-each-ref` shows them.
    public func stateRefs() throws -> String {
        try repository.gitOutput("for-each-ref", "--format=%(refname) %(objectname)", "refs/gt/")
    }
}

extension Process {
    /// Waits until the child has really exited. Foundation's `waitUntilExit` on Linux can
    /// return while `isRunning` is still true when called off the main run loop (as test
    /// functions are), leaving `terminationStatus` unset and the child still working.
    public func waitForExit() {
        waitUntilExit()
        while isRunning { usleep(1_000) }
    }
}

/// Everything a pipe delivers until its writers close it. A plain `read` loop that retries
/// when a signal interrupts it: Foundation's `readDataToEndOfFile` traps on `EINTR`, which
/// a test process running many children at once does receive.
public func readToEnd(_ handle: FileHandle) -> Data {
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = read(handle.fileDescriptor, &buffer, buffer.count)
        if count < 0, errno == EINTR { continue }
        if count <= 0 { break }
        data.append(contentsOf: buffer[0..<count])
    }
    return data
}

/// Waits for the next bytes a pipe delivers (retrying on `EINTR`, as `readToEnd` does).
@discardableResult
public func readSome(_ handle: FileHandle) -> Data {
    var buffer = [UInt8](repeating: 0, count: 4_096)
    while true {
        let count = read(handle.fileDescriptor, &buffer, buffer.count)
        if count < 0, errno == EINTR { continue }
        return Data(buffer[0..<max(count, 0)])
    }
}
