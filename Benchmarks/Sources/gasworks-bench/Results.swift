import Foundation

/// Where and on what a run measured.
struct Machine: Codable, Equatable {
    var cpu: String
    var cores: Int
    var kernel: String
    var git: String
    var libgit2: String
    var swift: String
    /// The file system the trial repositories were on, and where.
    var storage: String
    /// The package revision measured; `+dirty` when Sources/ or Package.swift had local changes.
    var revision: String

    /// How `self` differs from `other` apart from the revision, for rows from an earlier run.
    func differences(from other: Machine) -> [String] {
        var found: [String] = []
        if cpu != other.cpu || cores != other.cores { found.append("\(cpu), \(cores) cores") }
        if kernel != other.kernel { found.append("kernel \(kernel)") }
        if git != other.git { found.append(git) }
        if libgit2 != other.libgit2 { found.append("libgit2 \(libgit2)") }
        if swift != other.swift { found.append(swift) }
        if storage != other.storage { found.append("repositories on \(storage)") }
        return found
    }
}

struct SideResult: Codable {
    var label: String
    var scope: Side.Scope
    var median: Double
    var min: Double
    var max: Double
    var samples: [Double]
    /// Median time of each named part of the work, when the side times its parts.
    var sections: [Section]

    struct Section: Codable {
        var name: String
        var median: Double
    }

    init(_ side: Side, _ samples: SideSamples) {
        label = side.label
        scope = side.scope
        median = gasworks_bench.median(samples.seconds)
        min = samples.seconds.min()!
        max = samples.seconds.max()!
        self.samples = samples.seconds
        sections = samples.sections.map { Section(name: $0.name, median: gasworks_bench.median($0.seconds)) }
    }

    /// "objects 1.02 s, refs 310 ms", or nothing when the side has no sections.
    var breakdown: String {
        sections.map { "\($0.name) \(format($0.median))" }.joined(separator: ", ")
    }
}

struct FigureResult: Codable {
    var name: String
    var title: String
    var measures: String
    var ours: SideResult
    var baseline: SideResult
    var ratio: Double
    var target: Double?
    var date: String
    var machine: Machine

    var verdict: String {
        guard let target else { return "—" }
        return ratio <= target ? "pass" : "FAIL"
    }
}

/// `Benchmarks/results.json`: the latest result of every figure, so that running a subset
/// replaces only those rows and BENCHMARKS.md is always rendered from the whole set.
struct ResultsFile: Codable {
    var figures: [FigureResult] = []

    static func load(_ path: String) throws -> ResultsFile {
        guard FileManager.default.fileExists(atPath: path) else { return ResultsFile() }
        return try JSONDecoder().decode(ResultsFile.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func save(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var data = try encoder.encode(self)
        data.append(0x0a)
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Replaces the rows of `fresh` figures and orders everything as the registry lists it;
    /// rows of figures no longer registered are dropped.
    mutating func merge(_ fresh: [FigureResult], order: [String]) {
        var byName = Dictionary(figures.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        for result in fresh { byName[result.name] = result }
        figures = order.compactMap { byName[$0] }
    }
}

enum Report {
    /// Breaks `text` into lines of at most `width` characters at spaces, so the report
    /// reads well as plain text too.
    static func wrap(_ text: String, width: Int = 100, first: String = "", rest: String = "") -> String {
        var lines: [String] = []
        var line = first
        var lineIsEmpty = true
        for word in text.split(separator: " ") {
            if !lineIsEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = rest
                lineIsEmpty = true
            }
            line += (lineIsEmpty ? "" : " ") + word
            lineIsEmpty = false
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }

    static func ratio(_ value: Double) -> String { formatDecimal(value, places: 2) + "×" }

    static func parts(_ side: SideResult) -> String {
        side.sections.isEmpty ? "" : "; median parts: " + side.breakdown
    }

    static func range(_ side: SideResult) -> String {
        "\(format(side.median)) (\(format(side.min))–\(format(side.max)))"
    }

    /// The results as an aligned plain-text table for the terminal.
    static func table(_ results: [FigureResult]) -> String {
        let header = ["figure", "ours", "baseline", "ours/baseline", "target"]
        let rows = results.map { result in
            [
                result.name, range(result.ours), range(result.baseline), ratio(result.ratio),
                result.target.map { "≤ \(ratio($0)) \(result.verdict)" } ?? "—",
            ]
        }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max()!
        }
        return ([header] + rows).map { row in
            zip(row, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    static func markdown(_ file: ResultsFile, warmups: Int) -> String {
        let latest = file.figures.max { $0.date < $1.date }
        var text = """
            # Benchmarks

            Every figure here is measured by one command, run from the package root:

                scripts/bench                 # every figure, then rewrites this file
                scripts/bench notes beads-w   # only figures whose name contains one of the words

            `scripts/bench` builds `gasworks-bench` in release mode and runs it. The latest result of
            every figure is kept in `Benchmarks/results.json`; running a subset replaces only those rows.

            To add a figure, append a `Figure` to `registry()` in `Benchmarks/Sources/gasworks-bench/`:
            a name, a sentence on what it measures, and two `Side`s (ours and the baseline). A side's
            body sets up untimed, wraps exactly the measured work in `trial.time { … }` (optionally
            split with `trial.section`), then checks the result and sets `trial.fingerprint`. A target
            ratio adds a pass/fail verdict. `builtProduct("gasworks")` finds a binary built beside the
            harness for whole-process figures.

            ## Method

            - Each figure times our code and a baseline doing the same work, in the same run, with
              repetitions of the two interleaved. Shown: the median of the repetitions (their number
              is given per figure; \(warmups) warm-up repetition per side is discarded) with min–max, and
              the ratio of the medians, ours / baseline: below 1 means we are faster.
            - *in-process*: timed inside the benchmark process around the library calls, without
              process start-up. *whole-process*: timed from spawning the first child process to
              reaping the last (posix_spawn/waitpid), including any glue between them.
            - Every repetition starts from a fresh `git init` repository. Set-up and checks are not
              timed; `sync()` runs before each timed part so that earlier writes are not charged to it.
              Defaults are left alone: libgit2 does not fsync, git fsyncs the pack files it writes.
            - The repositories are made on tmpfs (`/dev/shm`) unless `--directory` says otherwise (see
              "trial repositories on" below). On this machine's ext4 disk, creating a file right after a
              previous repetition deleted thousands cost up to 50 times more (ext4 skips recently freed
              inodes), which swamped every figure with noise. tmpfs keeps every file operation but not
              the disk, so loose objects and loose refs cost less here than they would on a disk;
              `scripts/bench --directory /tmp` measures there.
            - The environment is pinned (`GIT_CONFIG_NOSYSTEM=1`, an empty `HOME`, fixed identity and
              dates), so both sides of a figure write byte-identical objects: the harness checks that
              their ref listings or commit ids agree, that each repetition produced the full result,
              and runs `git fsck --strict` once per side.

            """
        if let machine = latest?.machine, let date = latest?.date {
            text += """

                ## Machine (latest run)

                - date: \(date)
                - CPU: \(machine.cpu), \(machine.cores) cores (`nproc`)
                - kernel: \(machine.kernel) (`uname -r`)
                - \(machine.git), libgit2 \(machine.libgit2)
                - \(machine.swift)
                - trial repositories on: \(machine.storage)
                - package revision: \(machine.revision)

                """
        }
        text += """

            ## Results

            | figure | ours | baseline | ours / baseline | target |
            |---|---|---|---|---|

            """
        for result in file.figures {
            let target = result.target.map { "≤ \(ratio($0)): \(result.verdict)" } ?? "—"
            text +=
                "| `\(result.name)` | \(range(result.ours)) | \(range(result.baseline)) "
                + "| \(ratio(result.ratio)) | \(target) |\n"
        }
        text += "\n## Figures\n"
        // The first figure of a run of figures doing the same work, which describes it.
        var lead: FigureResult?
        for result in file.figures {
            text += "\n### `\(result.name)`: \(result.title)\n\n"
            if let lead, lead.measures == result.measures {
                text += "The same work as `\(lead.name)`.\n\n"
            } else {
                text += wrap(result.measures) + "\n\n"
                lead = result
            }
            let count = result.ours.samples.count
            var when =
                "\(count) repetition\(count == 1 ? "" : "s"), measured \(result.date) at revision "
                + result.machine.revision
            if let machine = latest?.machine, !result.machine.differences(from: machine).isEmpty {
                when += " with " + result.machine.differences(from: machine).joined(separator: ", ")
            }
            for item in [
                "ours (\(result.ours.scope.rawValue)): \(result.ours.label)\(parts(result.ours))",
                "baseline (\(result.baseline.scope.rawValue)): \(result.baseline.label)\(parts(result.baseline))",
                when,
            ] {
                text += wrap(item, first: "- ", rest: "  ") + "\n"
            }
        }
        return text
    }
}
