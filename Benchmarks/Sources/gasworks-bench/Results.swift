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
    /// The 1-minute load average before and after the run (`/proc/loadavg`): other work on
    /// the machine competes with the measurements, whole-process ones above all.
    var load: String? = nil

    /// Whether the load average before or after the run was above half the cores.
    var isBusy: Bool {
        guard let load else { return false }
        let numbers = load.split(separator: " ").prefix(3).compactMap { Double($0) }
        return numbers.contains { $0 > Double(max(cores, 1)) / 2 }
    }

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
    /// What every repetition observed about its result (see `Trial.observation`).
    var observation: String?

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
        observation = samples.observations.first
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
    var targetSeconds: Double?
    var date: String
    var machine: Machine

    var hasTarget: Bool { target != nil || targetSeconds != nil }

    var passes: Bool {
        (target.map { ratio <= $0 } ?? true) && (targetSeconds.map { ours.median <= $0 } ?? true)
    }

    var verdict: String { hasTarget ? (passes ? "pass" : "FAIL") : "—" }

    /// "≤ 50 ms", "≤ 1.50×", both, or "—".
    var targetText: String {
        let parts = [targetSeconds.map { "≤ \(format($0))" }, target.map { "≤ \(Report.ratio($0))" }]
        let text = parts.compactMap { $0 }.joined(separator: " and ")
        return text.isEmpty ? "—" : text
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
                result.hasTarget ? "\(result.targetText) \(result.verdict)" : "—",
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

                scripts/bench                        # every figure, then rewrites this file
                scripts/bench bead-create            # one figure: each figure below names its command
                scripts/bench notes beads-w floor    # figures whose name contains one of the words
                scripts/bench --list                 # the figure names
                scripts/bench --repetitions 3 beads  # override every figure's own repetitions

            `scripts/bench` builds `gasworks-bench` (and the `gasworks` binary it runs) in release mode
            and runs it. The latest result of every figure is kept in `Benchmarks/results.json`; running
            a subset replaces only those rows.

            To add a figure, append a `Figure` to `registry()` in `Benchmarks/Sources/gasworks-bench/`:
            a name (no name may contain another, so that `scripts/bench <name>` runs just that figure), a
            sentence on what it measures, and two `Side`s (ours and the baseline). A side's body sets up
            untimed, wraps exactly the measured work in `trial.time { … }` (optionally split with
            `trial.section`), then checks the result and sets `trial.fingerprint` (and, for a fact worth
            printing, `trial.observation`). `target:` (a ratio ours / baseline) and `targetSeconds:` (an
            absolute median for ours) add a pass/fail verdict; `repetitions:` sets the figure's own number
            of repetitions. `builtProduct("gasworks")` finds a binary built beside the harness for
            whole-process figures.

            ## Method

            - Each figure times our code and a baseline doing the same work, in the same run, with
              repetitions of the two interleaved. Shown: the median of the repetitions (their number
              is given per figure; \(warmups) warm-up repetition per side is discarded) with min–max, and
              the ratio of the medians, ours / baseline: below 1 means we are faster.
            - *in-process*: timed inside the benchmark process around the library calls, without
              process start-up. *whole-process*: timed from spawning the first child process to
              reaping the last (posix_spawn/waitpid), including any glue between them; output goes to
              files, not pipes.
            - Every repetition of a writing figure starts from a fresh `git init` repository or a fresh
              copy of a rig prepared once per run; reading figures share one prepared rig. Set-up and
              checks are not timed; `sync()` runs before each timed part so that earlier writes are not
              charged to it. Defaults are left alone: libgit2 does not fsync, git fsyncs the pack files
              it writes.
            - The repositories are made on tmpfs (`/dev/shm`) unless `--directory` says otherwise (see
              "trial repositories on" below). On this machine's ext4 disk, creating a file right after a
              previous repetition deleted thousands cost up to 50 times more (ext4 skips recently freed
              inodes), which swamped every figure with noise. tmpfs keeps every file operation but not
              the disk, so loose objects and loose refs cost less here than they would on a disk;
              `scripts/bench --directory /tmp` measures there.
            - The environment is pinned (`GIT_CONFIG_NOSYSTEM=1`, an empty `HOME`, fixed identity and
              dates), so both sides of a figure write byte-identical objects: the harness checks that
              their ref listings or commit ids agree, that each repetition produced the full result
              (for `git bead` and `git mail` reads: exactly the ids the harness computes from the
              generated data), and runs `git fsck --strict` once per side of a writing figure.

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
                - load average (1 min) before / after the run: \(machine.load ?? "not recorded")

                """
            if machine.isBusy {
                text += """

                    **Measured on a busy machine**: the load average was above half the cores, so other
                    processes competed for the CPUs and these figures are slower than an idle machine's,
                    the short whole-process ones most. Rerun `scripts/bench` on an idle machine.

                    """
            }
        }
        text += """

            ## Results

            Every figure against its baseline measured in the same run (repetitions interleaved);
            the last column is the command that measures it again.

            | figure | ours | baseline | ours / baseline | target | reproduce |
            |---|---|---|---|---|---|

            """
        for result in file.figures {
            let target = result.hasTarget ? "\(result.targetText): \(result.verdict)" : "—"
            text +=
                "| `\(result.name)` | \(range(result.ours)) | \(range(result.baseline)) "
                + "| \(ratio(result.ratio)) | \(target) | `scripts/bench \(result.name)` |\n"
        }
        let observed = file.figures.flatMap { result in
            [("ours", result.ours), ("baseline", result.baseline)].compactMap { side, samples in
                samples.observation.map { "| `\(result.name)` | \(side) | \($0) |\n" }
            }
        }
        if !observed.isEmpty {
            text += "\nObserved in every repetition:\n\n| figure | side | observed |\n|---|---|---|\n"
            text += observed.joined()
        }
        text += startupBreakdown(file)
        text += soakSection()
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
            var items = [
                "command: `scripts/bench \(result.name)`",
                "ours (\(result.ours.scope.rawValue)): \(result.ours.label)\(parts(result.ours))",
                "baseline (\(result.baseline.scope.rawValue)): \(result.baseline.label)\(parts(result.baseline))",
            ]
            for (side, samples) in [("ours", result.ours), ("baseline", result.baseline)] {
                if let observation = samples.observation { items.append("observed (\(side)): \(observation)") }
            }
            if result.hasTarget {
                items.append(
                    "target: \(result.targetText) (\(result.targetSeconds != nil ? "ours, absolute" : "ours / baseline"))"
                        + ": \(result.verdict)")
            }
            items.append(when)
            for item in items {
                text += wrap(item, first: "- ", rest: "  ") + "\n"
            }
        }
        return text
    }
}

extension Report {
    /// Where the time of a short `git bead` command goes, from the floor figures' medians.
    static func startupBreakdown(_ file: ResultsFile) -> String {
        func row(_ name: String) -> FigureResult? { file.figures.first { $0.name == name } }
        guard let create = row("bead-create"), let empty = row("floor-bead-list-empty-repo"),
            let noCA = row("floor-bead-list-no-ca-bundle"), let help = row("floor-bead-list-help")
        else { return "" }
        let parts: [(String, Double, String)] = [
            (
                "process start: exec, the dynamic loader mapping and relocating 31 shared libraries, Swift "
                    + "runtime, ArgumentParser (here printing help)", help.ours.median, "`floor-bead-list-help`"
            ),
            (
                "libgit2 parsing the CA bundle inside git_libgit2_init() (now answered by the executable's "
                    + "no-op loaders, so about zero)", empty.ours.median - noCA.ours.median,
                "`floor-bead-list-empty-repo` − `floor-bead-list-no-ca-bundle`"
            ),
            (
                "libgit2's other start-up work, opening the repository, reading config, listing refs",
                noCA.ours.median - help.ours.median, "`floor-bead-list-no-ca-bundle` − `floor-bead-list-help`"
            ),
            ("**= the floor of any git bead command**", empty.ours.median, "`floor-bead-list-empty-repo`"),
            (
                "the create itself: id, blob, tree, commit, ref, loose-ref count",
                create.ours.median - empty.ours.median, "`bead-create` − `floor-bead-list-empty-repo`"
            ),
            ("**= git bead create**", create.ours.median, "`bead-create`"),
            (
                "git's floor: `git rev-parse --git-dir`", empty.baseline.median,
                "baseline of `floor-bead-list-empty-repo`"
            ),
            ("four git processes doing the same create", create.baseline.median, "baseline of `bead-create`"),
        ]
        var text = """

            ## Where the time of a short command goes

            Medians from the rows above (each from its latest run):

            | part | time | from |
            |---|---|---|

            """
        for (part, seconds, source) in parts { text += "| \(part) | \(format(seconds)) | \(source) |\n" }
        text += "\n" + startupProfile + "\n"
        return text
    }
}

/// The profile behind the breakdown above, taken by hand (it needs `perf`, which the harness
/// does not assume); rerun the commands it names when the start-up path changes.
let startupProfile = """
    Which code those parts are, from `perf record -g` with DWARF call graphs (40 runs of `gasworks bead
    create` in a 100-bead rig and 10 of a warm `gasworks bead ready -q` over 10,000 beads, 2026-11-27,
    Debian's libgit2 1.5.1, which uses mbedtls for TLS), as shares of the process's CPU samples, and from
    small programs timed alone on the same machine:

    - **Dynamic loading, about 40% of a create.** `_dl_start` → `dl_main` → `_dl_map_object_deps`,
      `_dl_relocate_object`, `_dl_lookup_symbol_x`: 31 shared libraries are mapped and relocated before
      `main`. libgit2 brings 16 of them (three of mbedtls, OpenSSL's libcrypto, five of Kerberos/GSSAPI,
      libssh2, pcre2, http_parser, zlib, …): an empty C `main` takes 0.7 ms, the same linked against
      libgit2 2.4 ms. The Swift runtime (libswiftCore, Foundation Essentials, Concurrency, Dispatch,
      StringProcessing, RegexParser, …) costs as much: a Swift `print("hi")` takes 2.5 ms. Built with
      `-Xswiftc -static-stdlib` (22 libraries left) the same `gasworks bead create` took 3 ms less.
    - **The CA bundle, about 15–19%.** `Libgit2.ready` → `git_libgit2_init` (libgit2's frames are
      unnamed: the library is stripped) → `mbedtls_x509_crt_parse_file` → `mbedtls_x509_crt_parse` →
      `mbedtls_pem_read_buffer` → `mbedtls_base64_decode` / `mbedtls_ct_base64_dec_value`: libgit2's
      mbedtls backend parses all 139 certificates of /etc/ssl/certs/ca-certificates.crt when it is
      initialized, in every process, though no `git bead` command uses the network. A C program that
      only calls `git_libgit2_init()` takes 6 ms, 3 ms with that parsing stubbed out.
    - **ArgumentParser, about 11%.** `parseAsRoot` builds each command's argument set through Swift
      metadata lookups (`swift_getTypeByMangledName`, `swift_conformsToProtocol` scanning every
      conformance record on first use).
    - **The rest of libgit2's start, about 3%** (mbedtls entropy and DRBG seeding, `libssh2_init` →
      `OPENSSL_init_crypto`), **library constructors about 4%**, and **the create itself about 5%**:
      id, blob, tree, commit, the ref's compare-and-swap and the count of loose refs.
    - **A warm `ready` over 10,000 beads:** reading the index cache and splitting its 10,000 lines
      (`BeadIndex.readCache`, `decodeLine`) about 28%; libgit2 reading packed-refs and iterating the
      10,000 refs (`Repository.references`) about 24%; matching cached entries to ref tips and building
      the dictionary about 7%; releasing it all about 9%; readiness and sorting about 5%; the process
      start and libgit2 initialization above about 20%.

    To profile again: `perf record -F 20000 --call-graph dwarf -- <command>`, then
    `perf script | swift demangle --simplified`.
    """

extension Report {
    /// The soak run's report, as `scripts/soak --record` last wrote it.
    static func soakSection() -> String {
        guard let data = FileManager.default.contents(atPath: "Benchmarks/soak.md"),
            let text = String(data: data, encoding: .utf8), !text.isEmpty
        else { return "" }
        return "\n" + text + (text.hasSuffix("\n") ? "" : "\n")
    }
}
