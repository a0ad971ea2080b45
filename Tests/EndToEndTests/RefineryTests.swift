import Foundation
import TestSupport
import Testing

/// A rig with a sample project and helpers to make branches and merge requests.
final class RefineryRig {
    let rig: TemporaryRig
    /// Every gate run appends "<tree> green|red" here.
    let gateLog: String

    init(gate: String? = nil, tools: [String] = ["bead", "mail", "molecule", "witness", "rig", "refinery"]) throws {
        rig = try TemporaryRig(tools: tools)
        gateLog = rig.root + "/gate.log"
        try rig.repository.commitFile("shared.txt", "one\ntwo\nthree\n", message: "initial")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        _ = try rig.checked(["config", "gt.refinery.gate", gate ?? Self.gate(log: gateLog)])
        // Runs only when a test says so: enqueue and retry would start one in the background.
        _ = try rig.checked(["config", "gt.refinery.auto", "false"])
    }

    /// Green unless a tracked file says BROKEN; logs each run's tree and colour.
    static func gate(log: String, extra: String = "") -> String {
        "t=$(git rev-parse HEAD^{tree}); \(extra)"
            + "if grep -l BROKEN *.txt; then echo \"$t red\" >> '\(log)'; echo gate says broken; exit 1; fi; "
            + "echo \"$t green\" >> '\(log)'"
    }

    /// A branch from main with one commit writing `files`, queued as a merge request.
    @discardableResult
    func request(_ branch: String, _ files: [String: String], priority: Int? = nil) throws -> String {
        _ = try rig.checked(["branch", branch, "main"])
        let worktree = rig.root + "/wt-" + branch.replacingOccurrences(of: "/", with: "-")
        _ = try rig.checked(["worktree", "add", "-q", worktree, branch])
        for (name, text) in files { try text.write(toFile: worktree + "/" + name, atomically: true, encoding: .utf8) }
        _ = try rig.checked(["add", "-A"], in: worktree)
        _ = try rig.checked(["commit", "-q", "-m", "Work on \(branch)"], in: worktree)
        _ = try rig.checked(["worktree", "remove", worktree])
        return try rig.checked(
            ["refinery", "enqueue", branch, "-q"] + (priority.map { ["--priority", "\($0)"] } ?? []))
    }

    func requestJSON(_ id: String) throws -> [String: Any] {
        let shown = try rig.json(try rig.bead("show", id, "--json"))
        return shown["merge_request"] as? [String: Any] ?? [:]
    }

    /// Every message in `box`, in full.
    func mail(_ box: String) throws -> String {
        let ids = try rig.checked(["mail", "inbox", "-b", box, "-q", "-n", "1000"]).split(separator: "\n").map(
            String.init)
        return ids.isEmpty ? "" : try rig.checked(["mail", "read", "-b", box] + ids)
    }

    func gateLines() -> [String] {
        ((try? String(contentsOfFile: gateLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The merge requests named by the target's first-parent merges, oldest first.
    func landedOrder() throws -> [String] {
        try rig.checked([
            "log", "--first-parent", "--reverse", "--format=%(trailers:key=Gt-Merge-Request,valueonly)", "main",
        ])
        .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

@Suite struct RefineryTests {
    @Test func tenRequestsLandInOrderConflictsAndARedGateBounceAndTheTargetOnlyMovesToGreenTrees() throws {
        let r = try RefineryRig()
        let rig = r.rig
        var ids: [String] = []
        for index in 1...10 {
            switch index {
            case 1: ids.append(try r.request("f1", ["shared.txt": "ONE\ntwo\nthree\n"]))
            case 4: ids.append(try r.request("c4", ["shared.txt": "uno\ntwo\nthree\n"]))
            case 7: ids.append(try r.request("c7", ["shared.txt": "eins\ntwo\nthree\n", "more.txt": "m\n"]))
            case 5: ids.append(try r.request("f5", ["bad5.txt": "BROKEN on purpose\n"]))
            default: ids.append(try r.request("f\(index)", ["file\(index).txt": "\(index)\n"]))
            }
        }
        #expect(try rig.checked(["refinery", "queue", "-q"]).split(separator: "\n").map(String.init) == ids)
        let before = try rig.checked(["rev-parse", "main"])
        let run = try rig.json(try rig.checked(["refinery", "run", "--json"]))
        let events = run["events"] as? [[String: Any]] ?? []
        let landed = [0, 1, 2, 5, 7, 8, 9].map { ids[$0] }
        #expect(try r.landedOrder() == landed)
        #expect(events.filter { $0["kind"] as? String == "merged" }.compactMap { $0["request"] as? String } == landed)
        for index in [3, 6] {
            let info = try r.requestJSON(ids[index])
            #expect(info["state"] as? String == "bounced")
            #expect(info["paths"] as? [String] == ["shared.txt"], "\(info)")
        }
        let red = try r.requestJSON(ids[4])
        #expect(red["state"] as? String == "bounced")
        #expect((red["reason"] as? String ?? "").contains("gate says broken"))
        // No polecat made them: each bounce filed a bead and told the mayor, with the paths or the output.
        let mayor = try rig.checked(["mail", "inbox", "-b", "mayor", "--json"])
        let subjects = (try JSONSerialization.jsonObject(with: Data(mayor.utf8)) as? [[String: Any]] ?? [])
            .compactMap { $0["subject"] as? String }
        #expect(subjects.filter { $0.hasPrefix("Bounced") }.count == 3)
        #expect(subjects.filter { $0.hasPrefix("MERGED") }.count == 7)
        let bodies = try r.mail("mayor")
        #expect(bodies.contains("Conflicting paths:\n  shared.txt"))
        #expect(bodies.contains("bad5.txt"))
        // The target moved only to trees the gate passed, one compare-and-swap per landing.
        let green = Set(r.gateLines().filter { $0.hasSuffix(" green") }.map { String($0.prefix(40)) })
        let moves = try rig.checked(["reflog", "show", "--format=%H", "main"]).split(separator: "\n").map(String.init)
        let after = moves.prefix { $0 != before }
        #expect(after.count == 7)
        for commit in after {
            #expect(green.contains(try rig.checked(["rev-parse", commit + "^{tree}"])), "\(commit)")
            let note = try rig.checked(["notes", "--ref=gt/refinery", "show", commit])
            #expect(note.contains("\"result\":\"landed\"") && note.contains("\"result\":\"pass\""))
        }
        // The main checkout followed the target; merged branches are gone, bounced ones kept.
        #expect(try rig.checked(["status", "--porcelain"]).isEmpty)
        #expect(FileManager.default.fileExists(atPath: rig.path + "/file10.txt"))
        #expect(
            try rig.checked(["branch", "--format=%(refname:short)"]).split(separator: "\n").sorted() == [
                "c4", "c7", "f5", "main",
            ])
        #expect(try rig.checked(["fsck", "--no-dangling"]).isEmpty)
        #expect(try rig.checked(["worktree", "list"]).split(separator: "\n").count == 1)
        #expect(try rig.git(["show-ref", "--verify", "refs/gt/refinery/lease"]).status != 0)

        // A bounced request comes back once its branch is fixed.
        _ = try rig.checked(["checkout", "-q", "f5"])
        _ = try rig.checked(["rm", "-q", "bad5.txt"])
        try "fixed\n".write(toFile: rig.path + "/good5.txt", atomically: true, encoding: .utf8)
        _ = try rig.checked(["add", "good5.txt"])
        _ = try rig.checked(["commit", "-q", "-m", "Fix f5"])
        _ = try rig.checked(["checkout", "-q", "main"])
        _ = try rig.checked(["refinery", "retry", ids[4]])
        _ = try rig.checked(["refinery", "run", "-q"])
        #expect(try r.requestJSON(ids[4])["state"] as? String == "merged")
        #expect(FileManager.default.fileExists(atPath: rig.path + "/good5.txt"))
    }

    @Test func aBatchOfEightFindsItsCulpritInFourGateRunsAndLandsTheOtherSeven() throws {
        let r = try RefineryRig()
        let rig = r.rig
        _ = try rig.checked(["config", "gt.refinery.batch", "8"])
        var ids: [String] = []
        for index in 1...8 {
            ids.append(
                try r.request("b\(index)", index == 6 ? ["bad.txt": "BROKEN\n"] : ["b\(index).txt": "\(index)\n"]))
        }
        let run = try rig.json(try rig.checked(["refinery", "run", "--json"]))
        let runs = run["gate_runs"] as? Int ?? 0
        // All eight (red), then halves: 4 green, 6 red, 5 green: the culprit is the sixth.
        // The two after it are merged again onto the new target and tested once more.
        #expect(runs == 5, "\(r.gateLines())")
        let lines = r.gateLines()
        #expect(lines.prefix(4).map { $0.hasSuffix(" green") } == [false, true, false, true], "\(lines)")
        #expect(try r.landedOrder() == ids.enumerated().filter { $0.offset != 5 }.map(\.element))
        #expect(try r.requestJSON(ids[5])["state"] as? String == "bounced")
        let finalTree = try rig.checked(["rev-parse", "main^{tree}"])
        #expect(lines.last == finalTree + " green")
    }

    @Test func aKilledRefineryLeavesItsWorkForTheNextRunAndNothingMergesTwice() throws {
        let r = try RefineryRig()
        let rig = r.rig
        let marker = rig.root + "/slow-once"
        // The gate of the second request hangs the first time (until killed).
        _ = try rig.checked([
            "config", "gt.refinery.gate",
            RefineryRig.gate(
                log: r.gateLog,
                extra: "if [ -f k2.txt ] && [ ! -f '\(marker)' ]; then touch '\(marker)'; sleep 30; fi; "),
        ])
        let ids = try (1...3).map { try r.request("k\($0)", ["k\($0).txt": "\($0)\n"]) }
        let refinery = try Child.start(
            ["\(rig.bin)/git-refinery", "run"], in: rig.path, environment: rig.repository.environment)
        for _ in 0..<400 where !FileManager.default.fileExists(atPath: marker) { usleep(50_000) }
        #expect(FileManager.default.fileExists(atPath: marker))
        // While it runs, another run finds the lease held and leaves the queue to it.
        let busy = try rig.checked(["refinery", "run"])
        #expect(busy.contains("holds the lease"), "\(busy)")
        let status = try rig.checked(["refinery", "status"])
        #expect(status.contains("running: ") && status.contains(ids[1]), "\(status)")
        refinery.signal(SIGKILL)
        refinery.wait()
        // The gate's shell (its command names this test's marker), not other tests' sleeps.
        _ = try? run("pkill", ["-KILL", "-f", marker])
        #expect(try r.requestJSON(ids[0])["state"] as? String == "merged")
        #expect(try r.requestJSON(ids[1])["state"] as? String == "queued")

        // Its pid is gone: the next run takes the lease over at once and finishes the queue.
        let next = try rig.checked(["refinery", "run"])
        #expect(next.contains("took over the lease"), "\(next)")
        #expect(try r.landedOrder() == ids)
        for id in ids { #expect(try r.requestJSON(id)["state"] as? String == "merged") }
        #expect(try rig.checked(["fsck", "--no-dangling"]).isEmpty)
        #expect(try rig.checked(["worktree", "list"]).split(separator: "\n").count == 1)
        #expect(try rig.checked(["refinery", "status"]).contains("idle"))
    }

    @Test func aLeaseHeldElsewhereIsRespectedUntilItExpires() throws {
        let r = try RefineryRig()
        let rig = r.rig
        let id = try r.request("leased", ["leased.txt": "l\n"])
        func writeLease(expires: Int) throws {
            let json =
                "{\"acquired\":0,\"current\":[],\"expires\":\(expires),\"host\":\"elsewhere\",\"pid\":1,\"pid_start\":1}\n"
            let blob = try rig.git(["hash-object", "-w", "--stdin"], input: json).output
            let tree = try rig.git(["mktree"], input: "100644 blob \(blob)\tlease.json\n").output
            let commit = try rig.git(["commit-tree", tree, "-m", "refinery lease"]).output
            _ = try rig.checked(["update-ref", "refs/gt/refinery/lease", commit])
        }
        // Held by a refinery on another host until far in the future: this one stays out.
        try writeLease(expires: Int(Date().timeIntervalSince1970) + 3_600)
        let busy = try rig.checked(["refinery", "run"])
        #expect(busy.contains("another refinery (elsewhere/1) holds the lease"), "\(busy)")
        #expect(try r.requestJSON(id)["state"] as? String == "queued")
        // Expired: the next run takes it over and lands the request.
        try writeLease(expires: Int(Date().timeIntervalSince1970) - 1)
        let took = try rig.checked(["refinery", "run"])
        #expect(took.contains("took over the lease of elsewhere/1"), "\(took)")
        #expect(try r.requestJSON(id)["state"] as? String == "merged")
        #expect(try rig.git(["show-ref", "--verify", "refs/gt/refinery/lease"]).status != 0)
    }

    @Test func aRequestAlreadyOnTheTargetIsClosedNotMergedAgain() throws {
        let r = try RefineryRig()
        let rig = r.rig
        let id = try r.request("early", ["early.txt": "e\n"])
        // As if a run died right after moving the target: the merge is there, the request open.
        _ = try rig.checked(["merge", "-q", "--no-ff", "-m", "Merge early", "early"])
        let tip = try rig.checked(["rev-parse", "main"])
        let run = try rig.json(try rig.checked(["refinery", "run", "--json"]))
        let events = run["events"] as? [[String: Any]] ?? []
        #expect(events.map { $0["kind"] as? String } == ["recovered"])
        #expect(try rig.checked(["rev-parse", "main"]) == tip)
        #expect(try r.requestJSON(id)["state"] as? String == "merged")
        #expect(try r.requestJSON(id)["merged_as"] as? String == tip)
    }

    @Test func aFlakyGateIsRetriedAndARedTargetBlamesNoRequest() throws {
        let r = try RefineryRig()
        let rig = r.rig
        // Fails the first run on each tree, passes the second.
        let seen = rig.root + "/seen"
        try FileManager.default.createDirectory(atPath: seen, withIntermediateDirectories: true)
        _ = try rig.checked([
            "config", "gt.refinery.gate",
            "t=$(git rev-parse HEAD^{tree}); if [ ! -f '\(seen)'/$t ]; then touch '\(seen)'/$t; echo flake; exit 1; fi",
        ])
        _ = try rig.checked(["config", "gt.refinery.retries", "1"])
        let flaky = try r.request("flaky", ["flaky.txt": "f\n"])
        let run = try rig.json(try rig.checked(["refinery", "run", "--json"]))
        #expect(run["gate_runs"] as? Int == 2)
        #expect(try r.requestJSON(flaky)["state"] as? String == "merged")

        // Now the target itself fails: the request is not blamed; the overseer hears of it.
        _ = try rig.checked(["config", "gt.refinery.retries", "0"])
        _ = try rig.checked(["config", "gt.refinery.gate", "if [ -f red.txt ]; then echo target is red; exit 1; fi"])
        try "x\n".write(toFile: rig.path + "/red.txt", atomically: true, encoding: .utf8)
        _ = try rig.checked(["add", "red.txt"])
        _ = try rig.checked(["commit", "-q", "-m", "Break the target"])
        let innocent = try r.request("innocent", ["innocent.txt": "i\n"])
        let bystander = try r.request("bystander", ["bystander.txt": "b\n"])
        let result = try rig.git(["refinery", "run", "--json"])
        #expect(result.status == 1)
        #expect(result.stderr == "fatal: the gate fails on main itself; the overseer is mailed\n")
        // Once: the request's gate and the target's, then the run stops and the queue waits.
        #expect((try rig.json(result.stdout))["gate_runs"] as? Int == 2, "\(result.stdout)")
        #expect(try r.requestJSON(innocent)["state"] as? String == "queued")
        #expect(try r.requestJSON(bystander)["state"] as? String == "queued")
        let overseer = try r.mail("overseer")
        #expect(overseer.contains("Target main is red") && overseer.contains("target is red"))
        #expect(try rig.checked(["mail", "inbox", "-b", "overseer", "-q"]).split(separator: "\n").count == 1)
    }

    @Test func unverifiedStepsBounceAndSubmittedOnesWait() throws {
        let w = try WitnessRig()
        let rig = w.rig
        _ = try rig.checked(["config", "gt.refinery.gate", "true"])
        try FileManager.default.createSymbolicLink(
            atPath: rig.bin + "/git-refinery", withDestinationPath: builtProduct("gasworks"))
        let refinery = TemporaryRigTool(rig: rig, tool: "refinery")
        _ = try rig.checked(["config", "gt.refinery.auto", "false"])
        let branch = "polecat/nux/\(w.bead)"
        try w.finishStep(1, file: "one.txt", contents: "1\n")
        _ = try rig.checked(["witness", "check", "--submitted"])
        try w.finishStep(2, file: "two.txt", contents: "ok\n")
        _ = try rig.checked(["witness", "check", "--submitted"])
        // The last step with checks is submitted, not yet checked: the request waits in the queue.
        try w.finishStep(3, file: "three.txt", contents: "3\n")
        let id = try refinery.checked(["enqueue", branch, "--molecule", w.molecule, "-q"])
        let waiting = try rig.json(try refinery.checked(["run", "--json"]))
        #expect((waiting["events"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["waiting"])
        #expect(try rig.json(try rig.bead("show", id, "--json"))["status"] as? String == "open")
        // Verified and approved, but a later commit made with --no-verify names a step with
        // checks that no verdict covers: verify refuses the branch and the request bounces.
        _ = try rig.checked(["witness", "check", "--submitted"])
        _ = try rig.checked(["witness", "approve", "\(w.molecule).4"])
        try w.write("three.txt", "changed after the verdict\n")
        _ = try w.workChecked(["add", "three.txt"])
        _ = try w.workChecked([
            "commit", "--no-verify", "-q", "-m", "Sneak\n\nGt-Bead: \(w.bead)\nGt-Step: \(w.molecule).3",
        ])
        _ = try refinery.checked(["retry", id])
        _ = try refinery.checked(["run"])
        let info = try rig.json(try rig.bead("show", id, "--json"))["merge_request"] as? [String: Any] ?? [:]
        #expect(info["state"] as? String == "bounced")
        let reason = info["reason"] as? String ?? ""
        #expect(reason.contains("not verified") && reason.contains("which no passing verdict covers"), "\(reason)")
        #expect(try rig.checked(["log", "--format=%s", "main"]) == "initial")

        // Without the sneaked commit the branch lands.
        _ = try w.workChecked(["reset", "-q", "--hard", "HEAD~1"])
        _ = try refinery.checked(["retry", id])
        _ = try refinery.checked(["run"])
        let landed = try rig.json(try rig.bead("show", id, "--json"))["merge_request"] as? [String: Any] ?? [:]
        #expect(landed["state"] as? String == "merged")
        #expect(try rig.json(try rig.bead("show", w.molecule, "--json"))["status"] as? String == "closed")
        #expect(try rig.json(try rig.bead("show", w.bead, "--json"))["status"] as? String == "closed")
    }

    @Test func prModePushesTheBranchAndPrintsThePullRequestCommandWithoutTouchingTheTarget() throws {
        let r = try RefineryRig()
        let rig = r.rig
        let remote = try TemporaryRepository(bare: true)
        _ = try rig.checked(["remote", "add", "origin", remote.path])
        _ = try rig.checked(["push", "-q", "origin", "main"])
        _ = try rig.checked(["config", "gt.refinery.mode", "pr"])
        let id = try r.request("feature/pr", ["pr.txt": "p\n"])
        let head = try rig.checked(["rev-parse", "feature/pr"])
        let before = try rig.checked(["rev-parse", "main"])
        let out = try rig.checked(["refinery", "run"])
        #expect(out.contains("pull-request \(id)"))
        #expect(try remote.gitOutput("rev-parse", "refs/heads/feature/pr") == head)
        #expect(try rig.checked(["rev-parse", "main"]) == before)
        #expect(try remote.gitOutput("rev-parse", "main") == before)
        let info = try r.requestJSON(id)
        #expect(info["state"] as? String == "pull-request")
        let command = (info["pull_request"] as? [String: Any])?["command"] as? String ?? ""
        #expect(
            command
                == "gh pr create --base 'main' --head 'feature/pr' --title 'Merge feature/pr' --body 'Merge request \(id)'"
        )
        #expect(try rig.checked(["refinery", "queue", "-q"]).isEmpty)
    }

    @Test func badInputGetsOneLineAndChangesNothing() throws {
        let r = try RefineryRig()
        let rig = r.rig
        let id = try r.request("ok", ["ok.txt": "o\n"])
        let refs = try rig.stateRefs()
        for (arguments, status, message) in [
            (["refinery", "retry", "gw-zzzz"], Int32(2), "fatal: no bead matches 'gw-zzzz'\n"),
            (["refinery", "enqueue", "nope"], 2, "fatal: no branch 'nope'\n"),
            (
                ["refinery", "enqueue", "ok"], 1,
                "fatal: ok already has merge request \(id) (queued): git refinery retry \(id) queues its new head\n"
            ),
            (["refinery", "enqueue", "main"], 1, "fatal: main is the target branch itself\n"),
            (["refinery", "run", "--once", "--watch"], 64, "fatal: give --once or --watch, not both\n"),
        ] {
            let result = try rig.git(arguments)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            #expect(result.stderr == message, "\(arguments): \(result.stderr)")
        }
        _ = try rig.checked(["config", "gt.refinery.batch", "many"])
        let bad = try rig.git(["refinery", "run"])
        #expect(bad.status == 64)
        #expect(bad.stderr == "fatal: gt.refinery.batch must be a whole number of at least 1, not 'many'\n")
        #expect(try rig.stateRefs() == refs)
        _ = try rig.checked(["config", "--unset", "gt.refinery.batch"])
        _ = try rig.checked(["refinery", "reject", id, "--reason", "not wanted"])
        let again = try rig.git(["refinery", "reject", id])
        #expect(again.status == 1 && again.stderr == "fatal: \(id) is already rejected\n")
        let retried = try rig.git(["refinery", "retry", id])
        #expect(retried.status == 1 && retried.stderr == "fatal: \(id) is rejected: nothing to retry\n")
        let notARequest = try rig.bead("create", "Plain task", "-q")
        let wrong = try rig.git(["refinery", "reject", notARequest])
        #expect(wrong.status == 1 && wrong.stderr == "fatal: \(notARequest) is a task, not a merge request\n")
    }
}

/// Runs one tool's subcommands in a rig and returns stdout, failing on a non-zero exit.
struct TemporaryRigTool {
    let rig: TemporaryRig
    let tool: String

    func checked(_ arguments: [String]) throws -> String { try rig.checked([tool] + arguments) }
}

@Suite struct RefineryPolecatTests {
    /// Waits (up to 30 s) until `condition` holds.
    func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
        for _ in 0..<600 {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    @Test func doneStartsTheRefineryWhichLandsBouncesAConflictToItsPolecatAndDestroysMergedPolecats() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "molecule", "witness", "rig", "polecat", "refinery"])
        try rig.repository.commitFile("shared.txt", "base\n", message: "initial")
        try rig.commitFormula(
            "one", "formula = \"one\"\n[[steps]]\nid = \"work\"\ntitle = \"Work\"\ncheck = \"test -f shared.txt\"\n")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        _ = try rig.checked(["config", "gt.refinery.gate", "grep -q . shared.txt"])
        let marks = rig.root + "/marks"
        try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
        // A scripted agent: does its step, has the witness check it, and finishes.
        let agent = """
            step=$(git molecule next --claim -q) && echo "$GT_POLECAT was here" > shared.txt && git add shared.txt && \
            git commit -q -m "Work of $GT_POLECAT" -m "Gt-Step-Done: $step" && git witness check --submitted -q && \
            git polecat done > '\(marks)/'"$GT_POLECAT.done" 2>&1; echo $? > '\(marks)/'"$GT_POLECAT.exit"
            """
        let first = try rig.bead("create", "First change", "-q")
        let second = try rig.bead("create", "Second change", "-q")
        _ = try rig.checked(["polecat", "sling", first, "--formula", "one", "--agent", agent, "--name", "ace", "-q"])
        #expect(eventually { FileManager.default.fileExists(atPath: marks + "/ace.exit") })
        func request(of polecat: String) throws -> [String: Any] {
            let requests = try rig.json("{\"all\":" + rig.checked(["refinery", "queue", "--all", "--json"]) + "}")
            let all = requests["all"] as? [[String: Any]] ?? []
            return all.last { $0["polecat"] as? String == polecat } ?? [:]
        }
        let log = { (try? String(contentsOfFile: rig.path + "/.git/gt/refinery/run.log", encoding: .utf8)) ?? "" }
        #expect(try eventually { try request(of: "ace")["state"] as? String == "merged" }, "\(log())")
        // Landed and destroyed: no worktree, no branch, the name free; MERGED mailed.
        let listed = { (try? rig.checked(["polecat", "list"])) ?? "?" }
        #expect(eventually { listed().isEmpty }, "\(listed())")
        #expect(try rig.checked(["branch", "--list", "polecat/*"]).isEmpty)
        #expect(try rig.checked(["worktree", "list"]).split(separator: "\n").count == 1)
        #expect(try rig.checked(["mail", "inbox", "-b", "polecat/ace"]).contains("MERGED"))
        #expect(try rig.checked(["mail", "inbox", "-b", "mayor"]).contains("MERGED"))
        #expect(try rig.json(try rig.bead("show", first, "--json"))["status"] as? String == "closed")
        #expect(try String(contentsOfFile: rig.path + "/shared.txt", encoding: .utf8) == "ace was here\n")

        // The second polecat branched before that landed: its change conflicts and comes back
        // to it with the path; it merges the target in, resolves, and finishes again.
        _ = try rig.checked(["polecat", "sling", second, "--formula", "one", "--agent", "true", "--name", "bolt", "-q"])
        let status = try rig.json(try rig.checked(["polecat", "status", "bolt", "--json"]))
        let worktree = status["worktree"] as? String ?? ""
        let env = ["GT_POLECAT": "bolt"]
        _ = try rig.checked(["branch", "-f", "stale-base", "main~1"])
        _ = try rig.checked(["reset", "-q", "--hard", "stale-base"], in: worktree, env: env)
        _ = try rig.checked(["molecule", "next", "--claim", "-q"], in: worktree, env: env)
        try "bolt was here\n".write(toFile: worktree + "/shared.txt", atomically: true, encoding: .utf8)
        let step = try rig.checked(["molecule", "next", "-q"], in: worktree, env: env)
        _ = try rig.checked(["add", "shared.txt"], in: worktree, env: env)
        _ = try rig.checked(
            ["commit", "-q", "-m", "Work of bolt", "-m", "Gt-Step-Done: \(step)"], in: worktree, env: env)
        _ = try rig.checked(["witness", "check", "--submitted", "-q"])
        _ = try rig.checked(["polecat", "done", "-q"], in: worktree, env: env)
        #expect(try eventually { try request(of: "bolt")["state"] as? String == "bounced" }, "\(log())")
        let bounce = try rig.checked(["mail", "inbox", "-b", "polecat/bolt", "--json"])
        #expect(bounce.contains("Bounced"))
        let ids = try rig.checked(["mail", "inbox", "-b", "polecat/bolt", "-q"]).split(separator: "\n").map(String.init)
        let read = try rig.checked(["mail", "read", "-b", "polecat/bolt"] + ids)
        #expect(read.contains("Conflicting paths:\n  shared.txt"), "\(read)")
        #expect(
            try rig.json(try rig.checked(["polecat", "status", "bolt", "--json"]))["state"] as? String == "running")
        let merge = try rig.git(["merge", "-q", "main"], env: env, in: worktree)
        #expect(merge.status != 0)
        try "ace and bolt were here\n".write(toFile: worktree + "/shared.txt", atomically: true, encoding: .utf8)
        _ = try rig.checked(["add", "shared.txt"], in: worktree, env: env)
        _ = try rig.checked(["commit", "-q", "--no-edit"], in: worktree, env: env)
        _ = try rig.checked(["polecat", "done", "-q"], in: worktree, env: env)
        #expect(try eventually { try request(of: "bolt")["state"] as? String == "merged" }, "\(log())")
        #expect(try String(contentsOfFile: rig.path + "/shared.txt", encoding: .utf8) == "ace and bolt were here\n")
        // The bounced request was superseded by the new one, not left open.
        let requests = try rig.checked(["refinery", "queue", "--all", "-q"]).split(separator: "\n")
        #expect(requests.count == 3)
        #expect(try rig.checked(["refinery", "queue", "-q"]).isEmpty)
        let fsck = try rig.git(["fsck", "--no-dangling"])
        #expect(fsck.status == 0 && fsck.stdout.isEmpty, "\(fsck.stdout)\(fsck.stderr)")
        #expect(eventually { listed().isEmpty }, "\(listed())")
    }

    @Test func enqueueAndRetryStartARunInTheBackground() throws {
        let r = try RefineryRig()
        let rig = r.rig
        _ = try rig.checked(["config", "--unset", "gt.refinery.auto"])
        _ = try rig.checked(["config", "gt.refinery.gate", "! grep -q BROKEN *.txt"])
        let id = try r.request("later", ["later.txt": "BROKEN\n"])
        #expect(eventually { (try? r.requestJSON(id)["state"] as? String) == "bounced" })
        _ = try rig.checked(["checkout", "-q", "later"])
        try "fine\n".write(toFile: rig.path + "/later.txt", atomically: true, encoding: .utf8)
        _ = try rig.checked(["commit", "-q", "-am", "Fix later"])
        _ = try rig.checked(["checkout", "-q", "main"])
        let retried = try rig.checked(["refinery", "retry", id])
        #expect(retried.contains("started the refinery") || retried.contains(id))
        #expect(eventually { (try? r.requestJSON(id)["state"] as? String) == "merged" })
        #expect(eventually { (try? rig.checked(["show", "main:later.txt"])) == "fine" })
    }

    @Test func aPushToAHubStartsItsRefineryThroughPostReceive() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "molecule", "witness", "rig", "refinery"])
        try rig.repository.commitFile("README", "hub project\n", message: "initial")
        let hub = try TemporaryRepository(
            bare: true, extraEnvironment: ["PATH": rig.repository.environment["PATH"] ?? ""])
        _ = try rig.checked(["config", "gt.prefix", "gw"], in: hub.path)
        let initialized = try rig.checked(["rig", "init"], in: hub.path)
        #expect(initialized.contains("post-receive"), "\(initialized)")
        #expect(
            try String(contentsOfFile: hub.path + "/hooks/post-receive", encoding: .utf8).contains(
                "git-refinery trigger"))
        _ = try rig.checked(["remote", "add", "origin", hub.path])
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        _ = try rig.checked(["push", "-q", "origin", "main"])
        _ = try rig.checked(["checkout", "-q", "-b", "feature"])
        try "f\n".write(toFile: rig.path + "/feature.txt", atomically: true, encoding: .utf8)
        _ = try rig.checked(["add", "feature.txt"])
        _ = try rig.checked(["commit", "-q", "-m", "Feature"])
        _ = try rig.checked(["checkout", "-q", "main"])
        let id = try rig.checked(["refinery", "enqueue", "feature", "-q"])
        // Branch and state in one push; the hub lands it by itself.
        _ = try rig.checked(["push", "-q", "origin", "feature", "refs/gt/*:refs/gt/*"])
        let landed = eventually {
            (try? hub.gitOutput("log", "--format=%s", "-1", "main")) == "Merge feature (\(id))"
        }
        let log = (try? String(contentsOfFile: hub.path + "/gt/refinery/run.log", encoding: .utf8)) ?? "no log"
        #expect(landed, "\(log)")
        #expect(try hub.gitOutput("show", "main:feature.txt") == "f")
        // The request is closed just after the target moves.
        let shown = { (try? hub.gitOutput("show", "refs/gt/beads/\(id):bead.json")) ?? "" }
        #expect(eventually { shown().contains("\"state\": \"merged\"") }, "\(shown())")
        #expect(try hub.gitOutput("fsck", "--no-dangling").isEmpty)
    }
}
