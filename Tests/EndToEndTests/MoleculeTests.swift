import Foundation
import TestSupport
import Testing

let fixtureFormulas = packageRoot + "/../shared/fixtures/formulas"

extension TemporaryRig {
    /// Runs `git molecule …` and returns stdout, failing when it exits non-zero.
    func molecule(_ arguments: String..., env: [String: String] = [:]) throws -> String {
        let result = try git(["molecule"] + arguments, env: env)
        guard result.status == 0 else {
            throw TestFailure(
                "git molecule \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result.output
    }

    func moleculeFailing(_ arguments: String..., env: [String: String] = [:]) throws -> ProcessResult {
        try git(["molecule"] + arguments, env: env)
    }

    func moleculeFailing(_ arguments: [String], env: [String: String] = [:]) throws -> ProcessResult {
        try git(["molecule"] + arguments, env: env)
    }

    /// Writes `formulas/<name>.formula.toml` in the rig (first on the search path).
    func writeFormula(_ name: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/formulas", withIntermediateDirectories: true)
        try text.write(toFile: path + "/formulas/\(name).formula.toml", atomically: true, encoding: .utf8)
    }

    /// Writes the formula and commits it (`Add the formula`), as a rig's own formulas are.
    func commitFormula(_ name: String, _ text: String) throws {
        try writeFormula(name, text)
        _ = try checked(["add", "formulas"])
        _ = try checked(["commit", "-q", "-m", "Add the formula"])
    }

    func json(_ text: String) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(text.prefix(200))")
        }
        return object
    }
}

let fixtures = ["GT_FORMULA_PATH": fixtureFormulas]

@Suite struct MoleculeFormulaTests {
    @Test func allFiveFixturesValidateAndCook() throws {
        let rig = try TemporaryRig(tools: ["bead", "molecule"])
        // The five named: the fixture directory also holds formulas of kinds not read yet.
        let validated = try rig.molecule(
            "formula", "validate", "shiny", "shiny-secure", "security-audit", "rule-of-five", "mol-polecat-work",
            "--json", env: fixtures)
        for name in ["shiny", "shiny-secure", "security-audit", "rule-of-five", "mol-polecat-work"] {
            #expect(validated.contains("{\"formula\":\"\(name)\",\"ok\":true"), "\(name) did not validate")
        }
        // shiny-secure: extends shiny and wraps implement and submit in security scans.
        let cooked = try rig.json(
            try rig.molecule("formula", "cook", "shiny-secure", "--var", "feature=login", "--json", env: fixtures))
        let steps = try #require(cooked["steps"] as? [[String: Any]])
        #expect(
            steps.map { $0["key"] as? String } == [
                "design", "implement-security-prescan", "implement", "implement-security-postscan", "review", "test",
                "submit-security-prescan", "submit", "submit-security-postscan",
            ])
        let needs = Dictionary(uniqueKeysWithValues: steps.map { ($0["key"] as! String, $0["needs"] as! [String]) })
        #expect(needs["implement-security-prescan"] == ["design"])
        #expect(needs["implement"] == ["implement-security-prescan"])
        #expect(needs["review"] == ["implement-security-postscan"])
        #expect(needs["submit-security-postscan"] == ["submit"])
        #expect(steps[2]["title"] as? String == "Implement login")
        #expect(steps[1]["origin"] as? String == "security-audit")

        // mol-polecat-work: every {{var}} filled, defaults included.
        let polecat = try rig.molecule(
            "formula", "cook", "mol-polecat-work", "--var", "issue=gw-42", "--json", env: fixtures)
        #expect(!polecat.contains("{{") && polecat.contains("gw-42"))
        #expect(try rig.json(polecat)["steps"].map { ($0 as! [Any]).count } == 8)

        // rule-of-five expands onto a target step: the template replaces it and what
        // needed the target needs the template's last step.
        try rig.writeFormula(
            "five",
            """
            formula = "five"
            [[steps]]
            id = "plan"
            title = "Plan"
            [[steps]]
            id = "implement"
            title = "Build the parser"
            description = "Parse TOML."
            needs = ["plan"]
            check = "make test"
            [[steps]]
            id = "ship"
            title = "Ship"
            needs = ["implement"]
            [compose]
            [[compose.expand]]
            target = "implement"
            with = "rule-of-five"
            """)
        let five = try rig.json(try rig.molecule("formula", "cook", "five", "--json", env: fixtures))
        let fiveSteps = try #require(five["steps"] as? [[String: Any]])
        #expect(
            fiveSteps.map { $0["key"] as! String } == [
                "plan", "implement.draft", "implement.refine-1", "implement.refine-2", "implement.refine-3",
                "implement.refine-4", "ship",
            ])
        #expect(fiveSteps[1]["needs"] as? [String] == ["plan"])
        #expect(
            fiveSteps[1]["description"] as? String
                == "Initial attempt at: Parse TOML.. Don't aim for perfection. Get the shape right. Breadth over depth."
        )
        #expect(fiveSteps[6]["needs"] as? [String] == ["implement.refine-4"])
        #expect((fiveSteps[5]["checks"] as? [[String: Any]])?.first?["run"] as? String == "make test")
    }

    @Test func shippedFormulasValidateAndEveryWorkStepWithChecksHasRealCommands() throws {
        let rig = try TemporaryRig(tools: ["molecule"])
        let list = try rig.molecule("formula", "list", "-q")
        let shipped = ["feature", "bugfix", "refactor", "review", "spike", "docs", "polecat-work", "tdd"]
        for name in shipped { #expect(list.split(separator: "\n").contains(Substring(name)), "\(name) not shipped") }
        let validated = try rig.molecule("formula", "validate")
        #expect(validated.split(separator: "\n").allSatisfy { $0.hasPrefix("ok ") })
        let required: [String: [String]] = [
            "feature": ["feature=f", "test_command=true"], "bugfix": ["bug=b", "test_command=true"],
            "refactor": ["target=t", "test_command=true"], "review": ["branch=b", "test_command=true"],
            "spike": ["question=q"], "docs": ["topic=t"], "polecat-work": ["issue=gw-1", "test_command=true"],
            "tdd": ["behaviour=b", "test_command=true"],
        ]
        for name in shipped {
            let vars = required[name]!.flatMap { ["--var", $0] }
            let result = try rig.git(["molecule", "formula", "cook", name, "--json"] + vars)
            #expect(result.status == 0, "\(name): \(result.stderr)")
            let cooked = try rig.json(result.output)
            let steps = try #require(cooked["steps"] as? [[String: Any]])
            let checks = steps.flatMap { ($0["checks"] as? [[String: Any]]) ?? [] }
            #expect(!checks.isEmpty, "\(name) has no checks")
            #expect(checks.allSatisfy { ($0["run"] as? String).map { !$0.isEmpty && !$0.contains("{{") } ?? false })
        }
    }

    @Test func malformedFormulasNameFileLineAndReasonAndWriteNothing() throws {
        let rig = try TemporaryRig(tools: ["bead", "molecule"])
        let cases: [(name: String, text: String, vars: [String], expect: String, line: Int?, status: Int32)] = [
            ("badtoml", "formula = \"badtoml\"\n[[steps]]\nid = \"a\"\ntitle = \"A\n", [], "invalid TOML", 4, 65),
            (
                "unknownneed", "formula = \"unknownneed\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\nneeds = [\"ghost\"]\n",
                [],
                "step 'a' needs unknown step 'ghost'", 5, 65
            ),
            (
                "cycle",
                "formula = \"cycle\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\nneeds = [\"b\"]\n[[steps]]\nid = \"b\"\ntitle = \"B\"\nneeds = [\"a\"]\n",
                [], "steps form a cycle: a → b → a", 3, 65
            ),
            (
                "needsvar",
                "formula = \"needsvar\"\n[vars.who]\nrequired = true\n[[steps]]\nid = \"a\"\ntitle = \"Hi {{who}}\"\n",
                [], "missing required variable 'who'", 2, 64
            ),
            (
                "noaspect",
                "formula = \"noaspect\"\n[compose]\naspects = [\"ghost-aspect\"]\n[[steps]]\nid = \"a\"\ntitle = \"A\"\n",
                [], "unknown formula 'ghost-aspect'", 3, 65
            ),
            (
                "notarget",
                "formula = \"notarget\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\n[[compose.expand]]\ntarget = \"ghost\"\nwith = \"rule-of-five\"\n",
                [], "compose.expand targets unknown step 'ghost'", 6, 65
            ),
            (
                "undeclared", "formula = \"undeclared\"\n[[steps]]\nid = \"a\"\ntitle = \"Hi {{nobody}}\"\n", [],
                "unknown variable '{{nobody}}'", 4, 65
            ),
            (
                "unknownvar", "formula = \"unknownvar\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\n", ["colour=red"],
                "unknown variable 'colour'", nil, 64
            ),
        ]
        for item in cases {
            try rig.writeFormula(item.name, item.text)
            let refsBefore = try rig.stateRefs()
            let result = try rig.moleculeFailing(["pour", item.name] + item.vars.flatMap { ["--var", $0] })
            #expect(result.status == item.status, "\(item.name): status \(result.status): \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(item.name): \(result.stderr)")
            let path = rig.path + "/formulas/\(item.name).formula.toml"
            let location = path + (item.line.map { ":\($0)" } ?? "")
            #expect(result.stderr.hasPrefix("fatal: \(location): "), "\(item.name): \(result.stderr)")
            #expect(result.stderr.contains(item.expect), "\(item.name): \(result.stderr)")
            #expect(try rig.stateRefs() == refsBefore)
        }
        let unknown = try rig.moleculeFailing("pour", "no-such-formula")
        #expect(unknown.status == 2 && unknown.stderr.hasPrefix("fatal: no formula 'no-such-formula'"))
    }
}

@Suite struct MoleculeRunTests {
    @Test func stepsUnlockInOrderAndCloseOnlyThroughTheMoleculeCommands() throws {
        let rig = try TemporaryRig(tools: ["bead", "molecule"])
        let mol = try rig.molecule("pour", "shiny", "--var", "feature=login", "-q", env: fixtures)
        let worker = ["GT_POLECAT": "nux"]
        #expect(try rig.bead("show", "\(mol).3").contains("Review implementation"))
        #expect(try rig.molecule("next", "-q", env: worker) == "\(mol).1")
        // Step 2 is locked: no claim, no start, no submit, no approval.
        for attempt in [
            try rig.beadFailing("claim", "\(mol).2", env: worker),
            try rig.beadFailing("update", "\(mol).2", "--status", "in_progress", env: worker),
            try rig.moleculeFailing("done", "\(mol).2", env: worker),
            try rig.moleculeFailing("approve", "\(mol).2"),
        ] {
            #expect(
                attempt.status == 1 && attempt.stderr.contains("needs \(mol).1 to be verified first"),
                "\(attempt.stderr)")
        }
        // Closing a step as a plain bead is refused, even by the overseer.
        let close = try rig.beadFailing("close", "\(mol).1")
        #expect(close.status == 1 && close.stderr.contains("only through the witness"))
        #expect(try rig.beadFailing("update", "\(mol).1", "--status", "closed").status == 1)

        #expect(try rig.molecule("next", "--claim", "-q", env: worker) == "\(mol).1")
        let submitted = try rig.molecule("done", "\(mol).1", "--evidence", "DESIGN.md written", env: worker)
        #expect(submitted.contains("waits for approval"))
        #expect(try rig.molecule("show", mol).contains("⧗ \(mol).1"))
        let notOverseer = try rig.moleculeFailing("approve", "\(mol).1", env: worker)
        #expect(notOverseer.status == 1 && notOverseer.stderr.contains("only the overseer"))
        _ = try rig.molecule("approve", "\(mol)/design", "--note", "looks right")
        #expect(try rig.molecule("next", "-q", env: worker) == "\(mol).2")
        let step = try rig.json(try rig.bead("show", "\(mol).1", "--json"))
        let info = try #require(step["step"] as? [String: Any])
        #expect((info["approval"] as? [String: Any])?["note"] as? String == "looks right")
        #expect(step["status"] as? String == "closed")

        // Every change is a commit on the step's own ref.
        let log = try rig.repository.gitOutput("log", "--format=%s", "refs/gt/beads/\(mol).1")
        #expect(
            log.split(separator: "\n").map { $0.split(separator: ":")[0] } == [
                "approve \(mol).1", "submit \(mol).1", "claim \(mol).1", "create \(mol).1",
            ])

        // Skip the rest; the molecule closes itself when its last step does.
        for n in 2...5 { _ = try rig.molecule("skip", "\(mol).\(n)", "-r", "test") }
        let progress = try rig.json(try rig.molecule("progress", mol, "--json"))
        #expect(progress["finished"] as? Bool == true && progress["status"] as? String == "closed")
        #expect(try rig.molecule("next", mol).contains("is finished"))
    }

    @Test func childrenConditionsOnOutputsLoopsAndGatesSettleByThemselves() throws {
        let rig = try TemporaryRig(tools: ["bead", "molecule"])
        try rig.writeFormula(
            "flow",
            """
            formula = "flow"
            [vars]
            docs = "yes"
            [[steps]]
            id = "assess"
            title = "Assess"
            [[steps]]
            id = "fanout"
            title = "Either way"
            needs = ["assess"]
            waits_for = "any-children"
            [[steps.children]]
            id = "left"
            title = "Left"
            [[steps.children]]
            id = "right"
            title = "Right"
            [[steps]]
            id = "big"
            title = "Only for big work"
            needs = ["fanout"]
            condition = "{{assess.output.size}} == large"
            [[steps]]
            id = "docs"
            title = "Docs"
            needs = ["big"]
            condition = "!{{docs}}"
            [[steps]]
            id = "wait"
            title = "Cool off"
            needs = ["big"]
            gate = { type = "timer", timeout = "1s" }
            [[steps]]
            id = "polish"
            title = "Polish"
            needs = ["wait"]
            [steps.loop]
            until = "{{draft.output.good}}"
            max = 3
            [[steps.loop.body]]
            id = "draft"
            title = "Draft"
            """)
        let cooked = try rig.molecule("formula", "cook", "flow", "-q")
        // docs is dropped by its var condition; the loop unrolls to max iterations.
        #expect(
            cooked.split(separator: "\n") == [
                "assess", "left", "right", "fanout", "big", "wait", "polish.iter1.draft", "polish.iter2.draft",
                "polish.iter3.draft",
            ])
        let mol = try rig.molecule("pour", "flow", "-q")
        _ = try rig.molecule("done", "\(mol)/assess", "--output", "size=small")
        _ = try rig.molecule("approve", "\(mol)/assess")
        // Both children unlock at once; either one finishes the any-children join.
        let show = try rig.molecule("show", mol)
        #expect(show.contains("○ \(mol).2") && show.contains("○ \(mol).3"))
        _ = try rig.molecule("approve", "\(mol)/right")
        var state = try rig.json(try rig.molecule("show", mol, "--json"))
        var steps = Dictionary(
            uniqueKeysWithValues: (state["steps"] as! [[String: Any]]).map {
                ($0["key"] as! String, $0["state"] as! String)
            })
        #expect(steps["fanout"] == "done")
        // big's condition reads assess's output (small): skipped by itself.
        #expect(steps["big"] == "skipped")
        // The timer gate passes once its second is up (the clock is pinned, so move it).
        _ = try rig.molecule("progress", mol, env: ["GIT_COMMITTER_DATE": "2026-01-02T03:04:09Z"])
        _ = try rig.molecule("done", "\(mol)/polish.iter1.draft", "--output", "good=yes")
        _ = try rig.molecule("approve", "\(mol)/polish.iter1.draft")
        state = try rig.json(try rig.molecule("show", mol, "--json"))
        steps = Dictionary(
            uniqueKeysWithValues: (state["steps"] as! [[String: Any]]).map {
                ($0["key"] as! String, $0["state"] as! String)
            })
        #expect(steps["wait"] == "done")
        // The until condition held after iteration 1, so 2 and 3 skip and the molecule ends.
        #expect(steps["polish.iter2.draft"] == "skipped" && steps["polish.iter3.draft"] == "skipped")
        #expect(state["status"] as? String == "closed")
        #expect(steps["left"] == "skipped")  // one child was enough; the one nobody took is not needed
    }

    @Test func aMailGateWritesOnceAndOpensOnAReply() throws {
        let rig = try TemporaryRig(tools: ["bead", "molecule", "mail"])
        try rig.writeFormula(
            "gated",
            """
            formula = "gated"
            [[steps]]
            id = "build"
            title = "Build"
            [[steps]]
            id = "signoff"
            title = "Sign-off"
            needs = ["build"]
            gate = { type = "mail", to = "mayor", description = "Ship the build?" }
            [[steps]]
            id = "ship"
            title = "Ship"
            needs = ["signoff"]
            """)
        let mol = try rig.molecule("pour", "gated", "-q")
        _ = try rig.molecule("approve", "\(mol).1")
        _ = try rig.molecule("progress", mol)  // settling again must not write a second time
        let mayor = ["GT_MAILBOX": "mayor"]
        let inbox = try rig.git(["mail", "inbox", "-q"], env: mayor).output.split(separator: "\n")
        #expect(inbox.count == 1)
        #expect(
            try rig.git(["mail", "peek", String(inbox[0])], env: mayor).output.contains(
                "Gate \(mol).2: Ship the build?"))
        let waiting = try rig.moleculeFailing("next", "-q")  // nothing workable: the gate waits
        #expect(
            waiting.status == 1 && waiting.stderr.contains("waiting on \(mol).2 signoff (gate)"), "\(waiting.stderr)")
        // Only its addressee opens it: an answer in the thread from anyone else is just mail.
        let other = try rig.git(
            ["mail", "send", "mayor", "-s", "Re", "-m", "yes", "--reply-to", String(inbox[0]), "--from", "witness"])
        #expect(other.status == 0, "\(other.stderr)")
        #expect(try rig.moleculeFailing("next", "-q").status == 1)
        _ = try rig.git(["mail", "reply", String(inbox[0]), "-m", "yes"], env: mayor)
        #expect(try rig.molecule("next", "-q") == "\(mol).3")
        let gate = try rig.json(try rig.bead("show", "\(mol).2", "--json"))
        #expect((gate["close_reason"] as? String)?.hasPrefix("opened by mayor's reply m-") == true)
    }

    @Test func squashAndBurn() throws {
        let rig = try TemporaryRig(tools: ["bead", "molecule"])
        let target = try rig.bead("create", "Login page", "-q")
        let mol = try rig.molecule("pour", "spike", "--var", "question=Can we?", "--on", target, "-q")
        #expect(
            try rig.json(try rig.bead("show", mol, "--json"))["dependencies"].map { "\($0)".contains(target) } == true)
        let refused = try rig.moleculeFailing("squash", mol)
        #expect(refused.status == 1 && refused.stderr.contains("3 step(s) not done"))
        let digest = try rig.molecule("squash", mol, "--force", "--summary", "Answered: yes", "-q")
        let digestBead = try rig.json(try rig.bead("show", digest, "--json"))
        #expect(digestBead["issue_type"] as? String == "digest" && digestBead["digest_of"] as? String == mol)
        #expect((digestBead["description"] as? String)?.contains("Answered: yes") == true)
        #expect(try rig.json(try rig.bead("show", mol, "--json"))["status"] as? String == "closed")

        let other = try rig.molecule("pour", "spike", "--var", "question=Again?", "-q")
        let burnedByWorker = try rig.moleculeFailing("burn", other, env: ["GT_POLECAT": "nux"])
        #expect(burnedByWorker.status == 1)
        #expect(try rig.molecule("burn", other) == "burned \(other): 4 beads deleted")
        for id in [other, "\(other).1", "\(other).3"] {
            #expect(try rig.json(try rig.bead("show", id, "--json"))["status"] as? String == "tombstone")
        }
        #expect(!(try rig.molecule("list", "-q")).contains(other))
    }
}

@Suite struct MoleculeCrashTests {
    @Test func sigkillDuringAPourLeavesTheWholeMoleculeOrNothing() throws {
        let rig = try TemporaryRig(tools: ["bead", "molecule"])
        try rig.writeFormula("big", generatedFormula(name: "big", count: 1_025))
        #expect(
            try rig.molecule("formula", "cook", "big", "--var", "topic=t", "-q").split(separator: "\n").count == 1_025)
        func startPour() throws -> Child {
            // The tool itself, not git's wrapper process, so the kill reaches the writer.
            try Child.start(
                ["\(rig.bin)/git-molecule", "pour", "big", "--var", "topic=t", "-q"], in: rig.path,
                environment: rig.repository.environment)
        }
        let start = Date()
        let full = try startPour()
        #expect(full.wait() == 0)
        let duration = Date().timeIntervalSince(start)
        var molecules = 1
        for fraction in [0.3, 0.6, 0.8, 0.9, 0.95, 0.99] {
            let process = try startPour()
            usleep(UInt32(duration * fraction * 1_000_000))
            process.signal(SIGKILL)
            let status = process.wait()
            let fsck = try rig.git(["fsck", "--strict", "--no-dangling"])
            #expect(fsck.status == 0, "fsck after kill at \(fraction): \(fsck.stderr)")
            let refs = try rig.repository.gitOutput("for-each-ref", "--format=%(refname)", "refs/gt/beads/")
                .split(separator: "\n").map(String.init)
            let roots = refs.filter { !$0.dropFirst("refs/gt/beads/".count).contains(".") }
            if status == 0 || roots.count > molecules { molecules = roots.count }
            // Every molecule that exists is whole: its bead and all 1,025 steps.
            #expect(roots.count == molecules && refs.count == molecules * 1_026, "after kill at \(fraction)")
            for root in roots {
                let id = String(root.dropFirst("refs/gt/beads/".count))
                #expect(try rig.json(try rig.molecule("progress", id, "--json"))["total"] as? Int == 1_025)
            }
        }
    }
}
