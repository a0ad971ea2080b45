import Foundation

/// Commits with the rig's hooks installed, against the same commits with hooks switched off.
enum HookRig {
    static let files = 1_000
    static let commits = 10

    /// A rig of `files` files with `git rig init` run, a bead and a two-step molecule, and a
    /// worker's worktree (marked with `git rig worker`) holding the bead and the first step.
    /// Returns (main checkout, worker worktree, bin directory with the git-<tool> links).
    static func make(_ trial: Trial, mode: String = "workers") throws -> (main: String, worker: String, bin: String) {
        let bin = try trial.toolDirectory(["bead", "molecule", "rig", "witness", "mail"])
        let main = try trial.initRepository("rig")
        for index in 0..<files {
            let directory = main + "/src/d\(index % 20)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try writeFile(directory + "/f\(index).txt", "file \(index)\n")
        }
        try FileManager.default.createDirectory(atPath: main + "/formulas", withIntermediateDirectories: true)
        try writeFile(
            main + "/formulas/two.formula.toml",
            "formula = \"two\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\ncheck = \"true\"\n"
                + "[[steps]]\nid = \"b\"\ntitle = \"B\"\nneeds = [\"a\"]\ncheck = \"true\"\n")
        try settle(main, trial)
        try trial.git("add", "-A", in: main)
        try trial.git("commit", "-q", "-m", "Sample project", in: main)
        let env = ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        func tool(_ arguments: [String], in directory: String) throws -> String {
            let result = try Spawn.run(["git"] + arguments, in: directory, environment: env)
            try trial.expect(result.status == 0, "git \(arguments.joined(separator: " ")): \(result.stderr)")
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try tool(["rig", "init", "--prefix", "gw", "--hooks", mode], in: main)
        let bead = try tool(["bead", "create", "Work", "-q"], in: main)
        let molecule = try tool(["molecule", "pour", "two", "--on", bead, "-q"], in: main).split(separator: "\n")[0]
        let worker = trial.directory + "/worker"
        _ = try tool(["worktree", "add", "-q", "-b", "polecat/nux/\(bead)", worker], in: main)
        _ = try tool(["rig", "worker", "polecat/nux"], in: worker)
        _ = try tool(["bead", "claim", bead], in: worker)
        _ = try tool(["molecule", "next", "--claim", String(molecule), "-q"], in: worker)
        try settle(worker, trial)
        try trial.git("update-index", "-q", "--refresh", in: worker)
        try trial.git("update-index", "-q", "--refresh", in: main)
        return (main, worker, bin)
    }

    /// Dates every file in the checkout a day back, so no index entry is "racily clean"
    /// (as new as the index itself): git would otherwise re-read such files on every commit
    /// until the index is rewritten, and the timings would depend on the clock's second.
    static func settle(_ directory: String, _ trial: Trial) throws {
        let result = try Spawn.run(
            ["sh", "-c", "find src formulas -type f -exec touch -d @1699900000 {} +"], in: directory)
        try trial.expect(result.status == 0, "touch failed: \(result.stderr)")
    }

    /// A shell loop of `commits` commits, each changing one file: identical on both sides.
    /// With `recheck`, each commit first empties the worker's validation cache (a shell
    /// built-in, on both sides), so commit-msg runs its Gasworks process every time.
    static func script(_ trial: Trial, hooks: Bool, recheck: Bool = false) throws -> String {
        let path = trial.directory + "/commits.sh"
        let git = hooks ? "git" : "git -c core.hooksPath=/dev/null"
        // The worker's worktree is `<trial>/worker`, so its git dir is `<trial>/rig/.git/worktrees/worker`.
        let forget = recheck ? "  : > '\(trial.directory)/rig/.git/worktrees/worker/gt/validated'\n" : ""
        try writeFile(
            path,
            "set -e\ni=0\nwhile [ $i -lt \(commits) ]; do\n  i=$((i + 1))\n  echo \"change $i\" >> src/d0/f0.txt\n"
                + forget + "  \(git) commit -q -a -m \"Change $i\"\ndone\n")
        return path
    }

    /// Runs the commits in `directory`, timed; checks they all landed.
    static func timeCommits(
        _ trial: Trial, in directory: String, bin: String, hooks: Bool, recheck: Bool = false
    ) throws {
        let script = try script(trial, hooks: hooks, recheck: recheck)
        let env = ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        let before = try trial.git("rev-list", "--count", "HEAD", in: directory)
        let result = try trial.time { try Spawn.run(["sh", script], in: directory, environment: env) }
        try trial.expect(result.status == 0, "commits failed: \(result.stderr)")
        let after = try trial.git("rev-list", "--count", "HEAD", in: directory)
        try trial.expect(Int(after.trimmed) == Int(before.trimmed)! + commits, "\(after) commits after \(before)")
    }

    /// Gasworks processes one more commit in `directory` starts, counted through a wrapper
    /// `git-rig` that logs each start (untimed).
    static func processesPerCommit(_ trial: Trial, in directory: String) throws -> Int {
        let counting = trial.directory + "/counting"
        try FileManager.default.createDirectory(atPath: counting, withIntermediateDirectories: true)
        let log = trial.directory + "/starts"
        for (name, command) in [
            ("git-rig", "'\(try gasworksBinary())' rig"), ("gasworks-hook", "'\(try builtProduct("gasworks-hook"))'"),
        ] {
            try writeFile(counting + "/" + name, "#!/bin/sh\necho \"\(name) $*\" >> '\(log)'\nexec \(command) \"$@\"\n")
            chmod(counting + "/" + name, 0o755)
        }
        let env = ["PATH": counting + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        try writeFile(directory + "/src/d1/counted.txt", "counted\n")
        let result = try Spawn.run(
            ["sh", "-c", "git add -A && git commit -q -m Counted"], in: directory, environment: env)
        try trial.expect(result.status == 0, "counted commit failed: \(result.stderr)")
        let starts = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return starts.split(separator: "\n").count
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// Both sides of a commit figure: the loop with hooks (ours) and without (the baseline), in
/// a fresh rig with the hooks installed in `mode`, in the main checkout or the worker's.
func commitFigure(
    name: String, title: String, measures: String, label: String, mode: String = "workers", worker: Bool,
    recheck: Bool = false, target: Double? = nil
) -> Figure {
    func side(hooks: Bool) -> (Trial) throws -> Void {
        { trial in
            let rig = try HookRig.make(trial, mode: mode)
            let directory = worker ? rig.worker : rig.main
            try HookRig.timeCommits(trial, in: directory, bin: rig.bin, hooks: hooks, recheck: recheck)
            guard hooks, !recheck else { return }
            if worker {
                let message = try trial.git("log", "-1", "--format=%B", in: directory)
                try trial.expect(message.contains("Gt-Step: "), "the hooks added no trailers: \(message)")
            }
            trial.observation =
                "\(try HookRig.processesPerCommit(trial, in: directory)) Gasworks processes per commit"
        }
    }
    return Figure(
        name: name, title: title, measures: measures, ours: Side(label, .wholeProcess, side(hooks: true)),
        baseline: Side(
            "the same \(HookRig.commits) commits with `git -c core.hooksPath=/dev/null commit`", .wholeProcess,
            side(hooks: false)),
        target: target, repetitions: 7)
}

func hookFigures() -> [Figure] {
    [
        commitFigure(
            name: "hooks-commit-overseer",
            title: "\(HookRig.commits) commits in a checkout that is not a worker's, hooks installed",
            measures: "A rig of \(HookRig.files) files after `git rig init` (hooks installed in the default "
                + "`workers` mode, a worker's worktree using them). A shell loop appends a line to a file and runs "
                + "`git commit -q -a` \(HookRig.commits) times in the main checkout (not a worker's); whole-process. "
                + "The baseline is the same loop in the same checkout with hooks switched off. Observed: how many "
                + "Gasworks processes one more such commit starts (counting `git-rig` and `gasworks-hook` on PATH).",
            label: "`git commit` ×\(HookRig.commits), hooks installed", worker: false, target: 1.2),
        commitFigure(
            name: "hooks-everywhere-commit-overseer",
            title: "the same, with the hooks installed `--hooks everywhere`",
            measures: "As above, but with `git rig init --hooks everywhere`: the main checkout runs the hook blocks "
                + "too (prepare-commit-msg, commit-msg, post-commit, and reference-transaction twice per commit). "
                + "The blocks start no process in a checkout that is not a worker's; what remains is git starting "
                + "`/bin/sh` for each hook. Reported for comparison, without a target.",
            label: "`git commit` ×\(HookRig.commits), hooks everywhere", mode: "everywhere", worker: false),
        commitFigure(
            name: "hooks-commit-worker",
            title: "\(HookRig.commits) commits in a worker's worktree, every hook running",
            measures: "The same rig; a worker's worktree (`git rig worker polecat/nux`) holding a bead and the first "
                + "step of a molecule poured on it. The loop commits \(HookRig.commits) times there: "
                + "prepare-commit-msg adds the trailers from its cache; commit-msg runs `gasworks-hook commit-msg` "
                + "(one Gasworks process: checks the step and bead, notes earlier commits in refs/notes/gt/beads) "
                + "for the first commit, and decides in shell for the next ones, whose trailers and every ref the "
                + "check read are unchanged; post-commit and reference-transaction run as shell. The baseline is "
                + "the same loop with hooks switched off. Observed: Gasworks processes one more such commit starts.",
            label: "`git commit` ×\(HookRig.commits) in a worker's worktree, hooks on", worker: true, target: 3.0),
        commitFigure(
            name: "hooks-checked-commit-worker",
            title: "the same, with the check run for every commit",
            measures: "As above, but before each commit the loop empties the worker's validation cache "
                + "(`: > <git dir>/gt/validated`, in both sides' loops), as after any change to the refs a check "
                + "reads: every commit starts `gasworks-hook commit-msg`. Reported without a target: this is the "
                + "cost of one Gasworks process per commit.",
            label: "`git commit` ×\(HookRig.commits), checked each time", worker: true, recheck: true),
    ]
}
