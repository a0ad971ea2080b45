#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure the benchmark reports instead of a figure: a command failed or a check did not hold.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// How a finished child process ended, with its output.
struct ChildResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs child processes with posix_spawn and waitpid, never Foundation's `Process`:
/// its `waitUntilExit` polls a run loop and adds tens of milliseconds per child on Linux,
/// which would swamp any whole-process figure.
enum Spawn {
    /// Runs `argv` (searched on PATH) in `directory`, with stdin read from the file
    /// `stdinPath` (or /dev/null) and `environment` added to this process's environment,
    /// and returns its status and output.
    ///
    /// Input and output go through files rather than pipes: a timed child then never waits
    /// on the harness, and nothing can deadlock on a full pipe.
    static func run(
        _ argv: [String], in directory: String? = nil, stdinPath: String? = nil, environment: [String: String] = [:]
    ) throws -> ChildResult {
        let outPath = try scratchFile("out")
        let errPath = try scratchFile("err")
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_TRUNC, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_TRUNC, 0)

        let cArgs = argv.map { strdup($0) } + [nil]
        defer {
            for argument in cArgs { free(argument) }
        }
        // Built before the spawn so that a timed child costs the same with or without extra variables.
        var cEnvironment: [UnsafeMutablePointer<CChar>?] = []
        if !environment.isEmpty {
            var index = 0
            while let entry = environ[index] {
                let text = String(cString: entry)
                let name = String(text.prefix { $0 != "=" })
                if environment[name] == nil { cEnvironment.append(strdup(entry)) }
                index += 1
            }
            for (name, value) in environment { cEnvironment.append(strdup(name + "=" + value)) }
            cEnvironment.append(nil)
        }
        defer {
            for entry in cEnvironment { free(entry) }
        }
        var pid = pid_t()
        // posix_spawn_file_actions_addchdir_np is not visible to Swift; the harness is
        // single-threaded, so changing its own directory around the spawn is safe.
        let previous = open(".", O_RDONLY | O_DIRECTORY)
        defer { close(previous) }
        if let directory, chdir(directory) != 0 { throw BenchError("cannot enter \(directory)") }
        let rc = cArgs.withUnsafeBufferPointer { args in
            cEnvironment.withUnsafeBufferPointer { env in
                posix_spawnp(
                    &pid, argv[0], &actions, nil, args.baseAddress!,
                    env.isEmpty ? UnsafePointer(environ) : env.baseAddress!)
            }
        }
        if directory != nil { _ = fchdir(previous) }
        guard rc == 0 else { throw BenchError("cannot run \(argv[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw BenchError("waitpid failed for \(argv[0])") }
        }
        // WIFEXITED/WEXITSTATUS are macros Swift cannot see.
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ChildResult(status: exitStatus, stdout: try readFile(outPath), stderr: try readFile(errPath))
    }

    /// Runs `argv` and returns its stdout, throwing with its stderr when it exits non-zero.
    @discardableResult
    static func output(
        _ argv: [String], in directory: String? = nil, stdinPath: String? = nil, environment: [String: String] = [:]
    ) throws -> String {
        let result = try run(argv, in: directory, stdinPath: stdinPath, environment: environment)
        guard result.status == 0 else {
            throw BenchError("`\(argv.joined(separator: " "))` exited \(result.status): \(result.stderr)")
        }
        return result.stdout
    }

    /// Where captured output goes: the run's own directory once it exists, so a timed child's
    /// output files are made on the same file system as the trial repositories.
    nonisolated(unsafe) static var scratchDirectory = "/tmp"

    private static func scratchFile(_ kind: String) throws -> String {
        var template = Array("\(scratchDirectory)/gasworks-bench-\(kind)-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw BenchError("cannot create a temporary file") }
        close(fd)
        return string(fromCString: template)
    }
}

/// The text of a NUL-terminated buffer filled in by C (mkstemp, mkdtemp).
func string(fromCString buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func readFile(_ path: String) throws -> String {
    String(decoding: try readBytes(path), as: UTF8.self)
}

func readBytes(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else { throw BenchError("cannot read \(path)") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return bytes
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    guard let file = fopen(path, "wb") else { throw BenchError("cannot write \(path)") }
    defer { fclose(file) }
    guard fwrite(bytes, 1, bytes.count, file) == bytes.count else { throw BenchError("short write to \(path)") }
}

func writeFile(_ path: String, _ text: String) throws { try writeFile(path, Array(text.utf8)) }

/// The `gasworks` binary built beside this harness, looked up once: whole-process figures
/// name it inside their timed blocks.
func gasworksBinary() throws -> String { try gasworksPath.get() }
private let gasworksPath = Result { try builtProduct("gasworks") }

/// The path of another product built beside this executable (`gasworks`, `gitkit-probe`), so
/// whole-process figures run exactly the build being measured rather than whatever is on PATH.
func builtProduct(_ name: String) throws -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { throw BenchError("cannot find this executable's directory") }
    let executable = string(fromCString: buffer)
    let path = String(executable[..<executable.lastIndex(of: "/")!]) + "/" + name
    guard access(path, X_OK) == 0 else {
        throw BenchError("\(path) is missing: build it with `swift build -c release --product \(name)`")
    }
    return path
}
