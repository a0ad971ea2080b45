import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Inputs shared by several figures, built on first use so that `--list` and subsets stay quick.
final class Fixtures {
    let directory: String
    init(directory: String) { self.directory = directory }
    private(set) lazy var beads = BeadFixture(directory: directory)
    private(set) lazy var notes = NotesFixture(directory: directory)
    private(set) lazy var rigs = RigFixture(directory: directory)
    private(set) lazy var mail = MailFixture(directory: directory)
}

/// Every figure, in the order BENCHMARKS.md lists them. Add a figure by appending here.
func registry(_ fixtures: Fixtures) -> [Figure] {
    beadWriteFigures { fixtures.beads }
        + notesFigures { fixtures.notes }
        + beadCommandFigures { fixtures.rigs }
        + mailFigures { fixtures.mail }
        + moleculeFigures()
        + hookFigures()
        + polecatFigures() + trustFigures()
        + refineryFigures()
        + deaconFigures()
        + rigStatusFigures()
}

let usage = """
    usage: gasworks-bench [options] [figure-substring ...]

    Runs every figure whose name contains one of the substrings (all when none is given),
    prints a table, stores the results and rewrites the markdown report.

      --list               print the figure names and exit
      --repetitions N      measured repetitions per side for every figure (default: the
                           figure's own, 5 unless it says otherwise)
      --warmups N          discarded repetitions per side before them (default 1)
      --results PATH       results store (default Benchmarks/results.json)
      --markdown PATH      report to rewrite (default BENCHMARKS.md)
      --directory PATH     where trial repositories are made (default /dev/shm when it is a
                           tmpfs, else /tmp)
      --dry-run            measure and print, but write neither file
      --render             measure nothing: rewrite the markdown report from the results store
      --swift TEXT         toolchain description for the report (default: `swift --version`)

    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("gasworks-bench: \(message)\n".utf8))
    exit(1)
}

func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

struct Options {
    var list = false
    var repetitions: Int?
    var warmups = 1
    var results = "Benchmarks/results.json"
    var markdown = "BENCHMARKS.md"
    var dryRun = false
    var render = false
    var directory: String?
    var swift: String?
    var filters: [String] = []

    init(_ arguments: [String]) {
        var rest = arguments[...]
        func value(_ flag: String) -> String {
            guard let next = rest.popFirst() else { fail("\(flag) needs a value") }
            return next
        }
        func count(_ flag: String) -> Int {
            guard let number = Int(value(flag)), number >= 0 else { fail("\(flag) needs a non-negative number") }
            return number
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--list": list = true
            case "--repetitions": repetitions = max(1, count(argument))
            case "--warmups": warmups = count(argument)
            case "--results": results = value(argument)
            case "--markdown": markdown = value(argument)
            case "--dry-run": dryRun = true
            case "--render": render = true
            case "--directory": directory = value(argument)
            case "--swift": swift = value(argument)
            case "-h", "--help":
                print(usage, terminator: "")
                exit(0)
            default:
                if argument.hasPrefix("-") { fail("unknown option \(argument)\n\(usage)") }
                filters.append(argument.lowercased())
            }
        }
    }
}

/// Pins everything git and libgit2 read from the environment, before either is used,
/// so that the user's configuration cannot change what is measured and commit ids repeat.
func pinEnvironment(home: String) {
    for name in [
        "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
        "XDG_CONFIG_HOME", "GIT_TRACE", "GIT_TRACE2", "GIT_TRACE2_EVENT", "GIT_TRACE2_PERF",
        // git bead's actor: fixed by the pinned identity below, so bead ids and commits repeat.
        "GT_ACTOR", "GT_POLECAT",
        // git mail's own mailbox (the sender of `mail send`): the default, overseer.
        "GT_MAILBOX", "GT_CREW",
    ] {
        unsetenv(name)
    }
    let pinned = [
        "HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": home + "/.gitconfig",
        "TZ": "UTC", "LC_ALL": "C",
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_AUTHOR_DATE": "@1700000000 +0000",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost",
        "GIT_COMMITTER_DATE": "@1700000000 +0000",
    ]
    for (name, value) in pinned { setenv(name, value, 1) }
}

func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

/// The libgit2 actually loaded into this process, which may differ from the headers built against.
func loadedLibgit2Version() -> String {
    typealias VersionFunction =
        @convention(c) (
            UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?
        ) -> Int32
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "git_libgit2_version") else { return "unknown" }
    var major: Int32 = 0
    var minor: Int32 = 0
    var patch: Int32 = 0
    _ = unsafeBitCast(symbol, to: VersionFunction.self)(&major, &minor, &patch)
    return "\(major).\(minor).\(patch)"
}

/// The file system type of `path` as `stat -f` names it (tmpfs, ext2/ext3, xfs, …).
func fileSystem(_ path: String) -> String {
    trimmed((try? Spawn.output(["stat", "-f", "-c", "%T", path])) ?? "unknown")
}

/// On a disk, creating a file can cost 50 times more right after others were deleted (ext4 skips
/// recently freed inodes) and writeback lands at random: figures would measure the file
/// system's history, not the programs. tmpfs keeps the file work and drops that noise.
func defaultDirectory() -> String {
    fileSystem("/dev/shm") == "tmpfs" ? "/dev/shm" : "/tmp"
}

func describeMachine(swift: String?, storage: String) -> Machine {
    let cpuinfo = (try? readFile("/proc/cpuinfo")) ?? ""
    let cpu =
        cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
        .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { trimmed(String($0)) } ?? "unknown CPU"
    let output = { (argv: [String]) in trimmed((try? Spawn.output(argv)) ?? "unknown") }
    var revision = output(["git", "rev-parse", "--short", "HEAD"])
    if !output(["git", "status", "--porcelain", "--", "Sources", "Package.swift", "Benchmarks/Sources"]).isEmpty {
        revision += "+dirty"
    }
    return Machine(
        cpu: cpu, cores: Int(output(["nproc"])) ?? 0, kernel: output(["uname", "-r"]),
        git: output(["git", "--version"]), libgit2: loadedLibgit2Version(),
        swift: swift ?? String(output(["swift", "--version"]).prefix { $0 != "\n" }), storage: storage,
        revision: revision)
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
if options.render {
    do {
        let file = try ResultsFile.load(options.results)
        try Report.markdown(file, warmups: options.warmups).write(
            toFile: options.markdown, atomically: true, encoding: .utf8)
        log("wrote \(options.markdown) from \(options.results)")
        exit(0)
    } catch {
        fail("cannot render: \(error)")
    }
}
let parent = options.directory ?? defaultDirectory()
var rootTemplate = Array((parent + "/gasworks-bench-XXXXXX").utf8CString)
guard mkdtemp(&rootTemplate) != nil else { fail("cannot create a directory under \(parent)") }
let root = string(fromCString: rootTemplate)
nonisolated(unsafe) var scratchRoot = root
// Every exit path, `fail` included, removes the scratch repositories.
atexit {
    // The removal's own output files must not live inside what it removes.
    Spawn.scratchDirectory = "/tmp"
    _ = try? Spawn.run(["rm", "-rf", scratchRoot])
}
for sub in ["home", "fixtures", "trials", "io"] { mkdir(root + "/" + sub, 0o755) }
Spawn.scratchDirectory = root + "/io"
var machine = describeMachine(swift: options.swift, storage: "\(fileSystem(root)) (\(parent))")

/// The 1-minute load average.
func loadAverage() -> String {
    String(((try? readFile("/proc/loadavg")) ?? "?").prefix { $0 != " " })
}
let loadBefore = loadAverage()
if let load = Double(loadBefore), load > Double(max(machine.cores, 1)) / 2 {
    log(
        "gasworks-bench: warning: load average \(loadBefore) on \(machine.cores) cores; other processes will slow the figures"
    )
}
pinEnvironment(home: root + "/home")

let fixtures = Fixtures(directory: root + "/fixtures")
let figures = registry(fixtures)
precondition(Set(figures.map(\.name)).count == figures.count, "figure names must be unique")
// So that `scripts/bench <name>` runs exactly that figure, as BENCHMARKS.md tells.
for figure in figures {
    let others = figures.filter { $0.name != figure.name && $0.name.contains(figure.name) }.map(\.name)
    precondition(others.isEmpty, "figure name \(figure.name) is part of \(others)")
}
if options.list {
    for figure in figures { print("\(figure.name)\t\(figure.title)") }
    exit(0)
}
let selected =
    options.filters.isEmpty
    ? figures : figures.filter { figure in options.filters.contains { figure.name.contains($0) } }
if selected.isEmpty { fail("no figure matches \(options.filters.joined(separator: " ")); see --list") }

log(
    "gasworks-bench: \(selected.count) figure(s), "
        + (options.repetitions.map { "\($0) repetitions" } ?? "each figure's repetitions")
        + " + \(options.warmups) warm-up")
let runner = Runner(repetitions: options.repetitions, warmups: options.warmups, root: root + "/trials", log: log)
let outcomes = runner.run(selected)
machine.load = "\(loadBefore) / \(loadAverage())"
errno = 0
let niceness = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
if errno == 0 && niceness != 0 { machine.load! += " (the harness ran at nice \(niceness))" }
let date = ISO8601DateFormatter().string(from: Date())
var fresh: [FigureResult] = []
var failures: [String] = []
for outcome in outcomes {
    if let error = outcome.error {
        failures.append("\(outcome.figure.name): \(error)")
        continue
    }
    let ours = SideResult(outcome.figure.ours, outcome.ours)
    let baseline = SideResult(outcome.figure.baseline, outcome.baseline)
    fresh.append(
        FigureResult(
            name: outcome.figure.name, title: outcome.figure.title, measures: outcome.figure.measures,
            ours: ours, baseline: baseline, ratio: ours.median / baseline.median, target: outcome.figure.target,
            targetSeconds: outcome.figure.targetSeconds, date: date, machine: machine))
}
print(Report.table(fresh), terminator: "")
if !failures.isEmpty {
    // A broken figure must not leave a report that looks current: write nothing.
    fail("not writing results, \(failures.count) figure(s) failed:\n" + failures.joined(separator: "\n"))
}
if !options.dryRun {
    do {
        var file = try ResultsFile.load(options.results)
        file.merge(fresh, order: figures.map(\.name))
        try file.save(options.results)
        try Report.markdown(file, warmups: options.warmups).write(
            toFile: options.markdown, atomically: true, encoding: .utf8)
        log("wrote \(options.results) and \(options.markdown)")
    } catch {
        fail("cannot write results: \(error)")
    }
}
