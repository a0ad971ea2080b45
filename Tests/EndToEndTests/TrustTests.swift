import Foundation
import TestSupport
import Testing

/// The trust boundary, played by an adversarial scripted agent: whatever it does from
/// inside its sandbox (or, with `gt.sandbox=off`, with plain git), nothing unverified
/// reaches the target, and what it may not touch stays as it was.
@Suite(.serialized) struct TrustTests {
    func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
        for _ in 0..<600 {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    /// A rig whose one-step formula forbids `forbidden.txt`, with the refinery on.
    func makeRig() throws -> (TemporaryRig, String) {
        let rig = try TemporaryRig(
            tools: ["bead", "mail", "molecule", "witness", "rig", "polecat", "refinery", "deacon"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        try rig.commitFormula(
            "one",
            "formula = \"one\"\n[[steps]]\nid = \"work\"\ntitle = \"Work\"\n"
                + "check = \"test -s work.txt && test ! -e forbidden.txt\"\n")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        // Only the marks directory is the agent's to write beside its worktree.
        let marks = rig.root + "/marks"
        try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
        _ = try rig.checked(["config", "--unset-all", "gt.sandbox.bind"])
        _ = try rig.checked(["config", "gt.sandbox.bind", marks])
        return (rig, marks)
    }

    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test func aSandboxedAgentCannotLandUnverifiedWorkOrTouchWhatIsNotItsOwn() throws {
        let (rig, marks) = try makeRig()
        let other = try rig.bead("create", "Someone else's bead", "-q")
        let mainBefore = try rig.checked(["rev-parse", "main"])
        let common = rig.path + "/.git"
        // Honest first: its step, verified by the witness. Then one more commit adding what
        // the check forbids, `done`, and every attack it can think of, each one's status and
        // first error line written down.
        let agent = """
            try() { name=$1; shift; "$@" > '\(marks)/'"$name.out" 2> '\(marks)/'"$name.err"; echo $? > '\(marks)/'"$name.status"; }
            step=$(git molecule next --claim -q) && echo work > work.txt && git add work.txt && \
            git commit -q -m "Work" -m "Gt-Step-Done: $step" && git witness check --submitted -q && \
            echo bad > forbidden.txt && git add forbidden.txt && git commit -q -m "One more" && \
            echo "$step" > '\(marks)/step' && git polecat done -q > '\(marks)/done.out' 2>&1
            try update-ref git update-ref refs/gt/beads/$step HEAD
            try notes git notes --ref gt/witness add -f -m '{"passed":true}' HEAD
            try target git update-ref refs/heads/main HEAD
            try approve git molecule approve $step
            try skip git molecule skip $step
            try import sh -c "git bead export | git bead import"
            try enqueue git refinery enqueue polecat/ace/$GT_BEAD
            try actor git bead comment $GT_BEAD hi --actor overseer
            try mailbox git mail inbox -b overseer
            try other git bead update \(other) -p 0
            try name git polecat heartbeat --name furiosa
            try checkout sh -c "echo pwned > '\(rig.path)/pwned'"
            try key cat '\(common)/gt/private/supervisor'
            try config git config gt.sandbox off
            try from git mail send mayor -s hi -m x --from overseer
            try dep git bead dep remove $step ${step%.*}
            try tombstone git bead delete $step
            try unset env -u GT_POLECAT -u GT_GENERATION -u GT_BEAD git molecule approve $step
            try fsref sh -c "echo 0000000000000000000000000000000000000000 > '\(common)/refs/gt/beads/forged'"
            try packed sh -c "echo x >> '\(common)/packed-refs'"
            try hooks sh -c "echo exit 0 > '\(common)/hooks/commit-msg'"
            echo finished > '\(marks)/finished'
            """
        let bead = try rig.bead("create", "Work", "-q")
        _ = try rig.checked(["polecat", "sling", bead, "--formula", "one", "--agent", agent, "--name", "ace", "-q"])
        #expect(eventually { FileManager.default.fileExists(atPath: marks + "/finished") })
        let step = read(marks + "/step").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!step.isEmpty, "\(read(marks + "/done.out"))")
        for refused in [
            "update-ref", "notes", "target", "approve", "skip", "import", "enqueue", "actor",
            "mailbox", "other", "name", "checkout", "key", "config", "from", "fsref", "packed", "hooks",
            "dep", "tombstone", "unset",
        ] {
            let status = read(marks + "/\(refused).status").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(status != "0" && !status.isEmpty, "\(refused) was not refused: \(read(marks + "/\(refused).err"))")
        }
        // Each refusal is one clear line.
        for said in ["approve", "import", "enqueue", "actor", "mailbox", "other", "from"] {
            let error = read(marks + "/\(said).err")
            #expect(error.hasPrefix("fatal: ") && error.split(separator: "\n").count == 1, "\(said): \(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: rig.path + "/pwned"))
        // The refinery ran its final verification on the head and sent the request back.
        let runLog = { self.read(rig.path + "/.git/gt/refinery/run.log") }
        #expect(eventually { runLog().contains("bounced") }, "\(runLog())")
        #expect(runLog().contains("final verification"), "\(runLog())")
        #expect(try rig.checked(["rev-parse", "main"]) == mainBefore)
        #expect(try rig.json(try rig.bead("show", other, "--json"))["priority"] as? Int == 2)
        #expect(try rig.checked(["config", "gt.sandbox.bind"]) == marks)
        #expect(try rig.git(["config", "gt.sandbox"]).status != 0)
        #expect(try rig.git(["fsck", "--no-dangling"]).status == 0)
    }

    @Test func withTheSandboxOffForgedStateIsNotTrusted() throws {
        let (rig, marks) = try makeRig()
        _ = try rig.checked(["config", "gt.sandbox", "off"])
        // The overseer is told the agents are unconfined; the deacon starts watching.
        #expect(try rig.checked(["rig", "status"]).contains("unconfined (gt.sandbox=off)"))
        _ = try rig.checked(["deacon", "patrol", "-q"])
        let mainBefore = try rig.checked(["rev-parse", "main"])
        // Forged with plain git: the step closed with a made-up verdict and a passing note
        // the witness never wrote, then done.
        let agent = """
            step=$(git molecule next --claim -q) && echo bad > forbidden.txt && git add . && \
            git commit -q -m "Unchecked" -m "Gt-Step: $step" && head=$(git rev-parse HEAD) && \
            tree=$(git rev-parse HEAD^{tree}) && \
            git show refs/gt/beads/$step:bead.json | \
            sed "s/\\"status\\": \\"in_progress\\"/\\"status\\": \\"closed\\"/; s/\\"step\\": {/\\"step\\": {\\"verdict\\": {\\"commit\\": \\"$head\\", \\"tree\\": \\"$tree\\", \\"passed\\": true},/" > ../forged.json && \
            blob=$(git hash-object -w ../forged.json) && \
            ftree=$(printf '100644 blob %s\\tbead.json\\n' $blob | git mktree) && \
            fcommit=$(git commit-tree $ftree -p refs/gt/beads/$step -m "verify $step") && \
            git update-ref refs/gt/beads/$step $fcommit && \
            git notes --ref gt/witness add -f -m "{\\"step\\":\\"$step\\",\\"molecule\\":\\"${step%.*}\\",\\"commit\\":\\"$head\\",\\"tree\\":\\"$tree\\",\\"passed\\":true,\\"attempt\\":1,\\"checks\\":[],\\"at\\":\\"x\\",\\"by\\":\\"witness\\"}" HEAD && \
            git polecat done -q > '\(marks)/done.out' 2>&1; echo $? > '\(marks)/finished'
            """
        let bead = try rig.bead("create", "Work", "-q")
        // Names with line breaks could forge trailers: refused, wherever they come from.
        let forged = "x\nGt-Actor: overseer"
        #expect(try rig.git(["bead", "comment", bead, "hi"], env: ["GT_ACTOR": forged]).status == 64)
        #expect(try rig.git(["bead", "comment", bead, "hi", "--actor", forged]).status == 64)
        _ = try rig.checked(["polecat", "sling", bead, "--formula", "one", "--agent", agent, "--name", "ace", "-q"])
        #expect(eventually { FileManager.default.fileExists(atPath: marks + "/finished") })
        #expect(read(marks + "/finished") == "0\n", "\(read(marks + "/done.out"))")
        let runLog = { self.read(rig.path + "/.git/gt/refinery/run.log") }
        #expect(eventually { runLog().contains("bounced") }, "\(runLog())")
        #expect(runLog().contains("not verified"), "\(runLog())")
        #expect(try rig.checked(["rev-parse", "main"]) == mainBefore)
        // What the deacon can see of it: a bead ref written outside the tools, and a move of
        // the target that no landing note explains.
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Straight onto main"])
        _ = try rig.checked(["deacon", "patrol", "-q"])
        let alarm = try rig.checked(["mail", "inbox", "-b", "overseer", "--json"])
        #expect(alarm.contains("the tools did not make"), "\(alarm)")
        #expect(alarm.contains("written outside the tools"), "\(alarm)")
        #expect(alarm.contains("with no landing note"), "\(alarm)")
        let step =
            try rig.checked(["for-each-ref", "--format=%(refname:lstrip=3)", "refs/gt/beads/"])
            .split(separator: "\n").first { $0.hasSuffix(".1") }.map(String.init) ?? "?"
        let verify = try rig.git(["witness", "verify", "polecat/ace/\(bead)", "--strict"])
        #expect(
            verify.status != 0 && verify.stdout.contains("✗ \(step)"),
            "\(verify.stdout)")
    }

    @Test func whereBubblewrapCannotRunSlingRefusesUnlessTheOverseerTurnsTheSandboxOff() throws {
        let (rig, _) = try makeRig()
        // A bubblewrap that cannot make a sandbox (as on a machine without user namespaces).
        let fake = rig.root + "/fake-bin"
        try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: true)
        try "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n".write(
            toFile: fake + "/bwrap", atomically: true, encoding: .utf8)
        chmod(fake + "/bwrap", 0o755)
        let path = ["PATH": fake + ":" + (rig.repository.environment["PATH"] ?? "/usr/bin:/bin")]
        let bead = try rig.bead("create", "Work", "-q")
        let refused = try rig.git(["polecat", "sling", bead, "--agent", "true", "-q"], env: path)
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.hasPrefix("fatal: ") && refused.stderr.split(separator: "\n").count == 1)
        #expect(refused.stderr.contains("gt.sandbox=off"), "\(refused.stderr)")
        // Nothing half made: the bead is free, no worktree, no running polecat.
        let shown = try rig.json(try rig.bead("show", bead, "--json"))
        #expect(shown["status"] as? String == "open" && shown["assignee"] == nil, "\(shown)")
        #expect(try rig.checked(["worktree", "list"]).split(separator: "\n").count == 1)
        let doctor = try rig.git(["rig", "doctor"], env: path)
        #expect(doctor.stdout.contains("cannot be sandboxed"), "\(doctor.stdout)")
        _ = try rig.checked(["config", "gt.sandbox", "off"])
        #expect(try rig.git(["polecat", "sling", bead, "--agent", "true", "-q"], env: path).status == 0)
        #expect(try rig.checked(["rig", "status"]).contains("unconfined"))
    }

    @Test func aStaleGenerationActsOnNothingEvenUnsandboxed() throws {
        let (rig, _) = try makeRig()
        _ = try rig.checked(["config", "gt.sandbox", "off"])
        let bead = try rig.bead("create", "Work", "-q")
        _ = try rig.checked(["polecat", "sling", bead, "--agent", "sleep 60", "--name", "ace", "-q"])
        func generation() throws -> String {
            let record = try rig.json(try rig.checked(["show", "refs/gt/polecats/ace:polecat.json"]))
            return record["generation"] as? String ?? ""
        }
        let old = try generation()
        _ = try rig.checked(["polecat", "restart", "ace"])
        #expect(try generation() != old)
        let worktree = rig.root + "/repo-polecats/ace"
        let stale = try rig.git(
            ["bead", "comment", bead, "still here"], env: ["GT_POLECAT": "ace", "GT_GENERATION": old], in: worktree)
        #expect(stale.status == 1 && stale.stderr.contains("stale generation"), "\(stale.stderr)")
        let current = try rig.git(
            ["bead", "comment", bead, "the new one"], env: ["GT_POLECAT": "ace", "GT_GENERATION": try generation()],
            in: worktree)
        #expect(current.status == 0, "\(current.stderr)")
        _ = try rig.git(["polecat", "stop", "ace"])
    }

    @Test func formulaVariablesReachCheckCommandsAsData() throws {
        let rig = try TemporaryRig(tools: ["bead", "molecule", "rig"])
        try rig.repository.commitFile("README", "sample\n", message: "initial")
        try rig.commitFormula(
            "quoted",
            "formula = \"quoted\"\n[vars.feature]\nrequired = true\n[[steps]]\nid = \"a\"\ntitle = \"A\"\n"
                + "check = [\"grep -qF {{feature}} README\", \"grep -qF '{{feature}}' README\", "
                + "\"grep -qF \\\"{{feature}}\\\" README\"]\n")
        _ = try rig.checked(["rig", "init", "--prefix", "gw"])
        let scratch = rig.root + "/scratch"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        for value in [
            "x'; touch pwned; echo '", "$(touch pwned)", "`touch pwned`", "a; touch pwned", "a\ntouch pwned",
            "\"; touch pwned; echo \"", "it's \\ \"quoted\" $HOME",
        ] {
            let molecule =
                try rig.checked(["molecule", "pour", "quoted", "--var", "feature=\(value)", "-q"])
                .split(separator: "\n").first.map(String.init) ?? ""
            let step = try rig.json(try rig.bead("show", molecule + ".1", "--json"))
            let checks = (step["step"] as? [String: Any])?["checks"] as? [[String: Any]] ?? []
            #expect(checks.count == 3)
            try value.write(toFile: scratch + "/README", atomically: true, encoding: .utf8)
            for check in checks {
                let command = check["run"] as? String ?? ""
                let ran = try run("/bin/sh", ["-c", command], in: scratch, environment: rig.repository.environment)
                // The value is searched for as it is, and found: never run.
                #expect(ran.status == 0, "\(command): \(ran.stderr)")
                #expect(!FileManager.default.fileExists(atPath: scratch + "/pwned"), "\(command)")
            }
        }
    }
}
