import BeadKit
import Foundation
import GitKit

/// A small rig with one polecat whose agent (sandboxed, under its broker) just waits:
/// what a broker round trip is measured against.
enum BrokerRig {
    static let comments = 10

    static func make(_ trial: Trial) throws -> (
        rig: String, worktree: String, bead: String, socket: String, env: [String: String]
    ) {
        let bin = try trial.toolDirectory(["bead", "rig", "polecat", "molecule", "mail"])
        let rig = try trial.initRepository("rig")
        try writeFile(rig + "/README", "sample\n")
        try trial.git("add", "-A", in: rig)
        try trial.git("commit", "-q", "-m", "Sample project", in: rig)
        let env = ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        func tool(_ arguments: [String]) throws -> String {
            let result = try Spawn.run(["git"] + arguments, in: rig, environment: env)
            try trial.expect(result.status == 0, "git \(arguments.joined(separator: " ")): \(result.stderr)")
            return result.stdout.trimmed
        }
        _ = try tool(["rig", "init", "-q", "--prefix", "gw"])
        let bead = try tool(["bead", "create", "Work", "-q"])
        _ = try tool(["polecat", "sling", bead, "--agent", "sleep 600", "--name", "bench", "-q"])
        let sockets = "/tmp/gasworks-brokers-\(getuid())"
        var socket = ""
        for _ in 0..<200 {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: sockets)) ?? []
            if let name = names.first(where: { $0.hasPrefix("bench-") }) {
                socket = sockets + "/" + name
                break
            }
            usleep(10_000)
        }
        try trial.expect(!socket.isEmpty, "the broker's socket did not appear")
        return (rig, trial.directory + "/rig-polecats/bench", bead, socket, env)
    }

    /// Ends the polecat's broker and agent (untimed), so the socket name is free again.
    static func stop(
        _ trial: Trial, _ setup: (rig: String, worktree: String, bead: String, socket: String, env: [String: String])
    ) {
        _ = try? Spawn.run(["git", "polecat", "stop", "bench"], in: setup.rig, environment: setup.env)
        _ = try? Spawn.run(["pkill", "-f", setup.socket])
        unlink(setup.socket)
    }

    /// `comments` comments on the polecat's bead, one process each.
    static func script(_ trial: Trial, bead: String) throws -> String {
        let path = trial.directory + "/comments.sh"
        try writeFile(
            path,
            "set -e\ni=0\nwhile [ $i -lt \(comments) ]; do\n  i=$((i + 1))\n"
                + "  git bead comment \(bead) \"comment $i\" -q\ndone\n")
        return path
    }

    static func countComments(
        _ trial: Trial, _ setup: (rig: String, worktree: String, bead: String, socket: String, env: [String: String])
    ) throws -> Int {
        let shown = try Spawn.run(["git", "bead", "show", setup.bead, "--json"], in: setup.rig, environment: setup.env)
        return shown.stdout.components(separatedBy: "\"text\":").count - 1
    }
}

func trustFigures() -> [Figure] {
    [
        Figure(
            name: "sling-sandboxed",
            title: "git polecat sling with the sandbox, against the same sling with gt.sandbox=off",
            measures: "The rig of `polecat-sling-5000` (5,000 files). Whole-process `gasworks polecat sling <bead> "
                + "--agent true -q` with the agent started in bubblewrap under its broker (the check that bubblewrap "
                + "runs here, the broker's socket, the sandbox's command line), against the same sling with "
                + "`gt.sandbox=off` (the agent started directly).",
            ours: Side("sling, sandboxed", .wholeProcess) { trial in try slingOnce(trial, sandbox: true) },
            baseline: Side("sling with `gt.sandbox=off`", .wholeProcess) { trial in
                try slingOnce(trial, sandbox: false)
            },
            target: 1.2, repetitions: 5),
        Figure(
            name: "broker-comment",
            title: "A broker round trip: git bead comment from inside a sandbox, against the same command run directly",
            measures: "A polecat whose sandboxed agent waits. Ten `git bead comment` processes in its worktree with "
                + "`GT_BROKER` naming its broker's socket (each hands its argv and descriptors to the broker, which "
                + "checks the generation, forks, installs the worker's guards and runs the comment), against the "
                + "same ten run directly in the worktree as the polecat (`GT_POLECAT`). Checked: ten comments on "
                + "the bead each time.",
            ours: Side("10 × `git bead comment` through the broker", .wholeProcess) { trial in
                try commentLoop(trial, brokered: true)
            },
            baseline: Side("10 × `git bead comment` directly", .wholeProcess) { trial in
                try commentLoop(trial, brokered: false)
            },
            target: 1.5, repetitions: 7),
        Figure(
            name: "commit-sandboxed",
            title: "A worker's commits inside the sandbox, against the same commits outside it",
            measures: "The worker checkout of `commit-worker-1000` (1,000 files, hooks on, a held step). "
                + "\(HookRig.commits) commits, each changing one file, run by one shell inside bubblewrap with "
                + "the agent's sandbox (its worktree, admin directory, object store and branch writable; the hooks "
                + "run inside), against the same loop run outside. bubblewrap's own start is counted on our side.",
            ours: Side("\(HookRig.commits) commits in the sandbox", .wholeProcess) { trial in
                try sandboxedCommits(trial, sandboxed: true)
            },
            baseline: Side("\(HookRig.commits) commits outside", .wholeProcess) { trial in
                try sandboxedCommits(trial, sandboxed: false)
            },
            target: 1.25, repetitions: 5),
    ]
}

/// One sling of the 5,000-file rig, sandboxed or with `gt.sandbox=off`, checked: the record
/// says how the agent runs and the worktree holds every file.
func slingOnce(_ trial: Trial, sandbox: Bool) throws {
    let setup = try SlingRig.make(trial)
    if !sandbox { try trial.git("config", "gt.sandbox", "off", in: setup.rig) }
    let env = ["PATH": setup.bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
    let result = try trial.time {
        try Spawn.run(
            [try gasworksBinary(), "polecat", "sling", setup.bead, "--agent", "true", "-q"], in: setup.rig,
            environment: env)
    }
    try trial.expect(result.status == 0, "sling: \(result.stderr)")
    let record = try trial.git("show", "refs/gt/polecats/furiosa:polecat.json", in: setup.rig)
    try trial.expect(record.contains("\"bwrap\"") == sandbox, "sandboxed: \(record)")
    let worktree = trial.directory + "/rig-polecats/furiosa"
    let count = try FileManager.default.subpathsOfDirectory(atPath: worktree + "/src").filter {
        $0.hasSuffix(".txt")
    }.count
    try trial.expect(count == SlingRig.files, "worktree has \(count) files")
    trial.fingerprint = "\(count) files"
}

func commentLoop(_ trial: Trial, brokered: Bool) throws {
    let setup = try BrokerRig.make(trial)
    defer { BrokerRig.stop(trial, setup) }
    let script = try BrokerRig.script(trial, bead: setup.bead)
    var env = setup.env
    if brokered { env["GT_BROKER"] = setup.socket } else { env["GT_POLECAT"] = "bench" }
    let before = try BrokerRig.countComments(trial, setup)
    let result = try trial.time { try Spawn.run(["sh", script], in: setup.worktree, environment: env) }
    try trial.expect(result.status == 0, "comments failed: \(result.stderr)")
    let after = try BrokerRig.countComments(trial, setup)
    try trial.expect(after == before + BrokerRig.comments, "\(after) comments after \(before)")
    trial.fingerprint = "\(BrokerRig.comments) comments"
}

func sandboxedCommits(_ trial: Trial, sandboxed: Bool) throws {
    let setup = try HookRig.make(trial)
    let script = try HookRig.script(trial, hooks: true)
    let env = ["PATH": setup.bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
    var argv = ["sh", script]
    if sandboxed {
        let repository = try Repository.discover(from: setup.main)
        let common = repository.commonDir
        for path in [common + "refs/heads/polecat/nux", common + "logs/refs/heads/polecat/nux"] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        var sandbox = try Sandbox(repository: repository)
        sandbox.writable += [
            setup.worker, common + "worktrees/worker", common + "objects", common + "refs/heads/polecat/nux",
            common + "logs/refs/heads/polecat/nux",
        ]
        sandbox.directory = setup.worker
        argv = sandbox.command(argv)
    }
    let before = try trial.git("rev-list", "--count", "HEAD", in: setup.worker)
    let result = try trial.time { try Spawn.run(argv, in: setup.worker, environment: env) }
    try trial.expect(result.status == 0, "commits failed: \(result.stderr)")
    let after = try trial.git("rev-list", "--count", "HEAD", in: setup.worker)
    try trial.expect(Int(after.trimmed) == Int(before.trimmed)! + HookRig.commits, "\(after) commits after \(before)")
    trial.fingerprint = "\(HookRig.commits) commits"
}
