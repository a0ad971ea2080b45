import BeadKit
import GitKit
import MailKit
import MoleculeKit

#if canImport(Glibc)
    import Glibc
#endif

/// What one check of a submission came to.
public struct CheckReport: Sendable {
    public enum Outcome: String, Sendable {
        /// Every check passed: the step is closed and the next one unlocked.
        case passed
        /// A check failed: the step went back to its worker with the output.
        case returned
        /// A check failed on the last allowed attempt: the step and molecule are blocked.
        case blocked
    }
    public var verdict: Verdict
    public var outcome: Outcome
    public var maxAttempts: Int
    /// The output of the first failing check (its tail), for the terminal.
    public var failure: String?
}

/// The witness: runs a submitted step's checks against exactly the submitted commit, in a
/// clean checkout of its tree, and records the verdict on that commit. A passing verdict is
/// the only way a step with checks becomes done.
public final class Witness {
    public let molecules: MoleculeStore
    public var beads: BeadStore { molecules.beads }
    public var repository: Repository { beads.repository }
    /// The name verdicts are recorded under.
    public let name: String

    /// Output kept in mail and reports: the end of it, where the failure usually is.
    static let mailedOutputBytes = 8 * 1024

    public init(molecules: MoleculeStore, name: String = "witness") {
        self.molecules = molecules
        self.name = name
    }

    // MARK: checking

    /// Checks one submitted step.
    public func check(_ given: String) throws -> CheckReport {
        let (id, bead) = try molecules.requireStep(given)
        let info = bead.fields[BeadStore.stepField]?.objectValue ?? [:]
        guard bead.status == .inProgress, let submission = info["submitted"]?.objectValue else {
            let state = bead.status == .closed ? "already closed" : "not submitted (it is \(bead.status.rawValue))"
            throw GasworksError(
                .refused,
                "cannot check step '\(id)': it is \(state); its worker submits it with git molecule done \(id)")
        }
        let checks = info["checks"]?.arrayValue ?? []
        guard !checks.isEmpty else {
            throw GasworksError(
                .refused, "step '\(id)' has no checks: the overseer approves it with git witness approve \(id)")
        }
        guard let commitHex = submission["commit"]?.stringValue, let commitID = OID(hex: commitHex) else {
            throw GasworksError(
                .refused,
                "cannot check step '\(id)': it was submitted without a commit (submit it from the worker's checkout)")
        }
        guard let commit = try? repository.commit(commitID) else {
            throw GasworksError(
                .badData, "cannot check step '\(id)': submitted commit \(commitHex) is not in this repository")
        }
        if let tree = submission["tree"]?.stringValue, tree != commit.tree.hex {
            throw GasworksError(
                .badData, "cannot check step '\(id)': submitted tree \(tree) is not commit \(commitHex)'s")
        }
        let attempt = Int(submission["attempt"]?.intValue ?? 1)
        let maxAttempts = Int(info["max_attempts"]?.intValue ?? Int64(CookedFormula.defaultMaxAttempts))
        let moleculeID = info["molecule"]?.stringValue ?? String(id[..<(id.lastIndex(of: ".") ?? id.endIndex)])

        let runs = try runChecks(checks, step: id, molecule: moleculeID, commit: commit)
        var verdict = Verdict(
            step: id, molecule: moleculeID, commit: commitID, tree: commit.tree, attempt: attempt,
            passed: runs.allSatisfy(\.passed), checks: runs, at: beads.now, by: name)
        try sign(&verdict)
        try repository.appendNoteLine(verdict.line, on: commitID, notesRef: Verdict.notesRef)

        let submitter = submission["by"]?.stringValue ?? bead.assignee ?? "overseer"
        if verdict.passed {
            try molecules.closeVerified(id, verdict: verdict.summary, attempt: attempt)
            try mail(
                to: submitter, type: "done", subject: "Verified \(id): \(bead.title)",
                body: "Step \(id) passed its checks on \(commitID.hex.prefix(12)) (attempt \(attempt)).\n\n"
                    + "Next: git molecule next --claim")
            return CheckReport(verdict: verdict, outcome: .passed, maxAttempts: maxAttempts, failure: nil)
        }
        let failure = try failureText(verdict)
        let blocked = attempt >= maxAttempts
        try molecules.withStepAuthority {
            try beads.update(id, op: blocked ? "block" : "return") { bead in
                var info = bead.fields[BeadStore.stepField]?.objectValue ?? [:]
                // Another witness already judged this submission.
                guard info["submitted"]?["attempt"]?.intValue == Int64(attempt) else { return }
                info["submitted"] = nil
                info["attempts"] = .int(Int64(attempt))
                info["last_verdict"] = verdict.summary
                bead.fields[BeadStore.stepField] = .object(info)
                if blocked { bead.status = .blocked }
            }
        }
        if blocked {
            try beads.update(moleculeID, op: "block") { molecule in
                guard molecule.status != .closed else { return }
                molecule.status = .blocked
            }
            let body =
                "Step \(id) (\(bead.title)) failed its checks \(attempt) time\(attempt == 1 ? "" : "s"), the limit.\n"
                + "Molecule \(moleculeID) is blocked until you act: git witness retry \(id) gives the worker "
                + "another round; git molecule skip \(id) or git molecule approve \(id) decides it yourself.\n\n"
                + failure
            try mail(
                to: "overseer", type: "escalation", subject: "Blocked \(id): checks failed \(attempt)×", body: body)
            if submitter != "overseer" {
                try mail(
                    to: submitter, type: "fix-needed", subject: "Blocked \(id): wait for the overseer",
                    body:
                        "Your step \(id) failed its checks \(attempt) times; the overseer decides what happens next.\n\n"
                        + failure)
            }
        } else {
            try mail(
                to: submitter, type: "fix-needed",
                subject: "Checks failed for \(id) (attempt \(attempt) of \(maxAttempts))",
                body:
                    "Step \(id) (\(bead.title)) failed on \(commitID.hex.prefix(12)). Fix it, commit, and submit again "
                    + "with git molecule done \(id) (or a Gt-Step-Done: \(id) trailer).\n\n" + failure)
        }
        return CheckReport(
            verdict: verdict, outcome: blocked ? .blocked : .returned, maxAttempts: maxAttempts, failure: failure)
    }

    /// Signs `verdict` with the supervisors' key: always when the rig has one (made by
    /// `git rig init`), unless `gt.witness.sign` is false; with git's signing setup when
    /// `gt.witness.sign` is true.
    public func sign(_ verdict: inout Verdict) throws {
        guard try repository.configBool("gt.witness.sign") ?? VerdictSigner.canSign(repository) else { return }
        let signer = try VerdictSigner(repository: repository)
        verdict.signature = try signer.sign(verdict.payload)
        verdict.signatureFormat = signer.format.rawValue
    }

    /// Checks every submitted step that has checks, oldest submission first.
    public func checkSubmitted() throws -> [CheckReport] {
        var reports: [CheckReport] = []
        for id in try submittedSteps() {
            do {
                reports.append(try check(id))
            } catch let error as GasworksError where error.kind == .refused {
                continue  // Judged by someone else meanwhile, or approved instead.
            }
        }
        return reports
    }

    /// Ids of steps waiting for the witness: submitted, with checks.
    public func submittedSteps() throws -> [String] {
        let index = try beads.index()
        let waiting = index.beads.values.filter { summary in
            summary.status == BeadStatus.inProgress.rawValue && summary.type == "step"
                && summary.json.contains("\"submitted\":{") && summary.json.contains("\"checks\":[{")
        }
        return waiting.sorted { ($0.updatedAt, $0.id) < ($1.updatedAt, $1.id) }.map(\.id)
    }

    /// Runs `checks` in a fresh detached worktree of `commit` under the common git dir,
    /// removed afterwards. The first failing check ends the run; later ones are recorded
    /// as not run.
    func runChecks(_ checks: [JSONValue], step: String, molecule: String, commit: Commit) throws -> [CheckRun] {
        let checkout = try Checkout(repository: repository, commit: commit.id, label: step)
        defer { checkout.remove() }
        var cache: [String: CheckRun] = [:]
        return try runChecks(checks, step: step, molecule: molecule, commit: commit, in: checkout, cache: &cache)
    }

    /// Runs `checks` in `checkout` (of `commit`); a command already in `cache` (run in the
    /// same checkout) is not run again.
    func runChecks(
        _ checks: [JSONValue], step: String, molecule: String, commit: Commit, in checkout: Checkout,
        cache: inout [String: CheckRun]
    ) throws -> [CheckRun] {
        let environment = ChildProcess.environment(
            adding: [
                "GT_STEP": step, "GT_MOLECULE": molecule, "GT_COMMIT": commit.id.hex, "GT_TREE": commit.tree.hex,
                "GT_WITNESS": "1",
            ])
        var runs: [CheckRun] = []
        var failed = false
        for check in checks {
            let command = check["run"]?.stringValue ?? ""
            let timeout = Int(check["timeout"]?.intValue ?? Int64(Check.defaultTimeout))
            var run = CheckRun(run: command, timeoutSeconds: timeout)
            if !failed {
                if let done = cache[command] {
                    run = done
                } else {
                    let outcome = try Sandbox.runCheck(
                        command, in: checkout.path, repository: repository, environment: environment,
                        timeout: Double(timeout))
                    run.exit = Int(outcome.status)
                    run.timedOut = outcome.timedOut
                    run.milliseconds = Int((outcome.seconds * 1000).rounded())
                    var bytes = outcome.output
                    if outcome.droppedBytes > 0 {
                        bytes += Array("\n[… \(outcome.droppedBytes) more bytes not kept]\n".utf8)
                    }
                    if outcome.timedOut { bytes += Array("\n[killed after \(timeout)s]\n".utf8) }
                    run.output = try repository.writeBlob(bytes)
                    run.outputBytes = outcome.output.count + outcome.droppedBytes
                    cache[command] = run
                }
                failed = !run.passed
            }
            runs.append(run)
        }
        return runs
    }

    /// The refinery's final verification: runs the checks of `steps` on `head` itself, in
    /// one checkout of it, each distinct command once, and records a signed verdict for
    /// each step on `head` (as the witness does). Returns the verdicts, stopping at the
    /// first that fails.
    public func finalVerification(of steps: [String], head: OID) throws -> [Verdict] {
        let commit = try repository.commit(head)
        let checkout = try Checkout(repository: repository, commit: head, label: "final", role: "refinery-final")
        defer { checkout.remove() }
        var cache: [String: CheckRun] = [:]
        var verdicts: [Verdict] = []
        for id in steps {
            let bead = try beads.load(id).bead
            let info = bead.fields[BeadStore.stepField]
            let molecule = info?["molecule"]?.stringValue ?? String(id[..<(id.lastIndex(of: ".") ?? id.endIndex)])
            let runs = try runChecks(
                info?["checks"]?.arrayValue ?? [], step: id, molecule: molecule, commit: commit, in: checkout,
                cache: &cache)
            var verdict = Verdict(
                step: id, molecule: molecule, commit: head, tree: commit.tree, attempt: 0,
                passed: runs.allSatisfy(\.passed), checks: runs, at: beads.now, by: name)
            try sign(&verdict)
            try repository.appendNoteLine(verdict.line, on: head, notesRef: Verdict.notesRef)
            verdicts.append(verdict)
            if !verdict.passed { break }
        }
        return verdicts
    }

    /// The failing check, its status and the end of its output, for mail and terminals.
    public func failureText(_ verdict: Verdict) throws -> String {
        guard let failing = verdict.checks.first(where: { $0.exit != nil && !$0.passed }) else { return "" }
        return try Self.failureText(
            command: failing.run, output: failing.output, exit: failing.exit, timedOut: failing.timedOut,
            timeoutSeconds: failing.timeoutSeconds, in: repository, keeping: Self.mailedOutputBytes)
    }

    /// A failed command as mail and terminals show it: the command, the last `keeping`
    /// bytes of its output (a blob), its exit status or timeout, and how to read it all.
    public static func failureText(
        command: String, output: OID?, exit: Int?, timedOut: Bool, timeoutSeconds: Int, in repository: Repository,
        keeping: Int
    ) throws -> String {
        var text = "$ \(command)\n"
        if let output {
            let bytes = try repository.readBlob(output)
            let tail = bytes.count > keeping ? Array(bytes.suffix(keeping)) : bytes
            if bytes.count > tail.count { text += "[… first \(bytes.count - tail.count) bytes cut]\n" }
            text += String(decoding: tail, as: UTF8.self)
            if !text.hasSuffix("\n") { text += "\n" }
        }
        text += timedOut ? "(timed out after \(timeoutSeconds)s)\n" : "(exit status \(exit ?? -1))\n"
        if let output { text += "Full output: git cat-file -p \(output.hex)\n" }
        return text
    }

    func mail(to recipient: String, type: String, subject: String, body: String) throws {
        let address = try (try? Address(recipient)) ?? Address("overseer")
        try Mailbox(repository: repository).send(
            MessageDraft(from: name, subject: subject, body: body, type: type), to: [address], cc: [])
    }

    // MARK: deciding by hand

    /// The overseer approves a step that has no checks (a human gate or a review).
    @discardableResult
    public func approve(_ given: String, note: String?) throws -> StoredBead {
        let (id, bead) = try molecules.requireStep(given)
        if let checks = bead.fields[BeadStore.stepField]?["checks"]?.arrayValue, !checks.isEmpty {
            throw GasworksError(
                .refused,
                "step '\(id)' has checks: it closes when they pass (git witness check \(id)); git molecule skip \(id) overrides"
            )
        }
        return try molecules.overseerClose(id, skip: false, note: note)
    }

    /// The overseer gives a blocked step (or one that failed) another round of attempts:
    /// it returns to its worker and the molecule is unblocked.
    @discardableResult
    public func retry(_ given: String) throws -> StoredBead {
        try Overseer.require(beads, to: "retry a step")
        let (id, bead) = try molecules.requireStep(given)
        guard bead.status == .blocked || bead.status == .inProgress else {
            throw GasworksError(.refused, "cannot retry step '\(id)': it is \(bead.status.rawValue)")
        }
        let stored = try molecules.withStepAuthority {
            try beads.update(id, op: "retry") { bead in
                var info = bead.fields[BeadStore.stepField]?.objectValue ?? [:]
                info["attempts"] = .int(0)
                bead.fields[BeadStore.stepField] = .object(info)
                bead.status = bead.assignee == nil ? .open : .inProgress
            }
        }
        if let moleculeID = bead.fields[BeadStore.stepField]?["molecule"]?.stringValue {
            try beads.update(moleculeID, op: "unblock") { molecule in
                if molecule.status == .blocked { molecule.status = .inProgress }
            }
            if let worker = bead.assignee {
                try mail(
                    to: worker, type: "task", subject: "Retry \(id): \(bead.title)",
                    body: "The overseer gave step \(id) another \(try maxAttempts(of: bead)) attempts. "
                        + "Fix it and submit again with git molecule done \(id).")
            }
        }
        return stored
    }

    func maxAttempts(of bead: Bead) throws -> Int {
        Int(bead.fields[BeadStore.stepField]?["max_attempts"]?.intValue ?? Int64(CookedFormula.defaultMaxAttempts))
    }
}

/// A detached worktree of one commit, made with `git worktree add` so checks (and the
/// refinery's gate) can run git themselves, under `<common dir>/gt/<role>/`.
public struct Checkout {
    public let path: String
    let repository: Repository

    public init(repository: Repository, commit: OID, label: String, role: String = "witness") throws {
        self.repository = repository
        let root = repository.commonDir + "gt/" + role
        LocalFile.makeDirectories(root)
        Self.removeAbandoned(in: root, repository: repository)
        path = root + "/\(label)-\(getpid())-\(commit.hex.prefix(8))"
        _ = try? ChildProcess.run(["rm", "-rf", path])
        let outcome = try repository.addWorktree(at: path, ["--quiet", "--detach", "--force", path, commit.hex])
        guard outcome.status == 0 else {
            throw GasworksError(
                .repository, "cannot check out \(commit.hex.prefix(12)) for the \(role): \(outcome.text.firstLine)")
        }
    }

    /// Moves the checkout to `commit`: its files exactly, untracked files and nested
    /// repositories removed (ignored files, such as build caches, kept).
    public func switchTo(_ commit: OID) throws {
        for arguments in [
            ["checkout", "--quiet", "--detach", "--force", commit.hex], ["clean", "-q", "-f", "-f", "-d"],
        ] {
            let outcome = try ChildProcess.run(
                ["git", "-C", path, "-c", "core.hooksPath=/dev/null"] + arguments,
                environment: ChildProcess.environment())
            guard outcome.status == 0 else {
                throw GasworksError(
                    .repository, "cannot check out \(commit.hex.prefix(12)) in \(path): \(outcome.text.firstLine)")
            }
        }
    }

    /// Removes checkouts whose witness process is gone (killed mid-check): their names carry
    /// its pid. git's own admin files for them go with `git worktree prune`.
    static func removeAbandoned(in root: String, repository: Repository) {
        var removed = false
        for name in LocalFile.list(root) {
            let parts = name.split(separator: "-")
            guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]), pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            _ = try? ChildProcess.run(["rm", "-rf", root + "/" + name])
            removed = true
        }
        if removed {
            _ = try? ChildProcess.run(git(repository) + ["worktree", "prune"], environment: ChildProcess.environment())
        }
    }

    /// git with this repository and no hooks (the checkout is the witness's own business).
    static func git(_ repository: Repository) -> [String] {
        ["git", "--git-dir=" + repository.commonDir, "-c", "core.hooksPath=/dev/null"]
    }

    public func remove() {
        let outcome = try? ChildProcess.run(
            Self.git(repository) + ["worktree", "remove", "--force", "--force", path],
            environment: ChildProcess.environment())
        if outcome?.status != 0 {
            _ = try? ChildProcess.run(["rm", "-rf", path])
            _ = try? ChildProcess.run(
                Self.git(repository) + ["worktree", "prune"], environment: ChildProcess.environment())
        }
    }
}
