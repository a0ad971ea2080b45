import Foundation
import TestSupport
import Testing

@Suite struct RigHookTests {
    static let userShellHook = """
        #!/bin/sh
        # the user's own commit-msg hook
        echo "user commit-msg saw: $(head -n 1 "$1")" >> "$(git rev-parse --git-common-dir)/user-log"
        exit 0

        """
    static let userPerlHook = """
        #!/usr/bin/env perl
        open(my $log, '>>', '.git/user-log') or die; print $log "user post-commit (perl)\\n";

        """
    static let userTransactionHook = """
        #!/bin/sh
        while read -r old new ref; do echo "user saw $1 $ref" >> "$(git rev-parse --git-common-dir)/user-log"; done

        """

    func writeHook(_ rig: TemporaryRig, _ name: String, _ text: String, executable: Bool = true) throws -> String {
        let path = rig.path + "/.git/hooks/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: executable ? 0o755 : 0o644], ofItemAtPath: path)
        return path
    }

    func log(_ rig: TemporaryRig) -> String {
        (try? String(contentsOfFile: rig.path + "/.git/user-log", encoding: .utf8)) ?? ""
    }

    @Test func userHooksKeepRunningAndComeBackUnchanged() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail", "molecule", "witness", "rig"])
        try rig.repository.commitFile("README", "x\n", message: "initial")
        let shell = try writeHook(rig, "commit-msg", Self.userShellHook)
        let perl = try writeHook(rig, "post-commit", Self.userPerlHook)
        let transaction = try writeHook(rig, "reference-transaction", Self.userTransactionHook)
        let disabled = try writeHook(rig, "pre-push", "#!/bin/sh\nexit 1\n", executable: false)
        let originals = try [shell, perl, transaction, disabled].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }

        let initialized = try rig.checked(["rig", "init", "--prefix", "gw", "--hooks", "everywhere"])
        #expect(initialized.contains("hook commit-msg: added before your sh code"))
        #expect(initialized.contains("hook post-commit: installed; your hook now runs as post-commit.user"))
        let status = try rig.checked(["rig", "hooks", "status"])
        #expect(status.contains("commit-msg            installed (keeps your hook)"))
        #expect(status.contains("pre-commit") == false)
        #expect(try rig.checked(["rig", "init"]) == "rig already set up; nothing changed")

        // A worker's commit in its own worktree: every user hook still runs, and the
        // user's reference-transaction hook still reads the lines git gave.
        let bead = try rig.bead("create", "Work", "-q")
        let worktree = rig.root + "/w"
        _ = try rig.checked(["worktree", "add", "-q", "-b", "polecat/w/\(bead)", worktree])
        _ = try rig.checked(["rig", "worker", "polecat/w"], in: worktree)
        _ = try rig.checked(["bead", "claim", bead], in: worktree)
        try "".write(toFile: rig.path + "/.git/user-log", atomically: true, encoding: .utf8)
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Worker commit"], in: worktree)
        #expect(try rig.checked(["log", "-1", "--format=%B"], in: worktree).contains("Gt-Bead: \(bead)"))
        let seen = log(rig)
        #expect(seen.contains("user commit-msg saw: Worker commit"))
        #expect(seen.contains("user saw prepared refs/heads/polecat/w/\(bead)"))
        #expect(seen.contains("user saw committed refs/heads/polecat/w/\(bead)"))
        // The perl hook, moved aside to post-commit.user, runs after the block.
        _ = try rig.repository.commitFile("MAIN", "y\n", message: "main commit")
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Overseer commit"])
        #expect(log(rig).contains("user post-commit (perl)"))
        #expect(log(rig).contains("user commit-msg saw: Overseer commit"))

        let removed = try rig.checked(["rig", "hooks", "uninstall"])
        #expect(removed.contains("post-commit: removed; your hook is back"))
        let after = try [shell, perl, transaction, disabled].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(after == originals)
        #expect(!FileManager.default.fileExists(atPath: perl + ".user"))
        #expect(!FileManager.default.isExecutableFile(atPath: disabled))
        let hooks = try FileManager.default.contentsOfDirectory(atPath: rig.path + "/.git/hooks").filter {
            !$0.hasSuffix(".sample")
        }
        #expect(Set(hooks) == ["commit-msg", "post-commit", "reference-transaction", "pre-push"])
    }

    @Test func workersModeLeavesOtherCheckoutsAndUserHooksAlone() throws {
        let rig = try TemporaryRig(tools: ["bead", "rig"])
        try rig.repository.commitFile("README", "x\n", message: "initial")
        let shell = try writeHook(rig, "commit-msg", Self.userShellHook)
        let original = try Data(contentsOf: URL(fileURLWithPath: shell))
        let initialized = try rig.checked(["rig", "init", "--prefix", "gw"])
        #expect(initialized.contains("hook commit-msg: installed for workers; then your commit-msg runs"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: shell)) == original)
        #expect(try rig.checked(["rig", "hooks", "status"]).contains("no worker's checkout uses them yet"))

        // The main checkout runs only the user's hook: a message naming an unknown step passes.
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Overseer\n\nGt-Step: gw-nope.1"])
        #expect(log(rig).contains("user commit-msg saw: Overseer"))
        let worktree = rig.root + "/w"
        _ = try rig.checked(["worktree", "add", "-q", "-b", "polecat/w/x", worktree])
        _ = try rig.checked(["rig", "worker", "polecat/w"], in: worktree)
        let status = try rig.checked(["rig", "hooks", "status"])
        #expect(status.contains("used by 1 worker checkout"))
        #expect(status.contains("/.git/worktrees/w"))
        #expect(try rig.checked(["config", "core.hooksPath"], in: worktree).hasSuffix(".git/gt/hooks"))
        #expect(try rig.git(["config", "core.hooksPath"]).status == 1)
        // The worker's checkout runs Gasworks' block, then the user's hook.
        let refused = try rig.git(["commit", "--allow-empty", "-m", "Worker\n\nGt-Step: gw-nope.1"], in: worktree)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("unknown step 'gw-nope.1'"))
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Worker ok"], in: worktree)
        #expect(log(rig).contains("user commit-msg saw: Worker ok"))
        // Leaving the worker's role turns its hooks off; uninstall leaves no trace.
        _ = try rig.checked(["rig", "worker", "--clear"], in: worktree)
        #expect(try rig.git(["config", "core.hooksPath"], in: worktree).status == 1)
        _ = try rig.checked(["rig", "worker", "polecat/w"], in: worktree)
        _ = try rig.checked(["rig", "hooks", "uninstall"])
        #expect(try rig.git(["config", "--get-regexp", "includeif"]).status == 1)
        #expect(!FileManager.default.fileExists(atPath: rig.path + "/.git/gt/hooks"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: shell)) == original)
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "After\n\nGt-Step: gw-nope.1"], in: worktree)
    }

    @Test func hooksAreHarmlessOutsideARig() throws {
        let repository = try TemporaryRig(tools: ["rig", "bead"])
        _ = try repository.checked(["config", "--unset", "gt.prefix"])
        // Installed through a shared core.hooksPath, as a user might for every repository.
        _ = try repository.checked(["config", "core.hooksPath", repository.root + "/shared-hooks"])
        _ = try repository.checked(["rig", "hooks", "install", "--mode", "everywhere"])
        #expect(FileManager.default.fileExists(atPath: repository.root + "/shared-hooks/commit-msg"))
        _ = try repository.checked(["commit", "-q", "--allow-empty", "-m", "Plain"])
        _ = try repository.checked([
            "commit", "-q", "--allow-empty", "-m", "Mentions trailers\n\nGt-Bead: not-a-bead\nGt-Step: nope.1",
        ])
        let bare = repository.root + "/remote.git"
        _ = try repository.checked(["init", "-q", "--bare", bare])
        _ = try repository.checked(["push", "-q", bare, "main"])
        #expect(try repository.checked(["log", "--format=%s"]) == "Mentions trailers\nPlain")
        #expect(try repository.everyRef() == "refs/heads/main \(try repository.checked(["rev-parse", "main"]))")
        #expect(try repository.checked(["fsck", "--no-dangling"]).isEmpty)
    }

    @Test func workersCannotAdvanceTheTargetBranch() throws {
        let rig = try TemporaryRig(tools: ["bead", "rig", "molecule"])
        try rig.repository.commitFile("README", "x\n", message: "initial")
        let bare = rig.root + "/hub.git"
        _ = try rig.checked(["init", "-q", "--bare", bare])
        _ = try rig.checked(["remote", "add", "origin", bare])
        _ = try rig.checked(["push", "-q", "origin", "main"])
        let initialized = try rig.checked(["rig", "init", "--prefix", "gw"])
        #expect(initialized.contains("remote.origin.fetch += +refs/gt/*:refs/gt-sync/origin/gt/*"))
        #expect(initialized.contains("remote.origin.push += refs/notes/gt/*:refs/notes/gt/*"))
        let main = try rig.checked(["rev-parse", "main"])
        let worktree = rig.root + "/w"
        _ = try rig.checked(["worktree", "add", "-q", "-b", "polecat/w/x", worktree])
        _ = try rig.checked(["rig", "worker", "polecat/w"], in: worktree)
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Work"], in: worktree)

        let push = try rig.git(["push", "origin", "HEAD:main"], in: worktree)
        #expect(push.status != 0)
        #expect(push.stderr.contains("fatal: only the refinery advances main"))
        #expect(try rig.checked(["--git-dir", bare, "rev-parse", "main"]) == main)
        let updateRef = try rig.git(["update-ref", "refs/heads/main", "HEAD"], in: worktree)
        #expect(updateRef.status != 0)
        #expect(updateRef.stderr.contains("only the refinery advances main"))
        let branchForce = try rig.git(["branch", "-f", "main", "HEAD"], in: worktree)
        #expect(branchForce.status != 0)
        #expect(try rig.checked(["rev-parse", "main"]) == main)
        // Its own branch pushes fine; the overseer's checkout is not a worker's.
        _ = try rig.checked(["push", "-q", "origin", "HEAD:refs/heads/polecat/w/x"], in: worktree)
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Overseer on main"])
        #expect(try rig.checked(["rev-parse", "main"]) != main)

        // Trailers come from the cache even when --no-verify skips commit-msg; commits get
        // their note in refs/notes/gt/beads.
        let bead = try rig.bead("create", "Task", "-q")
        _ = try rig.checked(["bead", "claim", bead], in: worktree)
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "First"], in: worktree)
        _ = try rig.checked(["commit", "-q", "--allow-empty", "--no-verify", "-m", "Second"], in: worktree)
        #expect(try rig.checked(["log", "-1", "--format=%B"], in: worktree).contains("Gt-Bead: \(bead)"))
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Third"], in: worktree)
        // Third needed no process (nothing moved since First); a change to the bead makes the
        // next commit's check run again, and that records the commits before it.
        _ = try rig.bead("comment", bead, "halfway")
        _ = try rig.checked(["commit", "-q", "--allow-empty", "-m", "Fourth"], in: worktree)
        let noted = try rig.checked(["notes", "--ref=gt/beads", "show", "HEAD~1"], in: worktree)
        #expect(noted.contains("\"bead\":\"\(bead)\""))
        #expect(noted.contains("\"by\":\"polecat/w\""))
    }

    @Test func signedVerdictsAndStrictMode() throws {
        let w = try WitnessRig(
            formula: """
                formula = "three"
                [[steps]]
                id = "signed"
                title = "Signed"
                check = "test -f a.txt"
                [[steps]]
                id = "unsigned"
                title = "Unsigned"
                needs = ["signed"]
                check = "test -f b.txt"
                """)
        let key = w.rig.root + "/witness-key"
        let generated = try run(
            "ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "witness", "-f", key],
            environment: w.rig.repository.environment)
        #expect(generated.status == 0, "\(generated.stderr)")
        let publicKey = try String(contentsOfFile: key + ".pub", encoding: .utf8)
        try "witness@rig namespaces=\"gasworks-verdict\" \(publicKey)".write(
            toFile: w.rig.root + "/allowed", atomically: true, encoding: .utf8)
        for (name, value) in [
            ("gpg.format", "ssh"), ("user.signingKey", key), ("gpg.ssh.allowedSignersFile", w.rig.root + "/allowed"),
            ("gt.witness.sign", "true"),
        ] {
            _ = try w.rig.checked(["config", name, value])
        }
        try w.finishStep(1, file: "a.txt", contents: "a\n")
        _ = try w.rig.checked(["witness", "check", "\(w.molecule).1"])
        #expect(try w.rig.checked(["witness", "show", "\(w.molecule).1"]).contains("(signed)"))
        _ = try w.rig.checked(["config", "gt.witness.sign", "false"])
        try w.finishStep(2, file: "b.txt", contents: "b\n")
        _ = try w.rig.checked(["witness", "check", "\(w.molecule).2"])
        let branch = "polecat/nux/\(w.bead)"
        #expect(try w.rig.git(["witness", "verify", branch]).status == 0)
        let strict = try w.rig.git(["witness", "verify", branch, "--strict"])
        #expect(strict.status == 1)
        #expect(strict.stdout.contains("✓ \(w.molecule).1 signed: verified on"))
        #expect(strict.stdout.contains("signed by witness@rig"))
        #expect(strict.stdout.contains("✗ \(w.molecule).2 unsigned: its verdict on"))
        // Strict by configuration, too.
        _ = try w.rig.checked(["config", "gt.witness.strict", "true"])
        #expect(try w.rig.git(["witness", "verify", branch]).status == 1)
    }

    @Test func gpgSignedVerdicts() throws {
        let w = try WitnessRig(
            formula: """
                formula = "three"
                [[steps]]
                id = "signed"
                title = "Signed"
                check = "test -f a.txt"
                [[steps]]
                id = "approved"
                title = "Approved"
                needs = ["signed"]
                check = "false"
                """)
        let home = w.rig.root + "/gnupg"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: home)
        let gpg = ["GNUPGHOME": home]
        let environment = w.rig.repository.environment.merging(gpg) { $1 }
        defer { _ = try? run("gpgconf", ["--kill", "all"], environment: environment) }
        let made = try run(
            "gpg",
            ["--batch", "--passphrase", "", "--quick-gen-key", "Witness <witness@rig>", "ed25519", "sign", "never"],
            environment: environment)
        #expect(made.status == 0, "\(made.stderr)")
        _ = try w.rig.checked(["config", "user.signingKey", "witness@rig"])
        _ = try w.rig.checked(["config", "gt.witness.sign", "true"])
        try w.finishStep(1, file: "a.txt", contents: "a\n")
        _ = try w.rig.checked(["witness", "check", "\(w.molecule).1"], env: gpg)
        // Step 2 is still open, so the branch is not verified yet; step 1's verdict is.
        let strict = try w.rig.git(["witness", "verify", "polecat/nux/\(w.bead)", "--strict"], env: gpg)
        #expect(strict.stdout.contains("✓ \(w.molecule).1 signed: verified on"), "\(strict.stdout) \(strict.stderr)")
        #expect(strict.stdout.contains("signed by"))
        // A verdict whose payload was changed after signing is not trusted.
        let head = try w.rig.repository.gitOutput("rev-parse", "polecat/nux/\(w.bead)")
        let note = try w.rig.repository.gitOutput("notes", "--ref=gt/witness", "show", head)
        _ = try w.rig.checked([
            "notes", "--ref=gt/witness", "add", "-f", "-m",
            note.replacingOccurrences(of: "\"attempt\":1", with: "\"attempt\":9"),
            head,
        ])
        let forged = try w.rig.git(["witness", "verify", "polecat/nux/\(w.bead)", "--strict"], env: gpg)
        #expect(forged.stdout.contains("✗ \(w.molecule).1 signed: its verdict on"))
        // An approval is bead data, not a signed verdict: strict mode does not take it for one.
        _ = try w.rig.checked(["notes", "--ref=gt/witness", "add", "-f", "-m", note, head])
        _ = try w.workChecked(["molecule", "next", "--claim", w.molecule])
        _ = try w.rig.checked(["molecule", "approve", "\(w.molecule).2", "-n", "trust me"])
        let approved = try w.rig.git(["witness", "verify", "polecat/nux/\(w.bead)", "--strict"], env: gpg)
        #expect(approved.status == 1)
        #expect(approved.stdout.contains("✓ \(w.molecule).1 signed: verified on"))
        #expect(approved.stdout.contains("strict mode wants a signed verdict"))
        #expect(try w.rig.git(["witness", "verify", "polecat/nux/\(w.bead)"], env: gpg).status == 0)
    }

    @Test func badInputGetsOneLineAndAStatus() throws {
        let w = try WitnessRig()
        let before = try w.rig.everyRef()
        let cases: [([String], Int32, String)] = [
            (["witness", "check", "gw-zzzz"], 2, "fatal: no bead"),
            (["witness", "check"], 64, "fatal: give a step or --submitted"),
            (["witness", "check", "\(w.molecule).1", "--submitted"], 64, "fatal: give a step or --submitted"),
            (
                ["witness", "check", "\(w.molecule).1"], 1,
                "fatal: cannot check step '\(w.molecule).1': it is not submitted"
            ),
            (["witness", "check", w.bead], 64, "is not a step of a molecule"),
            (["witness", "verify", "no-such-branch"], 2, "fatal: no molecule or revision 'no-such-branch'"),
            (["witness", "retry", "\(w.molecule).1"], 1, "fatal: cannot retry step"),
            (["rig", "init", "--prefix", "a b"], 64, "fatal: invalid prefix 'a b'"),
            (["rig", "init", "--remote", "nowhere"], 2, "fatal: no remote 'nowhere'"),
            (["rig", "hook", "pre-rebase"], 64, "fatal: unknown hook 'pre-rebase'"),
            (["rig", "worker", "boss"], 64, "fatal: invalid worker 'boss'"),
        ]
        for (arguments, status, message) in cases {
            let result = try w.rig.git(arguments)
            #expect(result.status == status, "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
        }
        #expect(try w.rig.everyRef() == before)
        let outside = try run(
            "git", ["rig", "hooks", "status"], in: w.rig.root, environment: w.rig.repository.environment)
        #expect(outside.status == 128)
    }
}

@Suite struct CommitFastPathTests {
    /// Replaces the rig's `git-rig` and `gasworks-hook` with scripts that log each start,
    /// then run them.
    func countStarts(_ rig: TemporaryRig) throws -> String {
        let log = rig.root + "/rig-starts"
        for (name, command) in [
            ("git-rig", "'\(builtProduct("gasworks"))' rig"), ("gasworks-hook", "'\(builtProduct("gasworks-hook"))'"),
        ] {
            let wrapper = rig.bin + "/" + name
            try FileManager.default.removeItem(atPath: wrapper)
            try "#!/bin/sh\necho \"\(name) $*\" >> '\(log)'\nexec \(command) \"$@\"\n".write(
                toFile: wrapper, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper)
        }
        return log
    }

    func starts(_ log: String) -> Int {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test func aValidatedCommitNeedsNoProcessUntilARefMoves() throws {
        let w = try WitnessRig()
        let log = try countStarts(w.rig)
        _ = try w.workChecked(["molecule", "next", "--claim", w.molecule])
        try w.write("one.txt", "1\n")
        _ = try w.workChecked(["add", "one.txt"])
        _ = try w.workChecked(["commit", "-q", "-m", "First"])
        #expect(starts(log) == 1)
        // The same step and bead, no ref moved: the stub decides alone.
        _ = try w.workChecked(["commit", "-q", "--allow-empty", "-m", "Second"])
        #expect(starts(log) == 1)
        let second = try w.workChecked(["log", "-1", "--format=%B"])
        #expect(second.contains("Gt-Step: \(w.molecule).1") && second.contains("Gt-Bead: \(w.bead)"))

        // The step is submitted and verified elsewhere: its ref moved, so the next commit is
        // checked again, and the trailers no longer name the closed step.
        _ = try w.workChecked(["molecule", "done", "\(w.molecule).1"])
        _ = try w.rig.checked(["witness", "check", "\(w.molecule).1"])
        _ = try w.workChecked(["commit", "-q", "--allow-empty", "-m", "Third"])
        #expect(starts(log) == 2)
        let third = try w.workChecked(["log", "-1", "--format=%B"])
        #expect(!third.contains("Gt-Step: \(w.molecule).1"))
        #expect(third.contains("Gt-Bead: \(w.bead)"))
        let closed = try w.work(["commit", "--allow-empty", "-m", "Fourth\n\nGt-Step: \(w.molecule).1"])
        #expect(closed.status == 1)
        #expect(closed.stderr.contains("is already closed"))
        // A trailer key in another case is still a trailer: the stub does not let it through.
        let lowercase = try w.work(["commit", "--allow-empty", "-m", "Sneak\n\ngt-step: \(w.molecule).3"])
        #expect(lowercase.status == 1)
        #expect(lowercase.stderr.contains("needs \(w.molecule).2"))
        // A cache edited by hand (a ref value that is not the ref's) is not trusted.
        _ = try w.workChecked(["molecule", "next", "--claim", w.molecule])
        _ = try w.workChecked(["commit", "-q", "--allow-empty", "-m", "Fifth"])
        let before = starts(log)
        let cache = w.rig.path + "/.git/worktrees/nux/gt/validated"
        let text = try String(contentsOfFile: cache, encoding: .utf8)
        #expect(text.contains("ref="))
        try text.replacingOccurrences(of: " ", with: " 0").write(toFile: cache, atomically: true, encoding: .utf8)
        _ = try w.workChecked(["commit", "-q", "--allow-empty", "-m", "Sixth"])
        #expect(starts(log) == before + 1)
        // An empty cache (truncated, or written by something else) is not trusted either.
        try "".write(toFile: cache, atomically: true, encoding: .utf8)
        try "".write(
            toFile: w.rig.path + "/.git/worktrees/nux/gt/trailers", atomically: true, encoding: .utf8)
        _ = try w.workChecked(["commit", "-q", "--allow-empty", "-m", "Seventh"])
        #expect(starts(log) == before + 2)
        #expect(try w.workChecked(["log", "-1", "--format=%B"]).contains("Gt-Step: \(w.molecule).2"))
        // Every commit is in refs/notes/gt/beads once a process ran after it: all but Seventh.
        let noted = try w.rig.repository.gitOutput("notes", "--ref=gt/beads", "list").split(separator: "\n").count
        #expect(noted == 5)
    }
}
