import Foundation

extension Trial {
    /// `<trial>/bin` with `git-<tool>` links to the gasworks binary for each of `tools` and
    /// `gasworks-hook` beside them (what `scripts/setup` installs); returns its path.
    func toolDirectory(_ tools: [String]) throws -> String {
        let bin = directory + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for tool in tools {
            try FileManager.default.createSymbolicLink(
                atPath: bin + "/git-" + tool, withDestinationPath: gasworksBinary())
        }
        try FileManager.default.createSymbolicLink(
            atPath: bin + "/gasworks-hook", withDestinationPath: try builtProduct("gasworks-hook"))
        return bin
    }
}

/// A rig of 5,000 files with `git rig init` run and an open bead: what a sling starts from.
enum SlingRig {
    static let files = 5_000

    static func make(_ trial: Trial) throws -> (rig: String, bin: String, bead: String) {
        let bin = try trial.toolDirectory(["bead", "rig", "polecat", "molecule", "mail"])
        let rig = try trial.initRepository("rig")
        for index in 0..<files {
            let directory = rig + "/src/d\(index % 50)"
            if index < 50 {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            try writeFile(directory + "/f\(index).txt", "file \(index)\n")
        }
        try trial.git("add", "-A", in: rig)
        try trial.git("commit", "-q", "-m", "Sample project", in: rig)
        let env = ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        for arguments in [["rig", "init", "-q", "--prefix", "gw"]] {
            let result = try Spawn.run(["git"] + arguments, in: rig, environment: env)
            try trial.expect(result.status == 0, "git \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        let created = try Spawn.run(["git", "bead", "create", "Work", "-q"], in: rig, environment: env)
        try trial.expect(created.status == 0, "bead create: \(created.stderr)")
        return (rig, bin, created.stdout.trimmed)
    }
}

func polecatFigures() -> [Figure] {
    [
        Figure(
            name: "polecat-sling-5000",
            title: "git polecat sling on a 5,000-file rig, until its agent has started",
            measures: "A rig of \(SlingRig.files) files (50 directories) after `git rig init`, with one open bead. "
                + "Whole-process `gasworks polecat sling <bead> --agent true -q`: reserving the name and claiming "
                + "the bead (compare-and-swap), the branch, `git worktree add` of the 5,000 files, the worker marker "
                + "and hooks include, the prompt, and the agent started detached in its sandbox under its broker (the command returns once it is "
                + "spawned). Checked: the worktree holds every file and the record is running. The baseline is a "
                + "bare `git worktree add -b <branch> <path> main` of the same repository.",
            ours: Side("`gasworks polecat sling <bead> --agent true -q`", .wholeProcess) { trial in
                try slingOnce(trial, sandbox: true)
            },
            baseline: Side("`git worktree add -b <branch> <path> main`", .wholeProcess) { trial in
                let setup = try SlingRig.make(trial)
                let worktree = trial.directory + "/plain"
                let result = try trial.time {
                    try Spawn.run(["git", "worktree", "add", "-q", "-b", "plain", worktree, "main"], in: setup.rig)
                }
                try trial.expect(result.status == 0, "worktree add: \(result.stderr)")
                let count = try FileManager.default.subpathsOfDirectory(atPath: worktree + "/src").filter {
                    $0.hasSuffix(".txt")
                }.count
                try trial.expect(count == SlingRig.files, "worktree has \(count) files")
                trial.fingerprint = "\(count) files"
            },
            target: 1.5, repetitions: 5)
    ]
}
