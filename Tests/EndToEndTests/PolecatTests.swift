import Foundation
import TestSupport
import Testing

@Suite struct PolecatTests {
    /// Waits (up to 20 s) until `path` exists: the scripted agent runs detached.
    func waitFor(_ path: String) -> Bool {
        for _ in 0..<400 where !FileManager.default.fileExists(atPath: path) { usleep(50_000) }
        return FileManager.default.fileExists(atPath: path)
    }

    @Test func slingClaimsMakesABranchAndWorktreeAndStartsTheAgentAsThePolecat() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "molecule", "witness", "rig", "polecat"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        let bead = try rig.bead("create", "Say hello", "-d", "Write hello.txt", "-q")
        let out = rig.root + "/agent-out"
        // A scripted agent: reads its prime, commits, and says who it was told it is.
        let agent =
            "git polecat prime > '\(out).prime'; echo hello > hello.txt; git add hello.txt; "
            + "git commit -q -m 'Say hello'; echo \"$GT_POLECAT $GT_BEAD $GT_GENERATION $GT_RIG\" > '\(out).tmp'; "
            + "mv '\(out).tmp' '\(out)'"
        let slung = try rig.json(try rig.checked(["polecat", "sling", bead, "--agent", agent, "--json"]))
        #expect(slung["name"] as? String == "furiosa")
        #expect(waitFor(out))
        let told = try String(contentsOfFile: out, encoding: .utf8)
        #expect(told == "furiosa \(bead) \(slung["generation"] as? String ?? "?") repo\n")
        let prime = try String(contentsOfFile: out + ".prime", encoding: .utf8)
        #expect(prime.contains("# You are polecat/furiosa, a polecat of the rig repo"))
        #expect(prime.contains("## Your bead: \(bead) — Say hello"))
        #expect(prime.contains("git polecat done"))

        // The bead is the polecat's; the branch and worktree exist; the hooks ran for it.
        let shown = try rig.json(try rig.bead("show", bead, "--json"))
        #expect(shown["assignee"] as? String == "polecat/furiosa")
        #expect(shown["status"] as? String == "in_progress")
        let branch = "polecat/furiosa/\(bead)"
        let message = try rig.checked(["log", "-1", "--format=%B", branch])
        #expect(message.contains("Gt-Bead: \(bead)"))
        let worktree = rig.root + "/repo-polecats/furiosa"
        #expect(try rig.checked(["worktree", "list"]).contains(worktree))
        #expect(FileManager.default.fileExists(atPath: worktree + "/hello.txt"))
        #expect(try rig.checked(["rev-parse", "main"]) == (try rig.checked(["rev-parse", "\(branch)~1"])))

        // The record: one ref, a commit per change, and a second sling gets the next name.
        let record = try rig.json(try rig.checked(["polecat", "status", "furiosa", "--json"]))
        #expect(record["state"] as? String == "running")
        #expect(record["worktree"] as? String == worktree)
        #expect((record["pid"] as? Int ?? 0) > 0 && record["pid_start"] != nil)
        let log = try rig.checked(["log", "--format=%s", "refs/gt/polecats/furiosa"])
        #expect(log == "start furiosa\nreserve furiosa")
        let second = try rig.bead("create", "Say goodbye", "-q")
        let other = try rig.checked(["polecat", "sling", second, "--agent", "true", "-q"])
        #expect(other == "nux")
        #expect(try rig.checked(["polecat", "list", "-q"]) == "furiosa\nnux")

        // Bad input: one line, a status, nothing written.
        let before = try rig.everyRef()
        let taken = try rig.git(["polecat", "sling", bead, "--agent", "true"])
        #expect(taken.status == 1 && taken.stderr.contains("it is in_progress"))
        let noAgent = try rig.git(["polecat", "sling", second])
        #expect(noAgent.status == 64 && noAgent.stderr.contains("no agent"))
        let unknown = try rig.git(["polecat", "status", "nobody"])
        #expect(unknown.status == 2)
        #expect(try rig.everyRef() == before)
    }
}
