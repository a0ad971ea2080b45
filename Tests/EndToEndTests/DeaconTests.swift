import Foundation
import TestSupport
import Testing

/// A rig for the deacon: polecats with scripted agents and short thresholds.
final class DeaconRig {
    let rig: TemporaryRig
    /// A word only this rig's agents' commands contain, so a test kills only its own.
    let tag: String

    init(stall: Int = 1, grace: Int = 0, nudges: Int = 2, respawns: Int = 3) throws {
        rig = try TemporaryRig(tools: ["bead", "mail", "molecule", "witness", "rig", "polecat", "deacon"])
        tag = "deacon\(UInt32.random(in: 100_000...999_999))"
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        for (key, value) in [
            ("gt.deacon.stallSeconds", stall), ("gt.deacon.graceSeconds", grace), ("gt.deacon.nudges", nudges),
            ("gt.deacon.respawns", respawns),
        ] {
            _ = try rig.checked(["config", key, "\(value)"])
        }
    }

    /// Agents run in process groups of their own: ending each group ends its children too.
    deinit {
        let listed = (try? rig.checked(["polecat", "list", "--all", "--json"])) ?? "[]"
        let records = (try? JSONSerialization.jsonObject(with: Data(listed.utf8))) as? [[String: Any]] ?? []
        for record in records { if let pid = record["pid"] as? Int, pid > 0 { kill(-Int32(pid), SIGKILL) } }
    }

    /// An agent that sleeps (a stalled one).
    var sleeper: String { "sleep 120 # \(tag)" }

    func sling(_ title: String, agent: String, name: String, formula: String? = nil) throws -> String {
        let bead = try rig.bead("create", title, "-q")
        _ = try rig.checked(
            ["polecat", "sling", bead, "--agent", agent, "--name", name, "-q"]
                + (formula.map { ["--formula", $0] } ?? []))
        return bead
    }

    func patrol() throws -> [String: Any] { try rig.json(try rig.checked(["deacon", "patrol", "--json"])) }

    func actions(_ report: [String: Any]) -> [String] {
        (report["actions"] as? [[String: Any]] ?? []).map {
            "\($0["kind"] as? String ?? "") \($0["worker"] as? String ?? "")"
        }
    }

    func subjects(_ box: String) throws -> [String] {
        let inbox = try rig.checked(["mail", "inbox", "-b", box, "--json", "-n", "1000"])
        return (try JSONSerialization.jsonObject(with: Data(inbox.utf8)) as? [[String: Any]] ?? [])
            .compactMap { $0["subject"] as? String }
    }

    func status(_ name: String) throws -> [String: Any] {
        try rig.json(try rig.checked(["polecat", "status", name, "--json"]))
    }

    /// Waits (up to 20 s) until `condition` holds.
    func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
        for _ in 0..<400 {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }
}

@Suite struct DeaconTests {
    @Test func aSleepingAgentIsNudgedThenEscalatedAndABusyOneNeverIs() throws {
        let d = try DeaconRig(stall: 1, nudges: 2)
        _ = try d.sling("Sleepy work", agent: d.sleeper, name: "sleepy")
        _ = try d.sling(
            "Busy work", agent: "while true; do git polecat heartbeat; sleep 0.2; done # \(d.tag)", name: "busy")
        usleep(2_200_000)
        var seen: [String] = []
        for _ in 0..<3 {
            seen += d.actions(try d.patrol())
            usleep(1_200_000)
        }
        #expect(seen == ["nudge polecat/sleepy", "nudge polecat/sleepy", "escalate polecat/sleepy"], "\(seen)")
        #expect(try d.subjects("polecat/sleepy").filter { $0.hasPrefix("Nudge") }.count == 2)
        #expect(try d.subjects("polecat/busy").isEmpty)
        #expect(try d.subjects("mayor").contains("Stalled: polecat/sleepy"))
        #expect(try d.subjects("overseer").contains("Stalled: polecat/sleepy"))
        // Escalated once: later patrols neither nudge nor mail again, and write no report.
        let reports = try d.rig.checked(["rev-list", "--count", "refs/gt/deacon/patrol"])
        #expect(d.actions(try d.patrol()).isEmpty)
        #expect(try d.rig.checked(["rev-list", "--count", "refs/gt/deacon/patrol"]) == reports)
        // What it did, and why, is in git log.
        let log = try d.rig.checked(["log", "--format=%B", "refs/gt/deacon/patrol"])
        #expect(log.contains("- nudge polecat/sleepy: no progress for"))
        #expect(log.contains("- escalate polecat/sleepy:"))
        let status = try d.rig.checked(["deacon", "status"])
        #expect(status.contains("escalated polecat/sleepy: no progress since"), "\(status)")
        #expect(!status.contains("polecat/busy"))
    }

    @Test func aKilledAgentIsRestartedAndFinishesItsStepAndPastTheLimitItsBeadIsReleased() throws {
        let d = try DeaconRig(stall: 600, respawns: 1)
        let rig = d.rig
        try rig.commitFormula(
            "one", "formula = \"one\"\n[[steps]]\nid = \"work\"\ntitle = \"Work\"\ncheck = \"test -f work.txt\"\n")
        let marks = rig.root + "/marks"
        try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
        // The first generation claims the step and hangs; the next one finishes it.
        let agent = """
            step=$(git molecule next --claim -q); \
            if [ ! -f '\(marks)/first' ]; then echo "$GT_GENERATION" > '\(marks)/first'; sleep 120; fi; \
            echo done > work.txt && git add work.txt && git commit -q -m 'Work' -m "Gt-Step-Done: $step" && \
            git polecat done -q && echo "$GT_GENERATION" > '\(marks)/finished' # \(d.tag)
            """
        let bead = try d.sling("Crashy work", agent: agent, name: "crashy", formula: "one")
        #expect(d.eventually { FileManager.default.fileExists(atPath: marks + "/first") })
        let first = try d.status("crashy")
        kill(-Int32(first["pid"] as? Int ?? 0), SIGKILL)
        #expect(try d.eventually { !(try d.status("crashy")["alive"] as? Bool ?? true) })
        #expect(d.actions(try d.patrol()) == ["restart polecat/crashy"])
        #expect(d.eventually { FileManager.default.fileExists(atPath: marks + "/finished") })
        let second = try d.status("crashy")
        #expect(second["generation"] as? String != first["generation"] as? String)
        _ = try rig.checked(["witness", "check", "--submitted", "-q"])
        let molecule = second["molecule"] as? String ?? ""
        #expect(try rig.json(try rig.bead("show", "\(molecule).1", "--json"))["status"] as? String == "closed")

        // Another one that dies every time: restarted once (the limit), then its bead goes back.
        let doomed = try d.sling("Doomed work", agent: "sleep 121 # \(d.tag)", name: "doomed")
        for round in 0..<2 {
            let pid = Int32(try d.status("doomed")["pid"] as? Int ?? 0)
            kill(-pid, SIGKILL)
            #expect(try d.eventually { !(try d.status("doomed")["alive"] as? Bool ?? true) })
            let acted = d.actions(try d.patrol())
            #expect(acted == [round == 0 ? "restart polecat/doomed" : "release polecat/doomed"], "\(acted)")
        }
        let released = try rig.json(try rig.bead("show", doomed, "--json"))
        #expect(released["status"] as? String == "open" && released["assignee"] == nil, "\(released)")
        #expect(try d.status("doomed")["state"] as? String == "stopped")
        #expect(try rig.checked(["rev-parse", "--verify", "-q", "polecat/doomed/\(doomed)"]).count == 40)
        #expect(try d.subjects("overseer").contains("Released \(doomed): polecat/doomed kept dying"))
        #expect(try rig.json(try rig.bead("show", bead, "--json"))["status"] as? String == "in_progress")
    }

    @Test func aFreshPolecatIsLeftAloneAndAReusedPidIsNotTakenForItsAgent() throws {
        let d = try DeaconRig(stall: 0, grace: 3_600)
        let rig = d.rig
        _ = try d.sling("Fresh work", agent: d.sleeper, name: "fresh")
        usleep(1_100_000)
        let report = try d.patrol()
        #expect(d.actions(report).isEmpty)
        #expect(report["healthy"] as? Int == 1)
        #expect(try d.subjects("polecat/fresh").isEmpty)

        // The record names a live process, but not the one that was started (its start time
        // differs): the agent counts as dead and is restarted.
        _ = try rig.checked(["config", "gt.deacon.graceSeconds", "0"])
        let impostor = try Child.start(
            ["/bin/sh", "-c", "sleep 30 # \(d.tag)"], environment: rig.repository.environment)
        let ref = "refs/gt/polecats/fresh"
        let json = try rig.checked(["show", ref + ":polecat.json"])
        var record = try rig.json(json)
        let original = record["pid"] as? Int ?? 0
        record["pid"] = Int(impostor.pid)
        let forged = String(
            decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]), as: UTF8.self)
        let blob = try rig.git(["hash-object", "-w", "--stdin"], input: forged + "\n").output
        let tree = try rig.git(["mktree"], input: "100644 blob \(blob)\tpolecat.json\n").output
        let commit = try rig.git(["commit-tree", tree, "-p", ref, "-m", "forged pid"]).output
        _ = try rig.checked(["update-ref", ref, commit])
        kill(-Int32(original), SIGKILL)
        #expect(kill(impostor.pid, 0) == 0)
        #expect(try d.status("fresh")["alive"] as? Bool == false)
        #expect(d.actions(try d.patrol()) == ["restart polecat/fresh"])
        // The impostor was not the agent: it was left running.
        #expect(impostor.isRunning)
        impostor.signal(SIGKILL)
        impostor.wait()
    }

    @Test func driftIsFlaggedOnceAndOrphansAreRepairedOrReported() throws {
        let d = try DeaconRig(stall: 3_600, grace: 3_600)
        let rig = d.rig
        let bead = try d.sling("Scoped work", agent: d.sleeper, name: "scoped")
        _ = try rig.bead("label", "add", bead, "scope:src/")
        let worktree = try d.status("scoped")["worktree"] as? String ?? ""
        let env = ["GT_POLECAT": "scoped"]
        try FileManager.default.createDirectory(atPath: worktree + "/src", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: worktree + "/docs", withIntermediateDirectories: true)
        try "in scope\n".write(toFile: worktree + "/src/a.txt", atomically: true, encoding: .utf8)
        try "outside\n".write(toFile: worktree + "/docs/b.txt", atomically: true, encoding: .utf8)
        _ = try rig.checked(["add", "src/a.txt"], in: worktree, env: env)
        _ = try rig.checked(["commit", "-q", "-m", "In scope", "-m", "Gt-Bead: \(bead)"], in: worktree, env: env)
        _ = try rig.checked(["add", "docs/b.txt"], in: worktree, env: env)
        // Past every hook, as an agent that bypasses them would.
        _ = try rig.checked(
            ["-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "No trailer, out of scope"], in: worktree, env: env
        )

        // Orphans: a worktree nobody's record names, a record whose worktree is gone, and a
        // bead held by a polecat that never existed.
        let stray = rig.path + "-polecats/stray"
        _ = try rig.checked(["worktree", "add", "-q", "--detach", stray])
        let lost = try d.sling("Lost work", agent: d.sleeper, name: "lost")
        let lostStatus = try d.status("lost")
        let lostTree = lostStatus["worktree"] as? String ?? ""
        kill(-Int32(lostStatus["pid"] as? Int ?? 0), SIGKILL)
        try FileManager.default.removeItem(atPath: lostTree)
        let ghostly = try rig.bead("create", "Ghost's work", "-q")
        _ = try rig.checked(["bead", "claim", ghostly], env: ["GT_POLECAT": "ghost"])

        let report = try d.patrol()
        let acted = d.actions(report)
        #expect(acted.filter { $0 == "flag polecat/scoped" }.count == 2, "\(acted)")
        #expect(acted.contains("report \(stray)"), "\(acted)")
        #expect(acted.contains("repair polecat/lost"), "\(acted)")
        #expect(acted.contains("repair polecat/ghost"), "\(acted)")
        let mail = try rig.checked(["mail", "inbox", "-b", "mayor", "-q"]).split(separator: "\n").map(String.init)
        #expect(mail.count == 1)
        let text = try rig.checked(["mail", "read", "-b", "mayor"] + mail)
        #expect(text.contains("\"No trailer, out of scope\" names no bead or step"), "\(text)")
        #expect(text.contains("changes docs/b.txt, outside the scope of \(bead) (src/)"), "\(text)")
        #expect(!text.contains("src/a.txt"))
        #expect(text.contains("\(stray): a worktree no polecat or crew record names"))
        #expect(try rig.json(try rig.bead("show", lost, "--json"))["status"] as? String == "open")
        #expect(try rig.json(try rig.bead("show", ghostly, "--json"))["status"] as? String == "open")
        #expect(try rig.checked(["polecat", "list"]).contains("lost") == false)
        // Reported once: the next patrol acts on nothing new and mails nobody.
        let again = try d.patrol()
        #expect(d.actions(again).isEmpty, "\(again)")
        #expect(try rig.checked(["mail", "inbox", "-b", "mayor", "-q"]).split(separator: "\n").count == 1)
        let status = try rig.checked(["deacon", "status"])
        #expect(status.contains("drift polecat/scoped") && status.contains("orphan \(stray)"), "\(status)")
        #expect(try rig.checked(["fsck", "--no-dangling"]).isEmpty)
    }

    @Test func badInputGetsOneLineAndChangesNothing() throws {
        let d = try DeaconRig()
        let rig = d.rig
        #expect(try rig.checked(["deacon", "status"]) == "no patrol recorded yet (git deacon patrol)")
        let refs = try rig.stateRefs()
        _ = try rig.checked(["config", "gt.deacon.nudges", "lots"])
        let bad = try rig.git(["deacon", "patrol"])
        #expect(bad.status == 64)
        #expect(bad.stderr == "fatal: gt.deacon.nudges must be a whole number of at least 0, not 'lots'\n")
        let both = try rig.git(["deacon", "patrol", "--once", "--watch"])
        #expect(both.status == 64 && both.stderr == "fatal: give --once or --watch, not both\n")
        #expect(try rig.stateRefs() == refs)
        _ = try rig.checked(["config", "--unset", "gt.deacon.nudges"])
        // A corrupt report is named, not trusted.
        let blob = try rig.git(["hash-object", "-w", "--stdin"], input: "{not json\n").output
        let tree = try rig.git(["mktree"], input: "100644 blob \(blob)\tpatrol.json\n").output
        let commit = try rig.git(["commit-tree", tree, "-m", "broken"]).output
        _ = try rig.checked(["update-ref", "refs/gt/deacon/patrol", commit])
        let corrupt = try rig.git(["deacon", "status"])
        #expect(corrupt.status == 65, "\(corrupt.stderr)")
        #expect(corrupt.stderr.hasPrefix("fatal: refs/gt/deacon/patrol: "), "\(corrupt.stderr)")
        #expect(corrupt.stderr.split(separator: "\n").count == 1)
    }
}
