import Foundation
import TestSupport
import Testing

@Suite struct WitnessConcurrencyTests {
    static let oneStep = """
        formula = "three"
        [[steps]]
        id = "only"
        title = "The only step"
        check = "test -f README"
        """

    @Test func threeWitnessesAtOnceJudgeEverySubmissionOnce() throws {
        let w = try WitnessRig(formula: Self.oneStep)
        // Six molecules, each submitted by its own polecat on the same commit.
        var steps: [String] = [w.molecule + ".1"]
        for _ in 1..<6 {
            let bead = try w.rig.bead("create", "More work", "-q")
            let molecule = try w.rig.molecule("pour", "three", "--on", bead, "-q").split(separator: "\n")[0]
            steps.append(molecule + ".1")
        }
        for (index, step) in steps.enumerated() {
            _ = try w.rig.checked(["molecule", "done", step], env: ["GT_POLECAT": "p\(index)"])
        }
        let witnesses = try (0..<3).map { _ in
            try Child.start(
                ["git", "witness", "check", "--submitted", "-q"], in: w.rig.path,
                environment: w.rig.repository.environment)
        }
        for witness in witnesses { witness.wait() }
        for step in steps {
            let shown = try w.rig.json(try w.rig.bead("show", step, "--json"))
            #expect(shown["status"] as? String == "closed", "\(step)")
            let log = try w.rig.repository.gitOutput("log", "--format=%s", "refs/gt/beads/\(step)")
            #expect(log.split(separator: "\n").filter { $0.hasPrefix("verify ") }.count == 1, "\(step): \(log)")
        }
        let head = try w.rig.repository.gitOutput("rev-parse", "HEAD")
        let verdicts = try w.rig.repository.gitOutput("notes", "--ref=gt/witness", "show", head)
        let judged = Set(
            verdicts.split(separator: "\n").compactMap { line -> String? in
                guard let object = try? w.rig.json(String(line)), object["result"] as? String == "pass" else {
                    return nil
                }
                return object["step"] as? String
            })
        #expect(judged == Set(steps))
        #expect(try w.rig.repository.gitOutput("fsck", "--no-dangling").isEmpty)
        #expect(try w.rig.repository.gitOutput("worktree", "list").split(separator: "\n").count == 2)
    }

    @Test func sigkillMidCheckLeavesTheSubmissionForTheNextWitness() throws {
        let w = try WitnessRig(
            formula: """
                formula = "three"
                [[steps]]
                id = "slow"
                title = "Slow the first time"
                check = "if [ -f \\"$MARK\\" ]; then true; else touch \\"$MARK\\"; sleep 21; fi"
                """)
        let mark = w.rig.root + "/ran-once"
        // Checks run sandboxed: the mark beside the rig is made writable for them.
        _ = try w.rig.checked(["config", "gt.sandbox.bind", w.rig.root])
        try w.finishStep(1, file: "a.txt", contents: "a\n")
        // The witness itself, not git's wrapper process, so the kill reaches it.
        let witness = try Child.start(
            ["\(w.rig.bin)/git-witness", "check", "\(w.molecule).1"], in: w.rig.path,
            environment: w.rig.repository.environment.merging(["MARK": mark]) { $1 })
        // Kill it while its check runs in the witness's checkout.
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: mark), Date() < deadline { usleep(20_000) }
        #expect(FileManager.default.fileExists(atPath: mark))
        witness.signal(SIGKILL)
        witness.wait()
        _ = try? run("pkill", ["-KILL", "-f", "sleep 21"])  // no other test sleeps 21 s

        #expect(try w.state(1) == "submitted")
        #expect(try w.rig.repository.gitOutput("notes", "--ref=gt/witness", "list").isEmpty)
        #expect(try w.rig.repository.gitOutput("fsck", "--no-dangling").isEmpty)
        let again = try w.rig.checked(["witness", "check", "\(w.molecule).1"], env: ["MARK": mark])
        #expect(again.contains("✓ passed"))
        #expect(try w.state(1) == "done")
        // The killed witness's checkout is gone, and git's admin files for it too.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: w.rig.path + "/.git/gt/witness")) ?? []
        #expect(left.isEmpty, "\(left)")
        let worktrees = try w.rig.repository.gitOutput("worktree", "list", "--porcelain")
        #expect(!worktrees.contains("gt/witness"))
    }
}
