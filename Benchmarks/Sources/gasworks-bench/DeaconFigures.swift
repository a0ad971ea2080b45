import Foundation

/// A rig with 30 running polecats, each a worktree and a live agent (a long sleep).
enum PatrolRig {
    static let polecats = 30

    static func make(_ trial: Trial) throws -> (rig: String, env: [String: String], pids: [Int32]) {
        let bin = try trial.toolDirectory(["bead", "rig", "mail", "molecule", "polecat", "deacon"])
        let rig = try trial.initRepository("rig")
        try writeFile(rig + "/README", "sample project\n")
        try trial.git("add", "-A", in: rig)
        try trial.git("commit", "-q", "-m", "Sample project", in: rig)
        let env = ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        func git(_ arguments: [String]) throws -> String {
            let result = try Spawn.run(["git"] + arguments, in: rig, environment: env)
            try trial.expect(result.status == 0, "git \(arguments.joined(separator: " ")): \(result.stderr)")
            return result.stdout.trimmed
        }
        _ = try git(["rig", "init", "-q", "--prefix", "gw"])
        // Every check runs (no grace period); nobody is stalled, so the patrol only looks.
        _ = try git(["config", "gt.deacon.graceSeconds", "0"])
        _ = try git(["config", "gt.deacon.stallSeconds", "3600"])
        var pids: [Int32] = []
        for index in 0..<polecats {
            let bead = try git(["bead", "create", "Work \(index)", "-q"])
            _ = try git(["polecat", "sling", bead, "--agent", "sleep 900", "-q"])
        }
        let listed = try git(["polecat", "list", "--json"])
        let records = try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]] ?? []
        pids = records.compactMap { ($0["pid"] as? Int).map(Int32.init) }
        try trial.expect(pids.count == polecats, "\(pids.count) agents running")
        return (rig, env, pids)
    }

    /// Ends every agent's process group.
    static func stop(_ pids: [Int32]) {
        for pid in pids where pid > 0 { kill(-pid, SIGKILL) }
    }
}

func deaconFigures() -> [Figure] {
    [
        Figure(
            name: "deacon-patrol-30",
            title: "git deacon patrol over 30 running polecats",
            measures: "A rig with \(PatrolRig.polecats) polecats, each with its worktree, branch, claimed bead and a "
                + "live agent process. Whole-process `gasworks deacon patrol -q`: every record, liveness by pid and "
                + "process start time, heartbeat and progress fingerprints, drift checks of each branch, orphan "
                + "checks (`git worktree list`, every held bead), and the first patrol report written. Checked: all "
                + "\(PatrolRig.polecats) checked and healthy. The baseline reads what any patrol must read, with "
                + "plain git: `git for-each-ref refs/gt/polecats/` and `git worktree list --porcelain`. The issue's "
                + "bound is absolute: ≤ 500 ms.",
            ours: Side("`gasworks deacon patrol -q`", .wholeProcess) { trial in
                let setup = try PatrolRig.make(trial)
                defer { PatrolRig.stop(setup.pids) }
                let result = try trial.time {
                    try Spawn.run(
                        [try gasworksBinary(), "deacon", "patrol", "--json"], in: setup.rig, environment: setup.env)
                }
                try trial.expect(result.status == 0, "patrol: \(result.stderr)")
                let report =
                    try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
                let healthy = report["healthy"] as? Int ?? -1
                try trial.expect(
                    report["checked"] as? Int == PatrolRig.polecats && healthy == PatrolRig.polecats,
                    "report: \(result.stdout)")
                trial.fingerprint = "\(healthy) healthy"
            },
            baseline: Side(
                "`git for-each-ref refs/gt/polecats/` and `git worktree list --porcelain`", .wholeProcess
            ) { trial in
                let setup = try PatrolRig.make(trial)
                defer { PatrolRig.stop(setup.pids) }
                let (records, worktrees) = try trial.time {
                    (
                        try Spawn.run(["git", "for-each-ref", "refs/gt/polecats/"], in: setup.rig),
                        try Spawn.run(["git", "worktree", "list", "--porcelain"], in: setup.rig)
                    )
                }
                let count = records.stdout.split(separator: "\n").count
                try trial.expect(
                    records.status == 0 && worktrees.status == 0 && count == PatrolRig.polecats, "\(count)")
                trial.fingerprint = "\(count) records"
            },
            targetSeconds: 0.5, repetitions: 5)
    ]
}
