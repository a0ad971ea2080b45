import Foundation
import TestSupport
import Testing

/// A rig set up with `git rig init`, a three-step formula, a bead, and a worker's worktree
/// on its own branch (marked with `git rig worker`), as a polecat would have it.
final class WitnessRig {
    let rig: TemporaryRig
    let worktree: String
    let bead: String
    let molecule: String
    static let worker = "polecat/nux"

    static let formula = """
        formula = "three"
        [[steps]]
        id = "one"
        title = "Write one"
        check = "test -f one.txt"
        [[steps]]
        id = "two"
        title = "Write two"
        needs = ["one"]
        check = ["test -f two.txt", { run = "grep ok two.txt && echo two-is-fine", timeout = "30s" }]
        [[steps]]
        id = "three"
        title = "Write three"
        needs = ["two"]
        check = "test -f three.txt"
        [[steps]]
        id = "review"
        title = "Review"
        needs = ["three"]
        """

    init(formula: String = WitnessRig.formula) throws {
        rig = try TemporaryRig(tools: ["bead", "mail", "molecule", "witness", "rig"])
        try rig.repository.commitFile("README", "sample project\n", message: "initial")
        try rig.writeFormula("three", formula)
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        bead = try rig.bead("create", "Build the numbers", "-q")
        molecule = try rig.molecule("pour", "three", "--on", bead, "-q").split(separator: "\n")[0].description
        worktree = rig.root + "/nux"
        _ = try rig.checked(["worktree", "add", "-q", "-b", "polecat/nux/\(bead)", worktree])
        _ = try rig.checked(["rig", "worker", Self.worker], in: worktree)
        _ = try rig.checked(["bead", "claim", bead], in: worktree)
    }

    /// Runs git in the worker's worktree.
    @discardableResult
    func work(_ arguments: [String], env: [String: String] = [:]) throws -> ProcessResult {
        try rig.git(arguments, env: env, in: worktree)
    }

    func workChecked(_ arguments: [String]) throws -> String { try rig.checked(arguments, in: worktree) }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: worktree + "/" + name, atomically: true, encoding: .utf8)
    }

    /// Claims the next step, writes `file`, and commits it with a Gt-Step-Done trailer.
    func finishStep(_ step: Int, file: String, contents: String) throws {
        _ = try workChecked(["molecule", "next", "--claim", molecule, "-q"])
        try write(file, contents)
        _ = try workChecked(["add", file])
        _ = try workChecked(["commit", "-q", "-m", "Write \(file)\n\nGt-Step-Done: \(molecule).\(step)"])
    }

    func state(_ step: Int) throws -> String {
        let shown = try rig.molecule("show", molecule, "--json")
        let object = try rig.json(shown)
        let steps = object["steps"] as? [[String: Any]] ?? []
        return steps.first { $0["id"] as? String == "\(molecule).\(step)" }?["state"] as? String ?? "?"
    }
}

extension TemporaryRig {
    /// Runs git and returns stdout, failing when it exits non-zero.
    func checked(_ arguments: [String], in directory: String? = nil, env: [String: String] = [:]) throws -> String {
        let result = try git(arguments, env: env, in: directory)
        guard result.status == 0 else {
            throw TestFailure("git \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result.output
    }

    /// Everything a refused action must leave alone: state refs, notes, branches.
    func everyRef() throws -> String {
        try repository.gitOutput("for-each-ref", "--format=%(refname) %(objectname)")
    }
}

@Suite struct WitnessTests {
    @Test func commitOnALockedStepIsRefusedAndWritesNothing() throws {
        let w = try WitnessRig()
        try w.finishStep(1, file: "one.txt", contents: "1\n")
        #expect(try w.state(1) == "submitted")
        let before = try w.rig.everyRef()
        try w.write("three.txt", "3\n")
        _ = try w.workChecked(["add", "three.txt"])
        let refused = try w.work(["commit", "-m", "Jump ahead\n\nGt-Step: \(w.molecule).3"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("cannot commit for step '\(w.molecule).3': it needs \(w.molecule).2"))
        #expect(refused.stderr.contains("git molecule done"))
        #expect(try w.rig.everyRef() == before)

        // The step held by the worker is added by the hooks; a closed bead is refused.
        _ = try w.rig.checked(["witness", "check", "\(w.molecule).1"])
        _ = try w.workChecked(["reset", "-q", "three.txt"])
        _ = try w.workChecked(["molecule", "next", "--claim", w.molecule])
        try w.write("two.txt", "ok\n")
        _ = try w.workChecked(["add", "two.txt"])
        _ = try w.workChecked(["commit", "-q", "-m", "Start two"])
        let message = try w.workChecked(["log", "-1", "--format=%B"])
        #expect(message.contains("Gt-Bead: \(w.bead)"))
        #expect(message.contains("Gt-Step: \(w.molecule).2"))
        let unclaimed = try w.rig.bead("create", "Someone else's", "-q")
        let other = try w.work(["commit", "--allow-empty", "-m", "Sneak\n\nGt-Bead: \(unclaimed)"])
        #expect(other.status == 1)
        #expect(other.stderr.contains("have not claimed bead \(unclaimed)"))
        #expect(other.stderr.contains("git bead claim"))
    }

    @Test func noVerifyCommitOnALockedStepFailsVerify() throws {
        let w = try WitnessRig()
        try w.finishStep(1, file: "one.txt", contents: "1\n")
        _ = try w.rig.checked(["witness", "check", "\(w.molecule).1"])
        try w.write("three.txt", "3\n")
        _ = try w.workChecked(["add", "three.txt"])
        _ = try w.workChecked(["commit", "-q", "--no-verify", "-m", "Skip two\n\nGt-Step: \(w.molecule).3"])
        let branch = "polecat/nux/\(w.bead)"
        let verify = try w.rig.git(["witness", "verify", branch])
        #expect(verify.status == 1)
        #expect(verify.stderr.hasPrefix("fatal: \(branch) is not verified"))
        #expect(verify.stdout.contains("✓ \(w.molecule).1 one: verified on"))
        #expect(verify.stdout.contains("✗ \(w.molecule).3 three: not verified: it is locked"))
        #expect(verify.stdout.contains("names \(w.molecule).3, which no passing verdict covers"))
        let byMolecule = try w.rig.git(["witness", "verify", w.molecule, "--branch", branch, "--json"])
        #expect(byMolecule.status == 1)
        #expect(byMolecule.stdout.contains("\"verified\":false"))
    }

    @Test func checkFailingThreeTimesBlocksTheMoleculeAndMailsTheOverseer() throws {
        let w = try WitnessRig()
        try w.finishStep(1, file: "one.txt", contents: "1\n")
        _ = try w.rig.checked(["witness", "check", "\(w.molecule).1"])
        for attempt in 1...3 {
            if attempt == 1 {
                try w.finishStep(2, file: "two.txt", contents: "not yet \(attempt)\n")
            } else {
                try w.write("two.txt", "not yet \(attempt)\n")
                _ = try w.workChecked(["commit", "-q", "-am", "Try again\n\nGt-Step-Done: \(w.molecule).2"])
            }
            let check = try w.rig.git(["witness", "check", "--submitted"])
            #expect(check.status == 1)
            #expect(check.stdout.contains("attempt \(attempt) of 3"))
            if attempt < 3 {
                #expect(try w.state(2) == "working")
                let inbox = try w.rig.checked(["mail", "inbox", "--mailbox", WitnessRig.worker])
                #expect(inbox.contains("Checks failed for \(w.molecule).2 (attempt \(attempt) of 3)"))
            }
        }
        #expect(try w.state(2) == "blocked")
        let molecule = try w.rig.json(try w.rig.bead("show", w.molecule, "--json"))
        #expect(molecule["status"] as? String == "blocked")
        let overseer = try w.rig.checked(["mail", "inbox", "--mailbox", "overseer", "--json"])
        let messages = try JSONSerialization.jsonObject(with: Data(overseer.utf8)) as? [[String: Any]] ?? []
        let escalation = try #require(messages.first { $0["type"] as? String == "escalation" })
        let body = try w.rig.checked(["mail", "read", escalation["id"] as! String, "--mailbox", "overseer"])
        #expect(body.contains("grep ok two.txt"))
        #expect(body.contains("(exit status 1)"))
        // Three verdicts on three commits, each with the command, status, duration and output.
        let shown = try w.rig.checked(["witness", "show", "\(w.molecule).2", "--json"])
        let verdicts = try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [[String: Any]] ?? []
        #expect(verdicts.count == 1)  // the last attempt's commit
        let checks = verdicts.first?["checks"] as? [[String: Any]] ?? []
        #expect(checks.map { $0["run"] as? String } == ["test -f two.txt", "grep ok two.txt && echo two-is-fine"])
        #expect(checks.map { $0["exit"] as? Int } == [0, 1])
        #expect(checks.allSatisfy { $0["duration_ms"] != nil && $0["output"] != nil })
        let notes = try w.rig.repository.gitOutput("notes", "--ref=gt/witness", "list")
        #expect(notes.split(separator: "\n").count == 4)  // step one's pass and two's three failures

        // The overseer gives another round; a passing attempt closes the step.
        _ = try w.rig.checked(["witness", "retry", "\(w.molecule).2"])
        #expect(try w.state(2) == "working")
        try w.write("two.txt", "ok\n")
        _ = try w.workChecked(["commit", "-q", "-am", "Fix two\n\nGt-Step-Done: \(w.molecule).2"])
        let pass = try w.rig.checked(["witness", "check", "\(w.molecule).2"])
        #expect(pass.contains("✓ passed"))
        #expect(try w.state(2) == "done")
        #expect(try w.state(3) == "ready")
    }

    @Test func verdictGoesStaleWhenTheTreeChanges() throws {
        let w = try WitnessRig()
        try w.finishStep(1, file: "one.txt", contents: "1\n")
        _ = try w.rig.checked(["witness", "check", "\(w.molecule).1"])
        try w.finishStep(2, file: "two.txt", contents: "ok\n")
        _ = try w.rig.checked(["witness", "check", "\(w.molecule).2"])
        try w.finishStep(3, file: "three.txt", contents: "3\n")
        _ = try w.rig.checked(["witness", "check", "\(w.molecule).3"])
        // The review step has no checks: the witness refuses to check it; the overseer approves.
        _ = try w.workChecked(["molecule", "next", "--claim", w.molecule])
        _ = try w.workChecked(["molecule", "done", "\(w.molecule).4"])
        let noChecks = try w.rig.git(["witness", "check", "\(w.molecule).4"])
        #expect(noChecks.status == 1)
        #expect(noChecks.stderr.contains("has no checks"))
        let byWorker = try w.rig.git(["witness", "approve", "\(w.molecule).4"], env: ["GT_POLECAT": "nux"])
        #expect(byWorker.status == 1)
        #expect(byWorker.stderr.contains("only the overseer"))
        let withChecks = try w.rig.git(["witness", "approve", "\(w.molecule).3"])
        #expect(withChecks.status == 1)
        _ = try w.rig.checked(["witness", "approve", "\(w.molecule).4", "--note", "looks right"])
        let branch = "polecat/nux/\(w.bead)"
        let verified = try w.rig.checked(["witness", "verify", branch])
        #expect(verified.contains("verified: every step of \(w.molecule)"))
        #expect(verified.contains("✓ \(w.molecule).4 review: approved by"))

        // Amend the last verified commit: the verdict is for a tree the branch no longer has.
        try w.write("three.txt", "three, changed\n")
        _ = try w.workChecked(["commit", "-q", "--no-verify", "--amend", "-am", "Write three.txt differently"])
        let stale = try w.rig.git(["witness", "verify", branch])
        #expect(stale.status == 1)
        #expect(stale.stdout.contains("✗ \(w.molecule).3 three: stale"))
        // A rebase onto a moved target rewrites every commit: all of them go stale.
        _ = try w.workChecked(["reset", "-q", "--hard", "HEAD@{1}"])
        #expect(try w.rig.git(["witness", "verify", branch]).status == 0)
        try w.rig.repository.commitFile("NEWS", "news\n", message: "Meanwhile on main")
        _ = try w.workChecked(["rebase", "-q", "main"])
        let rebased = try w.rig.git(["witness", "verify", branch])
        #expect(rebased.status == 1)
        #expect(rebased.stdout.components(separatedBy: ": stale").count == 4)
    }

    @Test func timeoutsAreRecordedAndWatchHandlesSubmissions() throws {
        let w = try WitnessRig(
            formula: """
                formula = "three"
                [[steps]]
                id = "slow"
                title = "Slow"
                check = { run = "echo starting; sleep 30", timeout = "1s" }
                [[steps]]
                id = "fast"
                title = "Fast"
                needs = ["slow"]
                check = "true"
                """)
        try w.finishStep(1, file: "a.txt", contents: "a\n")
        let result = try w.rig.git(["witness", "watch", "--count", "1", "--json"])
        #expect(result.status == 0)
        let verdict = try w.rig.json(result.output)
        #expect(verdict["result"] as? String == "fail")
        let check = (verdict["checks"] as? [[String: Any]])?.first ?? [:]
        #expect(check["timed_out"] as? Bool == true)
        #expect((check["duration_ms"] as? Int ?? 0) < 10_000)
        let output = try w.rig.repository.gitOutput("cat-file", "-p", check["output"] as? String ?? "")
        #expect(output.contains("starting"))
        #expect(output.contains("killed after 1s"))
        // The witness's checkout is gone afterwards; git knows no stray worktree.
        let worktrees = try w.rig.repository.gitOutput("worktree", "list", "--porcelain")
        #expect(!worktrees.contains("gt/witness"))
    }
}
