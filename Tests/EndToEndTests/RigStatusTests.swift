import Foundation
import TestSupport
import Testing

@Suite struct RigStatusTests {
    @Test func statusShowsWorkersMoleculesTheQueueTheDeaconAndTheOverseersMail() throws {
        let rig = try TemporaryRig(
            tools: ["bead", "mail", "molecule", "witness", "rig", "polecat", "refinery", "deacon"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        try rig.writeFormula(
            "two",
            "formula = \"two\"\n[[steps]]\nid = \"a\"\ntitle = \"First\"\n[[steps]]\nid = \"b\"\ntitle = \"Second\"\nneeds = [\"a\"]\n"
        )
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        _ = try rig.checked(["config", "gt.refinery.auto", "false"])
        let task = try rig.bead("create", "Plain task", "-q")
        let work = try rig.bead("create", "Molecule work", "-q")
        let molecule = try rig.molecule("pour", "two", "--on", work, "-q").split(separator: "\n")[0]
        let bead = try rig.bead("create", "Sleepy", "-q")
        _ = try rig.checked(["polecat", "sling", bead, "--agent", "sleep 60", "--name", "ace", "-q"])
        defer {
            if let status = try? rig.json(try rig.checked(["polecat", "status", "ace", "--json"])),
                let pid = status["pid"] as? Int
            {
                kill(-Int32(pid), SIGKILL)
            }
        }
        _ = try rig.checked(["branch", "feature", "main"])
        _ = try rig.checked(["checkout", "-q", "feature"])
        try "x\n".write(toFile: rig.path + "/x.txt", atomically: true, encoding: .utf8)
        _ = try rig.checked(["add", "x.txt"])
        _ = try rig.checked(["commit", "-q", "-m", "Feature"])
        _ = try rig.checked(["checkout", "-q", "main"])
        let request = try rig.checked(["refinery", "enqueue", "feature", "-q"])
        _ = try rig.checked(["mail", "send", "overseer", "-s", "Need a decision", "-q"])
        _ = try rig.checked(["deacon", "patrol", "-q"])

        let status = try rig.json(try rig.checked(["rig", "status", "--json"]))
        let workers = status["workers"] as? [[String: Any]] ?? []
        #expect(workers.count == 1)
        #expect(workers.first?["name"] as? String == "ace" && workers.first?["alive"] as? Bool == true)
        #expect(workers.first?["bead"] as? String == bead)
        let molecules = status["molecules"] as? [[String: Any]] ?? []
        #expect(molecules.map { $0["id"] as? String } == [String(molecule)])
        #expect(molecules.first?["steps"] as? Int == 2 && molecules.first?["done"] as? Int == 0)
        let refinery = status["refinery"] as? [String: Any] ?? [:]
        #expect(refinery["queue"] as? [String] == [request])
        #expect(status["overseer_unread"] as? Int == 1)
        #expect((status["deacon"] as? [String: Any])?["last_patrol"] as? String != nil)
        let beads = status["beads"] as? [String: Any] ?? [:]
        #expect(beads["open"] as? Int == 3, "\(beads) \(task)")

        let text = try rig.checked(["rig", "status"])
        for part in [
            "workers (1)", "polecat/ace", "running", "molecules (1 open)", "0/2", "refinery: idle; 1 queued",
            "deacon: last patrol", "overseer: 1 unread",
        ] {
            #expect(text.contains(part), "\(part) in \(text)")
        }
        #expect(!text.contains("\u{1B}["), "no colour when stdout is not a terminal")
        let watched = try rig.checked(["rig", "status", "--watch", "--count", "2", "--interval", "0.1"])
        #expect(watched.components(separatedBy: "workers (1)").count == 3)
    }

    @Test func feedListsActivityAcrossStateRefsInTimeOrderAndFollowsNewActivity() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "rig"])
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        var env = ["GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z"]
        let first = try rig.checked(["bead", "create", "First", "-q"], env: env)
        env["GIT_COMMITTER_DATE"] = "2026-01-02T03:05:00Z"
        _ = try rig.checked(["mail", "send", "mayor", "-s", "Hello mayor", "-q"], env: env)
        env["GIT_COMMITTER_DATE"] = "2026-01-02T03:06:00Z"
        _ = try rig.checked(["bead", "close", first, "-q"], env: env)
        let feed = try rig.checked(["rig", "feed", "-n", "3"]).split(separator: "\n").map(String.init)
        #expect(feed.count == 3)
        #expect(feed[0].hasPrefix("2026-01-02T03:04:05Z beads/\(first)") && feed[0].contains("create"), "\(feed)")
        #expect(feed[1].contains("mail/mayor") && feed[1].hasSuffix("Hello mayor"), "\(feed)")
        #expect(feed[2].hasPrefix("2026-01-02T03:06:00Z beads/\(first)") && feed[2].contains("close"), "\(feed)")
        let json = try rig.checked(["rig", "feed", "-n", "1", "--json"])
        #expect(try rig.json(json)["ref"] as? String == "refs/gt/beads/\(first)")

        // Following: activity made while it runs is printed as it happens.
        let follower = try Child.start(
            ["\(rig.bin)/git-rig", "feed", "-n", "1", "--follow", "--interval", "0.2", "--timeout", "20"], in: rig.path,
            environment: rig.repository.environment, stdout: .capture)
        _ = follower.readSome()
        env["GIT_COMMITTER_DATE"] = "2026-01-02T03:07:00Z"
        let second = try rig.checked(["bead", "create", "Second while following", "-q"], env: env)
        var seen = ""
        for _ in 0..<100 where !seen.contains(second) { seen += follower.readSome() }
        #expect(seen.contains("beads/\(second)"), "\(seen)")
        follower.signal(SIGTERM)
        follower.wait()
    }
}

@Suite struct RigDoctorTests {
    @Test func doctorFindsWhatIsMissingOrStaleAndFixRepairsIt() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "rig", "polecat"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        let remote = try TemporaryRepository(bare: true)
        _ = try rig.checked(["remote", "add", "origin", remote.path])
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        #expect(try rig.checked(["rig", "doctor"]) == "the rig is healthy")
        // A hook deleted, a remote added later, a worktree deleted by hand, a polecat whose
        // worktree vanished, and a bead ref removed behind the index cache's back.
        try FileManager.default.removeItem(atPath: rig.path + "/.git/gt/hooks/commit-msg")
        let other = try TemporaryRepository(bare: true)
        _ = try rig.checked(["remote", "add", "backup", other.path])
        _ = try rig.checked(["worktree", "add", "-q", "--detach", rig.root + "/scratch"])
        try FileManager.default.removeItem(atPath: rig.root + "/scratch")
        let bead = try rig.bead("create", "Work", "-q")
        _ = try rig.checked(["polecat", "sling", bead, "--agent", "true", "--name", "ace", "-q"])
        let worktree =
            try rig.json(try rig.checked(["polecat", "status", "ace", "--json"]))["worktree"] as? String ?? ""
        usleep(300_000)
        try FileManager.default.removeItem(atPath: worktree)
        let gone = try rig.bead("create", "Gone", "-q")
        _ = try rig.bead("list", "-q")
        _ = try rig.checked(["update-ref", "-d", "refs/gt/beads/\(gone)"])

        let found = try rig.git(["rig", "doctor"])
        #expect(found.status == 1)
        for part in [
            "problem [hooks] commit-msg is missing", "problem [refspecs] remote backup does not fetch",
            "problem [worktrees] \(rig.root)/scratch is gone",
            "problem [records] polecat/ace is running but its worktree",
            "problem [index] the bead index cache is behind the refs by 1 bead",
        ] {
            #expect(found.stdout.contains(part), "\(part) in \(found.stdout)")
        }
        #expect(found.stderr == "fatal: 7 problems: git rig doctor --fix repairs what it can\n", "\(found.stdout)")
        let fixed = try rig.git(["rig", "doctor", "--fix"])
        #expect(fixed.status == 0, "\(fixed.stdout)\(fixed.stderr)")
        #expect(fixed.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix("fixed ") }, "\(fixed.stdout)")
        #expect(try rig.checked(["rig", "doctor"]) == "the rig is healthy")
        #expect(try rig.json(try rig.bead("show", bead, "--json"))["status"] as? String == "open")
        #expect(try rig.checked(["worktree", "list"]).split(separator: "\n").count == 1)
    }
}

@Suite struct RigTownTests {
    @Test func townStatusFindsTheRigsInADirectoryAndShowsOneTable() throws {
        let base = try TemporaryRig(tools: ["bead", "mail", "rig"])
        let town = base.root + "/town"
        try FileManager.default.createDirectory(atPath: town + "/team", withIntermediateDirectories: true)
        let env = base.repository.environment
        for (path, beads) in [("\(town)/alpha", 2), ("\(town)/team/beta", 3)] {
            _ = try run("git", ["init", "-q", "-b", "main", path], environment: env)
            _ = try run("git", ["-C", path, "commit", "-q", "--allow-empty", "-m", "initial"], environment: env)
            _ = try run("git", ["-C", path, "rig", "init", "-q", "--prefix", "t"], environment: env)
            for index in 0..<beads {
                _ = try run("git", ["-C", path, "bead", "create", "Work \(index)", "-q"], environment: env)
            }
        }
        _ = try run("git", ["-C", "\(town)/alpha", "mail", "send", "overseer", "-s", "Hi", "-q"], environment: env)
        // Not rigs: a plain repository, and a rig's own worktree.
        _ = try run("git", ["init", "-q", "-b", "main", "\(town)/plain"], environment: env)
        _ = try run(
            "git", ["-C", "\(town)/alpha", "worktree", "add", "-q", "--detach", "\(town)/alpha-wt"], environment: env)

        let table = try base.checked(["rig", "town", "status", town]).split(separator: "\n").map(String.init)
        #expect(table.count == 4, "\(table)")
        #expect(table[0].hasPrefix("rig ") && table[0].contains("open") && table[0].contains("mail"))
        let alpha = table[1].split(separator: " ").map(String.init)
        let beta = table[2].split(separator: " ").map(String.init)
        #expect(alpha.first == "alpha" && alpha[1] == "2" && alpha[8] == "1", "\(alpha)")
        #expect(beta.first == "beta" && beta[1] == "3" && beta.last == "\(town)/team/beta", "\(beta)")
        #expect(table[3].hasPrefix("total") && table[3].contains("2 rigs"))
        let json =
            try JSONSerialization.jsonObject(
                with: Data(try base.checked(["rig", "town", "status", town, "--json"]).utf8))
            as? [[String: Any]] ?? []
        #expect(json.compactMap { $0["rig"] as? String } == ["alpha", "beta"])
        #expect(try base.checked(["rig", "town", "status", town, "--depth", "1", "-q"]) == "\(town)/alpha")
        let missing = try base.git(["rig", "town", "status", base.root + "/nowhere"])
        #expect(missing.status == 2 && missing.stderr == "fatal: no directory '\(base.root)/nowhere'\n")
    }
}

@Suite struct ConvoyTests {
    @Test func aConvoyAcrossTwoRigsLandsByItselfWhenAllItsBeadsCloseAndMailsTheOverseer() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "rig", "polecat", "deacon"])
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        let other = rig.root + "/other"
        let env = rig.repository.environment
        _ = try run("git", ["init", "-q", "-b", "main", other], environment: env)
        _ = try run("git", ["-C", other, "rig", "init", "-q", "--prefix", "ot"], environment: env)
        let remoteBead = try run("git", ["-C", other, "bead", "create", "API change", "-q"], environment: env).output
        let localBead = try rig.bead("create", "Client change", "-q")
        let convoy = try rig.checked([
            "rig", "convoy", "create", "Ship the API", localBead, "../other:\(remoteBead)", "-q",
        ])
        #expect(try rig.checked(["rig", "convoy", "list"]).hasPrefix("\(convoy) 0/2 closed"))

        _ = try rig.bead("close", localBead, "-q")
        let half = try rig.checked(["rig", "convoy", "status", convoy])
        #expect(
            half.contains("1/2 closed") && half.contains("✓ \(localBead)") && half.contains("○ ../other:\(remoteBead)"),
            "\(half)")
        #expect(try rig.json(try rig.bead("show", convoy, "--json"))["status"] as? String == "open")

        _ = try run("git", ["-C", other, "bead", "close", remoteBead, "-q"], environment: env)
        let landed = try rig.checked(["rig", "convoy", "status", convoy])
        #expect(landed.hasPrefix("\(convoy) landed"), "\(landed)")
        #expect(try rig.json(try rig.bead("show", convoy, "--json"))["status"] as? String == "closed")
        let mail = try rig.checked(["mail", "inbox", "-b", "overseer"])
        #expect(mail.contains("Convoy landed: Ship the API"))
        #expect(try rig.checked(["rig", "convoy", "list"]) == "no convoys in flight")

        // Without anyone looking, the deacon's patrol lands the next one.
        let third = try rig.bead("create", "Docs", "-q")
        let second = try rig.checked(["rig", "convoy", "create", "Docs train", third, "-q"])
        _ = try rig.bead("close", third, "-q")
        let patrol = try rig.json(try rig.checked(["deacon", "patrol", "--json"]))
        let actions = (patrol["actions"] as? [[String: Any]] ?? []).map { "\($0["kind"] ?? "") \($0["worker"] ?? "")" }
        #expect(actions.contains("land \(second)"), "\(actions)")
        #expect(try rig.json(try rig.bead("show", second, "--json"))["status"] as? String == "closed")

        // Bad input: one line, a documented status, nothing written.
        let refs = try rig.stateRefs()
        let nowhere = try rig.git(["rig", "convoy", "create", "Bad", "../nowhere:x-1"])
        #expect(nowhere.status == 2 && nowhere.stderr.hasPrefix("fatal: no rig at '../nowhere'"), "\(nowhere.stderr)")
        let late = try rig.git(["rig", "convoy", "add", convoy, localBead])
        #expect(late.status == 1 && late.stderr == "fatal: convoy \(convoy) has landed\n")
        let notConvoy = try rig.git(["rig", "convoy", "status", localBead])
        #expect(notConvoy.status == 1 && notConvoy.stderr == "fatal: \(localBead) is a task, not a convoy\n")
        #expect(try rig.stateRefs() == refs)
    }
}

@Suite struct RigReportTests {
    @Test func theHTMLReportShowsTheGraphOfOpenBeadsAndMoleculeProgressInAHeadlessBrowser() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "molecule", "rig"])
        try rig.writeFormula(
            "two",
            "formula = \"two\"\n[[steps]]\nid = \"a\"\ntitle = \"First\"\n[[steps]]\nid = \"b\"\ntitle = \"Second\"\nneeds = [\"a\"]\n"
        )
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        let design = try rig.bead("create", "Design <the> API & more", "-q")
        let build = try rig.bead("create", "Build it", "--deps", "blocks:\(design)", "-q")
        let ship = try rig.bead("create", "Ship it", "--deps", "blocks:\(build)", "-q")
        let done = try rig.bead("create", "Already done", "-q")
        _ = try rig.bead("close", done, "-q")
        let work = try rig.bead("create", "Molecule work", "-q")
        let molecule = String(try rig.molecule("pour", "two", "--on", work, "-q").split(separator: "\n")[0])
        _ = try rig.checked(["molecule", "skip", "\(molecule).1"], env: ["GT_ACTOR": "overseer"])
        let page = rig.root + "/report.html"
        let out = try rig.checked(["rig", "report", "--html", page])
        #expect(out == "wrote \(page): 4 beads in the graph, 1 molecules")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("Design &lt;the&gt; API &amp; more"))
        #expect(!html.contains(done))

        guard
            let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else {
            Issue.record("chromium is not installed (scripts/test installs it)")
            return
        }
        let profile = rig.root + "/chromium"
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile]
        let dom = try run(chromium, flags + ["--dump-dom", "file://" + page], environment: rig.repository.environment)
        #expect(dom.status == 0, "\(dom.stderr)")
        // The browser parsed the SVG: every open bead a node, every blocking an edge.
        let nodes = dom.stdout.components(separatedBy: "class=\"bead\"").count - 1
        #expect(nodes == 4, "\(dom.stdout.prefix(400))")
        for id in [design, build, ship, work] { #expect(dom.stdout.contains("data-bead=\"\(id)\"")) }
        #expect(dom.stdout.contains("data-from=\"\(design)\" data-to=\"\(build)\""))
        #expect(dom.stdout.contains("data-from=\"\(build)\" data-to=\"\(ship)\""))
        #expect(dom.stdout.contains("data-molecule=\"\(molecule)\"") && dom.stdout.contains("1 of 2 steps"))
        #expect(dom.stdout.contains("class=\"done\" x=\"1\" y=\"1\" width=\"150\""))
        let shot = rig.root + "/report.png"
        let picture = try run(
            chromium, flags + ["--screenshot=" + shot, "--window-size=1000,700", "file://" + page],
            environment: rig.repository.environment)
        #expect(picture.status == 0, "\(picture.stderr)")
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "\(png.count) bytes")
    }
}
