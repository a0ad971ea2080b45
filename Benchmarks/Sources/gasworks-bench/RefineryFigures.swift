import Foundation

/// A rig with 32 queued merge requests, each a branch adding one file, and a 1 s gate.
enum QueueRig {
    static let requests = 32
    static let batch = 8
    static let gate = "sleep 1"

    static func make(_ trial: Trial) throws -> (rig: String, env: [String: String]) {
        let bin = try trial.toolDirectory(["bead", "rig", "mail", "molecule", "witness", "refinery"])
        let rig = try trial.initRepository("rig")
        try writeFile(rig + "/README", "sample project\n")
        try trial.git("add", "-A", in: rig)
        try trial.git("commit", "-q", "-m", "Sample project", in: rig)
        let env = ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        for index in 0..<requests {
            try trial.git("checkout", "-q", "-b", "work/\(index)", "main", in: rig)
            try writeFile(rig + "/file\(index).txt", "work \(index)\n")
            try trial.git("add", "file\(index).txt", in: rig)
            try trial.git("commit", "-q", "-m", "Work \(index)", in: rig)
        }
        try trial.git("checkout", "-q", "main", in: rig)
        for arguments in [
            // Queued only: the measured run does the landing, not one that enqueue starts.
            ["rig", "init", "-q", "--prefix", "gw"], ["config", "gt.refinery.auto", "false"],
            ["config", "gt.refinery.gate", gate],
            ["config", "gt.refinery.batch", "\(batch)"],
        ] + (0..<requests).map({ ["refinery", "enqueue", "work/\($0)", "-q"] }) {
            let result = try Spawn.run(["git"] + arguments, in: rig, environment: env)
            try trial.expect(result.status == 0, "git \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        return (rig, env)
    }
}

func refineryFigures() -> [Figure] {
    [
        Figure(
            name: "refinery-32-batch-8",
            title: "git refinery run: 32 merge requests, batch 8, a 1 s gate",
            measures: "A rig with \(QueueRig.requests) queued merge requests (each a branch adding one file), "
                + "gt.refinery.gate `\(QueueRig.gate)` and gt.refinery.batch \(QueueRig.batch). Whole-process "
                + "`gasworks refinery run`: the lease, verification, `git merge-tree` of every request onto the "
                + "stack, one gate run per batch in the refinery's worktree, the compare-and-swap of main, notes, "
                + "closing the requests, MERGED mail and branch deletion. Checked: all \(QueueRig.requests) merged, "
                + "main has every file. The baseline is the time of \(QueueRig.requests / 4) gate runs "
                + "(`sh -c '\(QueueRig.gate)'` \(QueueRig.requests / 4) times): the issue's bound.",
            ours: Side("`gasworks refinery run`", .wholeProcess) { trial in
                let setup = try QueueRig.make(trial)
                let result = try trial.time {
                    try Spawn.run(
                        [try gasworksBinary(), "refinery", "run", "-q"], in: setup.rig, environment: setup.env)
                }
                try trial.expect(result.status == 0, "run: \(result.stderr)")
                let merged = result.stdout.split(separator: "\n").filter { $0.hasPrefix("merged ") }.count
                try trial.expect(merged == QueueRig.requests, "\(merged) merged: \(result.stdout)")
                let files = try trial.git("ls-tree", "--name-only", "main", in: setup.rig).split(separator: "\n")
                    .filter { $0.hasPrefix("file") }.count
                try trial.expect(files == QueueRig.requests, "main has \(files) files")
                trial.fingerprint = "\(merged) merged"
            },
            baseline: Side("`sh -c '\(QueueRig.gate)'`, \(QueueRig.requests / 4) times", .wholeProcess) { trial in
                let result = try trial.time {
                    var status: Int32 = 0
                    for _ in 0..<(QueueRig.requests / 4) {
                        status |= try Spawn.run(["/bin/sh", "-c", QueueRig.gate]).status
                    }
                    return status
                }
                try trial.expect(result == 0, "gate runs failed")
                trial.fingerprint = "\(QueueRig.requests / 4) gate runs"
            },
            target: 1.0, repetitions: 3)
    ]
}
