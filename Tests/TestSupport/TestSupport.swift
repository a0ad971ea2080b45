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
        // `git polecat done` starts a refinery run; a rig tested without the refinery does not want one.
        if tools.contains("polecat"), !tools.contains("refinery") {
            _ = try repository.gitOutput("config", "gt.refinery.auto", "false")
        }
        // Scripted agents run sandboxed and leave marks for the tests beside the rig: the
        // test's directory is theirs to write (TrustTests take this away again).
        if tools.contains("polecat") {
            _ = try repository.gitOutput("config", "gt.sandbox.bind", root)
        }
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
