import GitKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One side of a figure: our code or the baseline it is compared with.
struct Side {
    enum Scope: String, Codable {
        /// Timed inside this process around library calls: no process start-up is counted.
        case inProcess = "in-process"
        /// Timed from the first posix_spawn to the last waitpid of every child involved.
        case wholeProcess = "whole-process"
    }

    var label: String
    var scope: Scope
    /// Figures whose baselines carry the same key share one set of measurements per run,
    /// so a baseline common to several rows is timed once, not once per row.
    var sharedKey: String?
    /// Runs one repetition: set up untimed, call `trial.time` exactly once around the
    /// measured work, then check the result untimed.
    var body: (Trial) throws -> Void

    init(_ label: String, _ scope: Scope, sharedKey: String? = nil, _ body: @escaping (Trial) throws -> Void) {
        self.label = label
        self.scope = scope
        self.sharedKey = sharedKey
        self.body = body
    }
}

/// One row of the results table.
struct Figure {
    /// Short, unique, lower-case: `scripts/bench <substring>` selects figures by it.
    var name: String
    var title: String
    /// What exactly is timed, in a sentence or two; rendered into BENCHMARKS.md.
    var measures: String
    var ours: Side
    var baseline: Side
    /// The figure passes when median(ours) / median(baseline) is at most this.
    var target: Double? = nil
    /// The figure passes when median(ours) is at most this many seconds (with `target`: both must hold).
    var targetSeconds: Double? = nil
    /// Both sides must leave identical fingerprints (the same object and ref ids), which
    /// proves they did the same work.
    var sameOutput: Bool = false
    /// Measured repetitions per side when `--repetitions` does not say: more for figures of a
    /// few milliseconds, whose single runs scatter, fewer for slow ones.
    var repetitions: Int? = nil
}

/// The state of one repetition of one side, handed to `Side.body`.
final class Trial {
    /// 0-based among measured repetitions; negative for warm-up runs, which are discarded.
    let repetition: Int
    /// A fresh empty directory, removed after the repetition.
    let directory: String
    private(set) var seconds: Double?
    /// What the repetition produced (for example a digest of every ref it wrote).
    /// Repetitions of a figure must agree on it, so a run that silently did nothing shows up.
    var fingerprint: String?
    /// A fact about the result worth printing beside the timing (how refs ended up stored,
    /// say); repetitions must agree on it too.
    var observation: String?
    /// Named parts of the timed work, in the order first seen, for the "where the time goes" notes.
    private(set) var sections: [(name: String, seconds: Double)] = []
    private var timing = false

    init(repetition: Int, directory: String) {
        self.repetition = repetition
        self.directory = directory
    }

    /// Expensive checks such as `git fsck` run on this repetition only.
    var isFirstMeasured: Bool { repetition == 0 }

    /// Times `body`; call it exactly once per repetition.
    @discardableResult
    func time<T>(_ body: () throws -> T) throws -> T {
        guard seconds == nil else { throw BenchError("a trial timed twice") }
        // Dirty pages left by set-up or by the previous repetition would otherwise be
        // written back during the timed part and charged to it.
        sync()
        timing = true
        defer { timing = false }
        let start = MonotonicClock.seconds()
        let result = try body()
        seconds = MonotonicClock.seconds() - start
        return result
    }

    /// Times a named part of the work inside `time`; a name used twice adds up.
    @discardableResult
    func section<T>(_ name: String, _ body: () throws -> T) throws -> T {
        guard timing else { throw BenchError("section \(name) outside trial.time") }
        let start = MonotonicClock.seconds()
        let result = try body()
        add(name, seconds: MonotonicClock.seconds() - start)
        return result
    }

    /// Adds time measured some other way to a named part.
    func add(_ name: String, seconds: Double) {
        if let index = sections.firstIndex(where: { $0.name == name }) {
            sections[index].seconds += seconds
        } else {
            sections.append((name, seconds))
        }
    }

    /// The time recorded so far for a named part.
    func seconds(in name: String) -> Double {
        sections.first { $0.name == name }?.seconds ?? 0
    }

    /// `git init` of a new non-bare repository in this trial's directory; returns its path.
    func initRepository(_ name: String = "repo") throws -> String {
        let path = directory + "/" + name
        try Spawn.output(["git", "init", "-q", "-b", "main", path])
        return path
    }

    /// Runs git in `repository` and returns its stdout; a non-zero exit is an error.
    @discardableResult
    func git(_ arguments: String..., in repository: String, stdinPath: String? = nil) throws -> String {
        try Spawn.output(["git", "-C", repository] + arguments, stdinPath: stdinPath)
    }

    func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw BenchError("check failed: \(message())") }
    }

    /// Checks a repository with `git fsck --strict` on the first measured repetition.
    func fsckOnce(_ repository: String) throws {
        guard isFirstMeasured else { return }
        let result = try Spawn.run(["git", "-C", repository, "fsck", "--strict", "--no-progress", "--no-dangling"])
        // Beads live beside an unborn `main`, which fsck mentions as a notice, not a problem.
        let problems = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("notice: HEAD points to an unborn") }
        try expect(result.status == 0 && problems.isEmpty, "git fsck: \(result.stdout)\(result.stderr)")
    }
}

/// Timings of one side over a run.
struct SideSamples {
    var seconds: [Double] = []
    var fingerprints: Set<String> = []
    var observations: Set<String> = []
    var sections: [(name: String, seconds: [Double])] = []
}

/// Runs figures, interleaving repetitions of ours and the baseline so that drift in the
/// machine's speed hits both sides alike.
struct Runner {
    /// Measured repetitions of every figure when given (`--repetitions`); else each figure's own.
    var repetitions: Int?
    var defaultRepetitions = 5
    var warmups: Int
    var root: String
    var log: (String) -> Void

    struct Outcome {
        var figure: Figure
        var ours: SideSamples
        var baseline: SideSamples
        var error: String?
    }

    func run(_ figures: [Figure]) -> [Outcome] {
        var outcomes = figures.map { Outcome(figure: $0, ours: SideSamples(), baseline: SideSamples()) }
        var groups: [[Int]] = []
        var groupOfKey: [String: Int] = [:]
        for (index, figure) in figures.enumerated() {
            if let key = figure.baseline.sharedKey, let group = groupOfKey[key] {
                groups[group].append(index)
            } else {
                if let key = figure.baseline.sharedKey { groupOfKey[key] = groups.count }
                groups.append([index])
            }
        }
        // A group's figures share baseline runs, so they are repeated alike: as often as the most.
        let counts = groups.map { group in
            repetitions ?? group.map { figures[$0].repetitions ?? defaultRepetitions }.max()!
        }
        for repetition in -warmups..<(counts.max() ?? 0) {
            for (group, count) in zip(groups, counts) where repetition < count {
                let live = group.filter { outcomes[$0].error == nil }
                guard let first = live.first else { continue }
                let tag = repetition < 0 ? "warm-up" : "\(repetition + 1)/\(count)"
                do {
                    let trial = try runTrial(outcomes[first].figure.baseline, repetition)
                    log("  [\(tag)] baseline \(outcomes[first].figure.baseline.label): \(describe(trial))")
                    if repetition >= 0 {
                        for index in live { record(trial, into: &outcomes[index].baseline) }
                    }
                } catch {
                    for index in live { outcomes[index].error = "baseline: \(error)" }
                    log("  baseline failed: \(error)")
                    continue
                }
                for index in live {
                    do {
                        let trial = try runTrial(outcomes[index].figure.ours, repetition)
                        log("  [\(tag)] \(outcomes[index].figure.name): \(describe(trial))")
                        if repetition >= 0 { record(trial, into: &outcomes[index].ours) }
                    } catch {
                        outcomes[index].error = "ours: \(error)"
                        log("  \(outcomes[index].figure.name) failed: \(error)")
                    }
                }
            }
        }
        for index in outcomes.indices where outcomes[index].error == nil {
            outcomes[index].error = consistencyError(outcomes[index])
        }
        return outcomes
    }

    private func describe(_ trial: Trial) -> String {
        let parts = trial.sections.map { "\($0.name) \(format($0.seconds))" }
        return format(trial.seconds!) + (parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")")
    }

    private func record(_ trial: Trial, into samples: inout SideSamples) {
        samples.seconds.append(trial.seconds!)
        if let fingerprint = trial.fingerprint { samples.fingerprints.insert(fingerprint) }
        if let observation = trial.observation { samples.observations.insert(observation) }
        for (name, seconds) in trial.sections {
            if let index = samples.sections.firstIndex(where: { $0.name == name }) {
                samples.sections[index].seconds.append(seconds)
            } else {
                samples.sections.append((name, [seconds]))
            }
        }
    }

    private func consistencyError(_ outcome: Outcome) -> String? {
        if outcome.ours.fingerprints.count > 1 { return "ours produced different results across repetitions" }
        if outcome.baseline.fingerprints.count > 1 {
            return "the baseline produced different results across repetitions"
        }
        for (side, samples) in [("ours", outcome.ours), ("the baseline", outcome.baseline)]
        where samples.observations.count > 1 {
            return "\(side) observed different results across repetitions: \(samples.observations.sorted())"
        }
        if outcome.figure.sameOutput && (outcome.ours.fingerprints.isEmpty || outcome.baseline.fingerprints.isEmpty) {
            return "a side of a same-output figure set no fingerprint to compare"
        }
        if outcome.figure.sameOutput && outcome.ours.fingerprints != outcome.baseline.fingerprints {
            return "ours and the baseline produced different results: "
                + "\(outcome.ours.fingerprints.sorted()) vs \(outcome.baseline.fingerprints.sorted())"
        }
        return nil
    }

    private func runTrial(_ side: Side, _ repetition: Int) throws -> Trial {
        var template = Array((root + "/trial-XXXXXX").utf8CString)
        guard mkdtemp(&template) != nil else { throw BenchError("cannot create a trial directory in \(root)") }
        let trial = Trial(repetition: repetition, directory: string(fromCString: template))
        defer { _ = try? Spawn.run(["rm", "-rf", trial.directory]) }
        try side.body(trial)
        guard trial.seconds != nil else { throw BenchError("\(side.label) never called trial.time") }
        return trial
    }
}

/// Seconds as a short human figure: "1.23 s", "523 ms", "4.2 ms".
func format(_ seconds: Double) -> String {
    if seconds >= 1 { return formatDecimal(seconds, places: 2) + " s" }
    let ms = seconds * 1000
    return formatDecimal(ms, places: ms >= 10 ? 0 : 1) + " ms"
}

func formatDecimal(_ value: Double, places: Int) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    let whole = scaled / Int(scale)
    guard places > 0 else { return "\(whole)" }
    let fraction = String(scaled % Int(scale))
    return "\(whole)." + String(repeating: "0", count: places - fraction.count) + fraction
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// FNV-1a, 64 bits: a stable digest for fingerprints (Swift's `Hasher` is seeded per process).
func digest(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
