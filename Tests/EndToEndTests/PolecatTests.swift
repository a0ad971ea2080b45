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
        #expect(log == "start furiosa\nlaunch furiosa\nclaim furiosa\nreserve furiosa")
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

@Suite struct PolecatLifecycleTests {
    func waitFor(_ path: String) -> Bool {
        for _ in 0..<400 where !FileManager.default.fileExists(atPath: path) { usleep(50_000) }
        return FileManager.default.fileExists(atPath: path)
    }

    @Test func aKilledAgentRestartsWhereItStoppedAndTheOldGenerationIsRefused() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "molecule", "witness", "rig", "polecat"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        let bead = try rig.bead("create", "Two parts", "-q")
        let marks = rig.root + "/marks"
        try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
        // A scripted agent: the first part, then it hangs (and is killed); a restarted agent
        // finds the first part committed, does the second and finishes.
        let agent = """
            if [ -f part1.txt ]; then \
            git polecat prime > '\(marks)/prime2'; echo two > part2.txt; git add part2.txt; \
            git commit -q -m 'Part two'; git polecat done -q > '\(marks)/mr'; echo $GT_GENERATION > '\(marks)/finished'; \
            else \
            git polecat heartbeat; echo one > part1.txt; git add part1.txt; git commit -q -m 'Part one'; \
            echo $GT_GENERATION > '\(marks)/started'; sleep 60; \
            fi
            """
        _ = try rig.checked(["polecat", "sling", bead, "--agent", agent, "-q"])
        #expect(waitFor(marks + "/started"))
        let first = try rig.json(try rig.checked(["polecat", "status", "furiosa", "--json"]))
        let oldGeneration = first["generation"] as? String ?? ""
        #expect(first["alive"] as? Bool == true)
        // The agent's whole process group (its sleep too), never other tests' processes.
        kill(-Int32(first["pid"] as? Int ?? 0), SIGKILL)
        usleep(200_000)
        #expect((try rig.json(try rig.checked(["polecat", "status", "furiosa", "--json"])))["alive"] as? Bool == false)

        _ = try rig.checked(["polecat", "restart", "furiosa"])
        #expect(waitFor(marks + "/finished"))
        let second = try rig.json(try rig.checked(["polecat", "status", "furiosa", "--json"]))
        #expect(second["generation"] as? String != oldGeneration)
        #expect(second["last_heartbeat"] != nil)
        #expect(
            try String(contentsOfFile: marks + "/finished", encoding: .utf8)
                == "\(second["generation"] as? String ?? "")\n")
        #expect(second["state"] as? String == "done")
        // Both parts are on the branch: nothing the killed agent committed was lost.
        let branch = "polecat/furiosa/\(bead)"
        #expect(try rig.checked(["log", "--format=%s", "main..\(branch)"]) == "Part two\nPart one")
        // The merge request names the branch head; the refinery and witness were told.
        let request = try String(contentsOfFile: marks + "/mr", encoding: .utf8).trimmingCharacters(in: .newlines)
        let mr = try rig.json(try rig.bead("show", request, "--json"))
        #expect(mr["issue_type"] as? String == "merge-request")
        let info = mr["merge_request"] as? [String: Any] ?? [:]
        #expect(info["head"] as? String == (try rig.checked(["rev-parse", branch])))
        #expect(info["branch"] as? String == branch && info["target"] as? String == "main")
        #expect(try rig.checked(["mail", "inbox", "-b", "refinery"]).contains("Merge request \(request)"))
        #expect(try rig.checked(["mail", "inbox", "-b", "witness"]).contains("Merge request \(request)"))
        // A process of the old generation can no longer change anything.
        let stale = try rig.git(["polecat", "heartbeat", "--name", "furiosa"], env: ["GT_GENERATION": oldGeneration])
        #expect(stale.status == 1)
        #expect(stale.stderr.contains("stale generation \(oldGeneration)"))
        let staleDone = try rig.git(["polecat", "done", "--name", "furiosa"], env: ["GT_GENERATION": oldGeneration])
        #expect(staleDone.status == 1)
    }

    @Test func doneRefusesUncommittedWorkAndAnEmptyBranch() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "rig", "polecat"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        let bead = try rig.bead("create", "Nothing yet", "-q")
        _ = try rig.checked(["polecat", "sling", bead, "--agent", "true", "-q"])
        let empty = try rig.git(["polecat", "done", "--name", "furiosa"])
        #expect(empty.status == 1 && empty.stderr.contains("has no new commits"))
        let worktree = rig.root + "/repo-polecats/furiosa"
        try "draft\n".write(toFile: worktree + "/draft.txt", atomically: true, encoding: .utf8)
        let dirty = try rig.git(["polecat", "done", "--name", "furiosa"])
        #expect(dirty.status == 1 && dirty.stderr.contains("has uncommitted changes"))
        #expect(try rig.checked(["polecat", "status", "furiosa", "--json"]).contains("\"state\":\"running\""))
        _ = try rig.checked(["polecat", "stop", "furiosa"])
        #expect(try rig.checked(["polecat", "list"]).contains("stopped"))
        // Only a running polecat stops; a stopped one is not marked again.
        let again = try rig.git(["polecat", "stop", "furiosa"])
        #expect(again.status == 1 && again.stderr.contains("it is stopped"))
        // The draft is uncommitted: nuke refuses, and --force removes the worktree but keeps the branch.
        let dirty2 = try rig.git(["polecat", "nuke", "furiosa"])
        #expect(dirty2.status == 1 && dirty2.stderr.contains("uncommitted changes"))
        #expect(FileManager.default.fileExists(atPath: worktree + "/draft.txt"))
    }
}

@Suite struct PolecatCleanupTests {
    @Test func nukeRefusesUnmergedWorkAndGCLeavesNothingAfterTheMerge() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "rig", "polecat"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        let bead = try rig.bead("create", "Some work", "-q")
        _ = try rig.checked(["polecat", "sling", bead, "--agent", "true", "-q"])
        let worktree = rig.root + "/repo-polecats/furiosa"
        let branch = "polecat/furiosa/\(bead)"
        try "work\n".write(toFile: worktree + "/work.txt", atomically: true, encoding: .utf8)
        _ = try rig.checked(["add", "work.txt"], in: worktree)
        _ = try rig.checked(["commit", "-q", "-m", "Work"], in: worktree)
        let head = try rig.checked(["rev-parse", branch])

        let refused = try rig.git(["polecat", "nuke", "furiosa"])
        #expect(refused.status == 1 && refused.stderr.contains("not merged into main"))
        #expect(FileManager.default.fileExists(atPath: worktree))
        _ = try rig.checked(["polecat", "done", "--name", "furiosa", "-q"])
        #expect(try rig.checked(["polecat", "gc"]) == "nothing to collect")

        // The refinery lands it (here: a fast-forward of main from the overseer's checkout).
        _ = try rig.checked(["update-ref", "refs/heads/main", head])
        let collected = try rig.checked(["polecat", "gc"])
        #expect(collected.contains("nuked polecat/furiosa"))
        #expect(!FileManager.default.fileExists(atPath: worktree))
        #expect(try rig.git(["rev-parse", "--verify", "-q", branch]).status != 0)
        #expect(!FileManager.default.fileExists(atPath: rig.path + "/.git/worktrees/furiosa"))
        #expect(
            try rig.checked(["worktree", "list", "--porcelain"]).split(separator: "\n").first {
                $0.hasPrefix("worktree ") && $0.contains("furiosa")
            } == nil)
        #expect(try rig.checked(["polecat", "list", "-q"]).isEmpty)
        // The name is free again.
        let next = try rig.bead("create", "More work", "-q")
        #expect(try rig.checked(["polecat", "sling", next, "--agent", "true", "-q"]) == "furiosa")

        // --force keeps unmerged commits on their branch; only --discard drops them.
        let other = "polecat/furiosa/\(next)"
        let otherTree = rig.root + "/repo-polecats/furiosa"
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Unmerged"], in: otherTree)
        let kept = try rig.checked(["polecat", "nuke", "furiosa", "--force"])
        #expect(!kept.contains("deleted branch"))
        #expect(try rig.git(["rev-parse", "--verify", "-q", other]).status == 0)
        let released = try rig.json(try rig.bead("show", next, "--json"))
        #expect(released["status"] as? String == "open")
    }
}

@Suite struct PolecatConcurrencyTests {
    @Test func tenPolecatsSlungAtOnceEachFinishWithAMergeRequest() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "molecule", "witness", "rig", "polecat"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        try rig.commitFormula(
            "one", "formula = \"one\"\n[[steps]]\nid = \"work\"\ntitle = \"Do the work\"\ncheck = \"true\"\n")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        let beads = try (1...10).map { try rig.bead("create", "Task \($0)", "-q") }
        let marks = rig.root + "/marks"
        try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
        // Each agent: prime, take its step, commit with the step-done trailer, finish.
        let agent = """
            git polecat prime > prime.txt && rm prime.txt && step=$(git molecule next --claim -q) && \
            echo "$GT_POLECAT" > "work-$GT_POLECAT.txt" && git add . && \
            git commit -q -m "Work of $GT_POLECAT" -m "Gt-Step-Done: $step" && \
            git polecat done -q > '\(marks)/'"$GT_POLECAT.mr" 2> '\(marks)/'"$GT_POLECAT.err"; \
            echo $? > '\(marks)/'"$GT_POLECAT.exit"
            """
        let slings = try beads.map { bead in
            try Child.start(
                ["git", "polecat", "sling", bead, "--formula", "one", "--agent", agent, "-q"], in: rig.path,
                environment: rig.repository.environment, stderr: .file("\(marks)/sling-\(bead).err"))
        }
        for (sling, bead) in zip(slings, beads) {
            let status = sling.wait()
            let error = (try? String(contentsOfFile: "\(marks)/sling-\(bead).err", encoding: .utf8)) ?? ""
            #expect(status == 0, "\(error)")
        }
        let records =
            try JSONSerialization.jsonObject(
                with: Data(try rig.checked(["polecat", "list", "--json"]).utf8)) as? [[String: Any]] ?? []
        let names = records.compactMap { $0["name"] as? String }
        #expect(Set(names).count == 10)
        for name in names {
            var waited = 0
            while !FileManager.default.fileExists(atPath: "\(marks)/\(name).exit"), waited < 600 {
                usleep(50_000)
                waited += 1
            }
            let exit = (try? String(contentsOfFile: "\(marks)/\(name).exit", encoding: .utf8)) ?? "none"
            let error = (try? String(contentsOfFile: "\(marks)/\(name).err", encoding: .utf8)) ?? ""
            #expect(exit == "0\n", "\(name): \(exit) \(error)")
        }
        // Ten worktrees, ten branches, ten merge requests, each bead held by its own polecat.
        let worktrees = try rig.checked(["worktree", "list"]).split(separator: "\n")
        #expect(worktrees.count == 11)
        let branches = try rig.checked(["for-each-ref", "--format=%(refname)", "refs/heads/polecat/"])
        #expect(branches.split(separator: "\n").count == 10)
        let requests = try rig.checked(["bead", "list", "--type", "merge-request", "-q"]).split(separator: "\n")
        #expect(requests.count == 10)
        let holders = try beads.map { try rig.json(try rig.bead("show", $0, "--json"))["assignee"] as? String ?? "" }
        #expect(Set(holders).count == 10 && holders.allSatisfy { $0.hasPrefix("polecat/") })
        #expect(try rig.repository.gitOutput("fsck", "--no-dangling").isEmpty)
        #expect(try rig.checked(["mail", "count", "-b", "refinery"]) == "10")
    }
}

@Suite struct PolecatResumeTests {
    @Test func aRestartedAgentResumesAtTheSameStep() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "molecule", "witness", "rig", "polecat"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        try rig.commitFormula(
            "two",
            "formula = \"two\"\n[[steps]]\nid = \"first\"\ntitle = \"First\"\ncheck = \"test -f first.txt\"\n"
                + "[[steps]]\nid = \"second\"\ntitle = \"Second\"\nneeds = [\"first\"]\ncheck = \"true\"\n")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        let bead = try rig.bead("create", "Two steps", "-q")
        let marks = rig.root + "/marks"
        try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
        let agent = """
            step=$(git molecule next --claim -q); git polecat prime > '\(marks)/prime-'$GT_GENERATION; \
            if [ -f half.txt ]; then \
            echo done > first.txt; git add first.txt; git commit -q -m 'Finish first' -m "Gt-Step-Done: $step"; \
            echo "$step" > '\(marks)/resumed'; \
            else \
            echo half > half.txt; git add half.txt; git commit -q -m 'Half of first'; echo "$step" > '\(marks)/started'; \
            sleep 60; fi
            """
        _ = try rig.checked(["polecat", "sling", bead, "--formula", "two", "--agent", agent, "-q"])
        let status = try rig.json(try rig.checked(["polecat", "status", "furiosa", "--json"]))
        let molecule = status["molecule"] as? String ?? ""
        func waitFor(_ path: String) -> Bool {
            for _ in 0..<400 where !FileManager.default.fileExists(atPath: path) { usleep(50_000) }
            return FileManager.default.fileExists(atPath: path)
        }
        #expect(waitFor(marks + "/started"))
        _ = try rig.checked(["mail", "send", "polecat/furiosa", "-s", "How is it going?", "-q"])
        let facts = try rig.json(try rig.checked(["polecat", "status", "furiosa", "--json"]))
        #expect(facts["step"] as? String == "\(molecule).1 (first)")
        #expect(facts["unread_mail"] as? Int == 1)
        #expect(try rig.checked(["polecat", "status", "furiosa"]).contains("mail:      1 unread"))
        kill(-Int32(status["pid"] as? Int ?? 0), SIGKILL)
        let restarted = try rig.json(try rig.checked(["polecat", "restart", "furiosa", "--json"]))
        #expect(waitFor(marks + "/resumed"))
        // The same step, held by the polecat across generations; nothing committed was lost.
        #expect(try String(contentsOfFile: marks + "/started", encoding: .utf8) == "\(molecule).1\n")
        #expect(try String(contentsOfFile: marks + "/resumed", encoding: .utf8) == "\(molecule).1\n")
        let prime = try String(
            contentsOfFile: marks + "/prime-\(restarted["generation"] as? String ?? "")", encoding: .utf8)
        #expect(prime.contains("Current step: \(molecule).1 (first) — First, which you hold."))
        #expect(prime.contains("test -f first.txt"))
        #expect(prime.contains("How is it going?"))
        let branch = "polecat/furiosa/\(bead)"
        #expect(try rig.checked(["log", "--format=%s", "main..\(branch)"]) == "Finish first\nHalf of first")
        _ = try rig.checked(["witness", "check", "--submitted"])
        #expect(try rig.checked(["molecule", "show", molecule]).contains("✓ \(molecule).1"))
    }
}

@Suite struct PolecatCapacityTests {
    @Test func slingsBeyondTheLimitWaitInOrder() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "rig", "polecat"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        _ = try rig.checked(["config", "gt.polecat.max", "1"])
        let beads = try (1...3).map { try rig.bead("create", "Task \($0)", "-q") }
        #expect(try rig.checked(["polecat", "sling", beads[0], "--agent", "true"]).hasPrefix("slung"))
        #expect(try rig.checked(["polecat", "sling", beads[1], "--agent", "true"]).hasPrefix("queued"))
        #expect(try rig.checked(["polecat", "sling", beads[2], "--agent", "true"]).hasPrefix("queued"))
        // Queued beads are held for their polecats: nobody else takes them.
        #expect(try rig.json(try rig.bead("show", beads[1], "--json"))["assignee"] as? String == "polecat/nux")
        #expect(!FileManager.default.fileExists(atPath: rig.root + "/repo-polecats/nux"))

        // A slot frees up: the oldest queued one starts, and only one.
        let stopped = try rig.checked(["polecat", "stop", "furiosa"])
        #expect(stopped.contains("started queued polecat/nux on \(beads[1])"))
        #expect(FileManager.default.fileExists(atPath: rig.root + "/repo-polecats/nux"))
        let states = try rig.checked(["polecat", "list"])
        #expect(states.contains("nux        running"))
        #expect(states.contains("slit       queued"))
        // The mayor sees who works, the free capacity and the queue.
        let mayor = try rig.checked(["polecat", "prime", "--role", "mayor"])
        #expect(mayor.contains("## Polecats: 1 running, 0 free of 1, 1 queued"))
        #expect(mayor.contains("- nux: \(beads[1])"))
        // Nuking a queued polecat gives its bead back.
        _ = try rig.checked(["polecat", "nuke", "slit"])
        #expect(try rig.json(try rig.bead("show", beads[2], "--json"))["status"] as? String == "open")
    }
}

@Suite struct PolecatTmuxTests {
    @Test func anAgentInATmuxSessionCanBeTypedIntoAndStopped() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "rig", "polecat"])
        let tmuxEnv = ["TMUX_TMPDIR": rig.root]
        defer {
            _ = try? run(
                "tmux", ["-L", "gasworks", "kill-server"],
                environment: rig.repository.environment.merging(tmuxEnv) { $1 })
        }
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        let bead = try rig.bead("create", "Interactive", "-q")
        let agent = "echo \"agent $GT_POLECAT $GT_BEAD ready\"; cat"
        _ = try rig.checked(["polecat", "sling", bead, "--session", "tmux", "--agent", agent, "-q"], env: tmuxEnv)
        let recorded = try rig.json(try rig.checked(["polecat", "status", "furiosa", "--json"], env: tmuxEnv))
        let session = recorded["tmux_session"] as? String ?? ""
        #expect(session.hasPrefix("gt-repo-") && session.hasSuffix("-furiosa"))
        let tmux = { (arguments: [String]) throws -> ProcessResult in
            try run(
                "tmux", ["-L", "gasworks"] + arguments, environment: rig.repository.environment.merging(tmuxEnv) { $1 })
        }
        #expect(try tmux(["has-session", "-t", "=" + session]).status == 0)
        let status = try rig.json(try rig.checked(["polecat", "status", "furiosa", "--json"], env: tmuxEnv))
        #expect(status["alive"] as? Bool == true && status["session"] as? String == "tmux")
        // A nudge is typed into the pane; the agent (here cat) reads it.
        _ = try tmux(["send-keys", "-t", "=" + session + ":", "-l", "please continue"])
        _ = try tmux(["send-keys", "-t", "=" + session + ":", "Enter"])
        var screen = ""
        for _ in 0..<100 {
            screen = try tmux(["capture-pane", "-p", "-t", "=" + session + ":"]).stdout
            if screen.split(separator: "\n").filter({ $0 == "please continue" }).count >= 2 { break }
            usleep(50_000)
        }
        #expect(screen.contains("agent furiosa \(bead) ready"))
        #expect(screen.split(separator: "\n").filter { $0 == "please continue" }.count >= 2, "\(screen)")
        let detached = try rig.git(["polecat", "attach", "nobody"], env: tmuxEnv)
        #expect(detached.status == 2)
        _ = try rig.checked(["polecat", "stop", "furiosa"], env: tmuxEnv)
        #expect(try tmux(["has-session", "-t", "=" + session]).status != 0)
        #expect(
            try rig.json(try rig.checked(["polecat", "status", "furiosa", "--json"], env: tmuxEnv))["alive"] as? Bool
                == false)
    }
}

@Suite struct CrewTests {
    @Test func crewMembersGetPersistentWorktreesAndTheMayorItsPrime() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "rig", "polecat"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        _ = try rig.bead("create", "Ready work", "-q")
        let out = rig.root + "/mayor-prime"
        let agent = "cat \"$GT_PROMPT\" > '\(out).tmp'; echo \"$GT_CREW\" >> '\(out).tmp'; mv '\(out).tmp' '\(out)'"
        _ = try rig.checked(["polecat", "crew", "add", "mayor", "--agent", agent, "--detached"])
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: out) { usleep(50_000) }
        let prime = try String(contentsOfFile: out, encoding: .utf8)
        #expect(prime.contains("# You are the mayor of the rig repo"))
        #expect(prime.contains("## Work: 1 open, 1 ready"))
        #expect(prime.hasSuffix("mayor\n"))

        _ = try rig.checked(["polecat", "crew", "add", "alice"])
        let alice = rig.root + "/repo-crew/alice"
        #expect(try rig.checked(["rig", "worker"], in: alice) == "crew/alice")
        #expect(try rig.checked(["polecat", "crew", "list", "-q"]) == "alice\nmayor")
        #expect(try rig.checked(["rev-parse", "--abbrev-ref", "HEAD"], in: alice) == "crew/alice")
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Alice's work"], in: alice)
        let refused = try rig.git(["polecat", "crew", "remove", "alice"])
        #expect(refused.status == 1 && refused.stderr.contains("not merged"))
        _ = try rig.checked(["polecat", "crew", "remove", "alice", "--force"])
        #expect(!FileManager.default.fileExists(atPath: alice))
        #expect(try rig.git(["rev-parse", "--verify", "-q", "crew/alice"]).status == 0)
        #expect(try rig.checked(["polecat", "crew", "list", "-q"]) == "mayor")
        // Crew records are not polecats: the polecats' list and mail group do not show them.
        #expect(try rig.checked(["polecat", "list", "-q"]).isEmpty)
    }
}
