import ArgumentParser
import BeadKit
import GitKit
import HookKit
import PolecatKit
import RigKit

/// `git rig doctor`: what is missing or stale in a rig, and (with `--fix`) its repair.
struct RigDoctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract:
            "Find missing hooks or refspecs, stale worktrees, dangling records and a stale index; --fix repairs them.")
    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "Repair what can be repaired.") var fix = false

    struct Finding {
        var check: String
        var problem: String
        var fixed: Bool
    }

    func run() throws {
        try reportingErrors {
            let repository = try common.openRepository()
            guard try Rig.isRig(repository) else {
                throw GasworksError(.refused, "not a rig: run git rig init first")
            }
            var findings: [Finding] = []
            func note(_ check: String, _ problem: String, repair: (() throws -> Void)?) {
                var fixed = false
                if fix, let repair {
                    do {
                        try repair()
                        fixed = true
                    } catch {
                        findings.append(
                            Finding(check: check, problem: problem + " (repair failed: \(error))", fixed: false))
                        return
                    }
                }
                findings.append(Finding(check: check, problem: problem, fixed: fixed))
            }
            // Confinement: the overseer decides; the doctor only says.
            if let unconfined = Sandbox.unconfined(repository, probe: true) {
                note("sandbox", unconfined, repair: nil)
            }
            if !LocalFile.isFile(RigKeys.key(.supervisor, in: repository)),
                try repository.config("gt.witness.signingKey") == nil
            {
                note("keys", "the rig has no supervisor key: verdicts cannot be signed") {
                    _ = try RigKeys.ensure(repository)
                }
            }
            // Hooks.
            let installer = try HookInstaller(repository: repository)
            for status in try installer.status() where status.state != .installed {
                note("hooks", "\(status.name) is \(status.state.rawValue) in \(status.path)") {
                    _ = try installer.install()
                }
            }
            // Refspecs of every remote.
            for remote in try repository.remoteNames() {
                let fetch = try repository.configValues("remote.\(remote).fetch")
                for spec in Rig.fetchRefspecs(remote: remote) where !fetch.contains(spec) {
                    note("refspecs", "remote \(remote) does not fetch \(spec)") {
                        try repository.addConfigValue("remote.\(remote).fetch", spec)
                    }
                }
                let push = try repository.configValues("remote.\(remote).push")
                if !push.isEmpty {
                    for spec in Rig.pushRefspecs where !push.contains(spec) {
                        note("refspecs", "remote \(remote) does not push \(spec)") {
                            try repository.addConfigValue("remote.\(remote).push", spec)
                        }
                    }
                }
            }
            // Worktrees git still lists whose directory is gone.
            for stale in try repository.worktrees().filter(\.prunable).map(\.path) {
                note("worktrees", "\(stale) is gone but git still lists it") {
                    let pruned = try ChildProcess.run(
                        ["git", "--git-dir=" + repository.commonDir, "worktree", "prune"],
                        environment: ChildProcess.environment())
                    guard pruned.status == 0 else { throw GasworksError(.repository, pruned.text.firstLine) }
                }
            }
            // Worker records whose worktree or branch is gone.
            let polecats = try Polecats(repository: repository, actor: common.actor ?? "overseer")
            for record in try polecats.store.all() + polecats.crew.all()
            where [.running, .stopped, .done].contains(record.state) && !Polecats.isAlive(record) {
                let store = record.kind == .crew ? try polecats.crew : polecats.store
                if let worktree = record.worktree, !LocalFile.isDirectory(worktree) {
                    note(
                        "records", "\(record.address) is \(record.state.rawValue) but its worktree \(worktree) is gone"
                    ) {
                        try store.update(record.name, op: "retire") { current in
                            guard current.generation == record.generation, current.state == record.state else {
                                throw GasworksError(.refused, "changed meanwhile")
                            }
                            current.state = .nuked
                        }
                        if record.state != .done, let bead = record.bead {
                            try polecats.release(bead, heldBy: record.address)
                        }
                    }
                } else if let branch = record.branch, try repository.referenceTarget("refs/heads/" + branch) == nil {
                    note("records", "\(record.address) names branch \(branch), which does not exist", repair: nil)
                }
            }
            // The bead index cache.
            let store = try BeadStore(repository: repository, actor: common.actor ?? "overseer")
            let stale = try BeadIndex.staleness(store: store)
            if stale > 0 {
                note("index", "the bead index cache is behind the refs by \(stale) bead\(stale == 1 ? "" : "s")") {
                    _ = try store.index()
                }
            }
            if common.json {
                Console.out(
                    JSONValue.array(
                        findings.map {
                            .object([
                                "check": .string($0.check), "problem": .string($0.problem), "fixed": .bool($0.fixed),
                            ])
                        }
                    ).compactText() + "\n")
            } else if !common.quiet {
                if findings.isEmpty { Console.out("the rig is healthy\n") }
                for finding in findings {
                    Console.out("\(finding.fixed ? "fixed" : "problem") [\(finding.check)] \(finding.problem)\n")
                }
            }
            let open = findings.filter { !$0.fixed }.count
            if open > 0 {
                throw GasworksError(
                    .refused,
                    "\(open) problem\(open == 1 ? "" : "s")\(fix ? " could not be fixed" : ": git rig doctor --fix repairs what it can")"
                )
            }
        }
    }
}
