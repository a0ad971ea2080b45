import ArgumentParser
import BeadKit
import GitKit
import HookKit
import MailKit
import MoleculeKit
import PolecatKit
import WitnessKit

struct GitWitness: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "Verifies submitted steps by running their checks; the only way a step with checks closes.",
        discussion: """
            Exit status: 0 success (a check passed, a branch verified); 1 refused or failed (a check \
            failed, a branch is not verified, the step is not submitted, not the overseer); 2 unknown \
            id or revision; 3 ambiguous id prefix; 64 invalid arguments; 65 corrupt stored data; \
            128 not a git repository or git failed.
            """,
        subcommands: [
            WitnessCheck.self, WitnessVerify.self, WitnessApprove.self, WitnessRetry.self, WitnessWatch.self,
            WitnessShow.self,
        ])
}

extension CommonOptions {
    func openWitness() throws -> Witness { Witness(molecules: try openMolecules()) }
}

enum WitnessOutput {
    static func json(_ report: CheckReport) -> JSONValue {
        var object = (try? JSONValue.parse(report.verdict.line))?.objectValue ?? [:]
        object["outcome"] = .string(report.outcome.rawValue)
        object["max_attempts"] = .int(Int64(report.maxAttempts))
        return .object(object)
    }

    static func text(_ report: CheckReport) -> String {
        let verdict = report.verdict
        let seconds = Double(verdict.checks.reduce(0) { $0 + $1.milliseconds }) / 1000
        let ran = verdict.checks.filter { $0.exit != nil }.count
        let head =
            "\(verdict.step) on \(verdict.commit.hex.prefix(12)) (attempt \(verdict.attempt) of \(report.maxAttempts)): "
            + "\(ran) of \(verdict.checks.count) check\(verdict.checks.count == 1 ? "" : "s") run in "
            + String(format1(seconds)) + " s"
        switch report.outcome {
        case .passed:
            return "✓ passed \(head); step closed\n"
        case .returned:
            return "✗ failed \(head); returned to its worker with the output\n" + indent(report.failure ?? "")
        case .blocked:
            return "✗ failed \(head); the step and its molecule are blocked and the overseer is mailed\n"
                + indent(report.failure ?? "")
        }
    }

    static func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0)
            .map { "    " + $0 + "\n" }.joined()
    }

    static func format1(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}

struct WitnessCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run a submitted step's checks on a clean checkout of the submitted commit and record the verdict.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Step id (<mol>.<n>) or <mol>/<key>.") var step: String?
    @Flag(name: .long, help: "Check every submitted step, oldest first.") var submitted = false

    func validate() throws {
        if (step == nil) == !submitted {
            throw ValidationError("give a step or --submitted (one of them)")
        }
    }

    func run() throws {
        try reportingErrors {
            let witness = try common.openWitness()
            let reports = try step.map { [try witness.check($0)] } ?? witness.checkSubmitted()
            if common.json {
                Console.out(JSONValue.array(reports.map(WitnessOutput.json)).compactText() + "\n")
            } else if common.quiet {
                Console.out(reports.map { "\($0.verdict.step) \($0.outcome.rawValue)\n" }.joined())
            } else if reports.isEmpty {
                Console.out("nothing is waiting for the witness\n")
            } else {
                Console.out(reports.map(WitnessOutput.text).joined())
            }
            // A request that waited for these verdicts can land now.
            if reports.contains(where: { $0.outcome == .passed }) {
                let repository = try common.openRepository()
                let beads = try BeadStore(repository: repository, actor: "witness")
                if let queued = try? MergeRequest.queue(in: beads, target: try RigConfig.target(repository)),
                    !queued.isEmpty
                {
                    RefineryTrigger.startQuietly(repository, common, announce: false)
                }
            }
            if reports.contains(where: { $0.outcome != .passed }) { throw ExitCode(1) }
        }
    }
}

struct WitnessVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Refuse a molecule or branch unless every step has a passing verdict the branch contains.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "A molecule id, or a branch (any revision).") var target: String
    @Option(name: .long, help: "With a molecule: the branch whose head must contain the verdicts (default HEAD).")
    var branch: String?
    @Flag(name: .long, help: "Also require every verdict to be signed by a trusted key (gt.witness.strict).")
    var strict = false

    func run() throws {
        try reportingErrors {
            let result = try common.openWitness().verify(target, branch: branch, strict: strict)
            if common.json {
                Console.out(Self.json(result).compactText() + "\n")
            } else if !common.quiet {
                Console.out(Self.text(result))
            }
            if !result.passed {
                let why =
                    result.molecules.isEmpty
                    ? "no commit on it names a molecule step"
                    : "\(result.problems) problem\(result.problems == 1 ? "" : "s")"
                throw GasworksError(.refused, "\(result.headName) is not verified: \(why)")
            }
        }
    }

    static func text(_ result: Verification) -> String {
        var out = ""
        for molecule in result.molecules {
            out +=
                "\(molecule.id) at \(result.headName) (\(result.head.hex.prefix(12)))\(result.strict ? ", strict" : "")\n"
            for step in molecule.steps {
                out += "  \(step.ok ? "✓" : "✗") \(step.id) \(step.key): \(step.reason)\n"
            }
        }
        for commit in result.uncovered {
            out +=
                "  ✗ commit \(commit.commit.hex.prefix(12)) \"\(commit.subject)\" names \(commit.step), "
                + "which no passing verdict covers\n"
        }
        if result.passed { out += "verified: every step of \(result.molecules.map(\.id).joined(separator: ", "))\n" }
        return out
    }

    static func json(_ result: Verification) -> JSONValue {
        .object([
            "head": .string(result.head.hex), "ref": .string(result.headName), "verified": .bool(result.passed),
            "strict": .bool(result.strict),
            "molecules": .array(
                result.molecules.map { molecule in
                    .object([
                        "id": .string(molecule.id),
                        "steps": .array(
                            molecule.steps.map {
                                .object([
                                    "id": .string($0.id), "key": .string($0.key), "ok": .bool($0.ok),
                                    "reason": .string($0.reason),
                                ])
                            }),
                    ])
                }),
            "uncovered": .array(
                result.uncovered.map {
                    .object([
                        "commit": .string($0.commit.hex), "step": .string($0.step), "subject": .string($0.subject),
                    ])
                }),
        ])
    }
}

struct WitnessApprove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Overseer only: close a step that has no checks (a human gate), recorded.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Step id (<mol>.<n>) or <mol>/<key>.") var step: String
    @Option(name: [.short, .long], help: "A note kept with the approval.") var note: String?

    func run() throws {
        try reportingErrors {
            let stored = try common.openWitness().approve(step, note: note)
            BeadOutput.emitChange(stored, verb: "approved", common)
        }
    }
}

struct WitnessRetry: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Overseer only: give a blocked step fresh attempts and return it to its worker.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Step id (<mol>.<n>) or <mol>/<key>.") var step: String

    func run() throws {
        try reportingErrors {
            let stored = try common.openWitness().retry(step)
            BeadOutput.emitChange(stored, verb: "returned to its worker", common)
        }
    }
}

struct WitnessWatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Check submitted steps as they arrive (one line per verdict).")
    @OptionGroup var common: CommonOptions
    @Option(name: .long, help: "Stop after this many verdicts.") var count: Int?
    @Option(name: .long, help: "Stop after this many seconds.") var timeout: Double?
    @Option(name: .long, help: "Look again at least this often, in seconds (default 30).") var interval: Double = 30

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if interval <= 0 { throw ValidationError("--interval must be positive") }
    }

    func run() throws {
        try reportingErrors {
            let repository = try common.openRepository()
            let watcher = try RefWatcher(repository: repository, refName: BeadStore.refPrefix + "watch")
            let deadline = timeout.map { MonotonicClock.seconds() + $0 }
            var handled = 0
            // Checks that could not start, per step: retried a few rounds, then left alone
            // (and said so) rather than retried for ever.
            var failures: [String: Int] = [:]
            while true {
                // A fresh store per round: the index and time stamps belong to this round.
                let witness = Witness(
                    molecules: MoleculeStore(beads: try BeadStore(repository: repository, actor: common.actor)))
                for id in try witness.submittedSteps() where failures[id, default: 0] < 5 {
                    let report: CheckReport
                    do {
                        report = try witness.check(id)
                    } catch let error as GasworksError where error.kind == .refused {
                        continue
                    } catch let error as GasworksError where error.kind == .repository || error.kind == .badData {
                        // A check that could not run (git failed making its checkout, a
                        // submitted commit is missing): the step stays submitted and is tried
                        // again next round, five times at most; the watch goes on.
                        failures[id, default: 0] += 1
                        let last = failures[id]! >= 5
                        Console.error(
                            "\(last ? "error" : "warning"): \(id): \(error.message)"
                                + (last
                                    ? "; not tried again by this watch (git witness check \(id))\n"
                                    : "; trying again\n"))
                        continue
                    }
                    Console.out(
                        common.json ? WitnessOutput.json(report).compactText() + "\n" : WitnessOutput.text(report))
                    handled += 1
                    if let count, handled >= count { return }
                }
                var wait = interval
                if let deadline {
                    wait = min(wait, deadline - MonotonicClock.seconds())
                    if wait <= 0 { return }
                }
                watcher.sleep(upTo: wait)
            }
        }
    }
}

struct WitnessShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "The verdicts recorded for a step or on a commit.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "A step id, or a commit (any revision).") var target: String

    func run() throws {
        try reportingErrors {
            let witness = try common.openWitness()
            let repository = witness.repository
            var verdicts: [Verdict] = []
            if let step = try? witness.molecules.requireStep(target) {
                let info = step.bead.fields[BeadStore.stepField]
                var commits: [OID] = []
                for key in ["verdict", "last_verdict", "submitted"] {
                    if let commit = info?[key]?["commit"]?.stringValue.flatMap({ OID(hex: $0) }),
                        !commits.contains(commit)
                    {
                        commits.append(commit)
                    }
                }
                verdicts = try commits.flatMap { try Verdict.all(on: $0, in: repository) }.filter { $0.step == step.id }
            } else {
                let commit: OID
                do {
                    commit = try repository.revparse(target)
                } catch {
                    throw GasworksError(.notFound, "no step or revision '\(target)'")
                }
                verdicts = try Verdict.all(on: commit, in: repository)
            }
            if common.json {
                Console.out(
                    JSONValue.array(verdicts.compactMap { try? JSONValue.parse($0.line) }).compactText() + "\n")
                return
            }
            if verdicts.isEmpty {
                Console.out("no verdicts\n")
                return
            }
            for verdict in verdicts {
                Console.out(
                    "\(verdict.passed ? "✓ pass" : "✗ fail") \(verdict.step) attempt \(verdict.attempt) on "
                        + "\(verdict.commit.hex.prefix(12)) tree \(verdict.tree.hex.prefix(12)) at \(verdict.at) "
                        + "by \(verdict.by)\(verdict.signature != nil ? " (signed)" : "")\n")
                for check in verdict.checks {
                    let status =
                        check.exit == nil
                        ? "not run" : check.timedOut ? "timed out" : "exit \(check.exit!)"
                    Console.out(
                        "    \(status), \(check.milliseconds) ms: \(check.run)"
                            + (check.output.map { "  [output \($0.hex.prefix(12)), \(check.outputBytes) bytes]" } ?? "")
                            + "\n")
                }
            }
        }
    }
}
