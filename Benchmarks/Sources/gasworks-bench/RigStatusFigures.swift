import Foundation

func rigStatusFigures() -> [Figure] {
    /// A rig with 10,000 beads and 30 running polecats (the patrol fixture plus bulk beads).
    func make(_ trial: Trial) throws -> (rig: String, env: [String: String], pids: [Int32]) {
        let setup = try PatrolRig.make(trial)
        let lines = (1...10_000).map { "Bead \($0)" }.joined(separator: "\n") + "\n"
        let input = trial.directory + "/beads.txt"
        try writeFile(input, lines)
        let created = try Spawn.run(
            ["git", "bead", "create", "--stdin", "-q"], in: setup.rig, stdinPath: input, environment: setup.env)
        try trial.expect(created.status == 0, "bulk create: \(created.stderr)")
        // Warm the bead index cache once, as any earlier command would have.
        _ = try Spawn.run(["git", "bead", "list", "-q", "-n", "1"], in: setup.rig, environment: setup.env)
        return setup
    }
    return [
        Figure(
            name: "rig-status-30-10k",
            title: "git rig status on a rig with 30 polecats and 10,000 beads",
            measures: "The patrol fixture (30 running polecats, each with worktree, branch, claimed bead and live "
                + "agent) plus 10,000 open beads, index cache warm. Whole-process `gasworks rig status --json`: "
                + "every worker with liveness and heartbeat, open and ready counts, molecule progress, the refinery "
                + "queue and lease, the deacon's last report, the overseer's unread mail. Checked: 30 workers and "
                + "10,030 open beads reported. The baseline lists the state refs with plain git "
                + "(`git for-each-ref refs/gt/`); the issue's bound is absolute: ≤ 200 ms.",
            ours: Side("`gasworks rig status --json`", .wholeProcess) { trial in
                let setup = try make(trial)
                defer { PatrolRig.stop(setup.pids) }
                let result = try trial.time {
                    try Spawn.run(
                        [try gasworksBinary(), "rig", "status", "--json"], in: setup.rig, environment: setup.env)
                }
                try trial.expect(result.status == 0, "status: \(result.stderr)")
                let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
                let workers = (object["workers"] as? [Any])?.count ?? 0
                let open = (object["beads"] as? [String: Any])?["open"] as? Int ?? 0
                try trial.expect(workers == PatrolRig.polecats && open == 10_030, "\(workers) workers, \(open) open")
                trial.fingerprint = "\(workers) workers, \(open) open"
            },
            baseline: Side("`git for-each-ref refs/gt/`", .wholeProcess) { trial in
                let setup = try make(trial)
                defer { PatrolRig.stop(setup.pids) }
                let result = try trial.time { try Spawn.run(["git", "for-each-ref", "refs/gt/"], in: setup.rig) }
                try trial.expect(result.status == 0, "for-each-ref: \(result.stderr)")
                trial.fingerprint = "\(result.stdout.split(separator: "\n").count) refs"
            },
            targetSeconds: 0.2, repetitions: 5)
    ]
}
