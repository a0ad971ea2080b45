import BeadKit
import GitKit
import HookKit
import RigKit

/// Crew: long-lived named workers (agents or humans) with a persistent worktree on the
/// branch `crew/<name>`, recorded under `refs/gt/crew/<name>`.
extension Polecats {
    public var crew: PolecatStore {
        get throws { try PolecatStore(repository: repository, actor: actor, prefix: PolecatStore.crewPrefix) }
    }

    /// Where crew worktrees go: `gt.crew.root`, else `<repo>-crew/` beside the main checkout.
    public func crewRoot() throws -> String {
        if let configured = try repository.config("gt.crew.root"), !configured.isEmpty { return configured }
        return mainCheckout + "-crew"
    }

    /// Adds a crew member: its branch (kept if it exists), its worktree, the hooks on for it,
    /// and its agent when one is given (in a tmux session unless `tmux` is false).
    public func addCrew(
        _ name: String, agent: String?, tmux: Bool, prompt: (PolecatRecord) throws -> String
    ) throws -> PolecatRecord {
        guard Self.isValidName(name) else { throw GasworksError(.usage, "invalid crew name '\(name)'") }
        if agent != nil { try refuseUnsandboxable() }
        let store = try crew
        let existing = try store.load(name)
        if let existing, existing.record.state != .nuked {
            throw GasworksError(.refused, "crew member '\(name)' exists (\(existing.record.state.rawValue))")
        }
        var record = PolecatRecord(name: name, kind: .crew)
        record.state = .stopped
        record.generation = Self.newGeneration()
        record.fields["started_at"] = .string(store.now)
        try store.publish(record, op: "reserve", expected: existing?.commit)
        let branch = "crew/\(name)"
        let path = try crewRoot() + "/" + name
        if try repository.referenceTarget("refs/heads/" + branch) == nil {
            let base = try repository.revparse("refs/heads/" + RigConfig.target(repository))
            try repository.setReference("refs/heads/" + branch, to: base, expecting: nil, message: "crew: add")
        }
        if !LocalFile.isDirectory(path) {
            LocalFile.makeDirectories(try crewRoot())
            try addWorktree(path, branch: branch)
        }
        try Rig.setWorker(record.address, in: try Repository.open(path))
        record.branch = branch
        record.worktree = path
        if let agent {
            if tmux { record.fields["session"] = .string("tmux") }
            let promptFile = directory(Self.key(record)) + "/prompt.md"
            record.agent = agent.replacing("{prompt_file}", with: Self.quoted(promptFile))
                .replacing("{worktree}", with: Self.quoted(path)).replacing("{bead}", with: "")
            try startAgent(&record, prompt: try prompt(record))
        }
        let added = record
        return try store.update(name, op: "add") { $0 = added }
    }

    /// Removes a crew member: its agent and worktree; its branch once merged. Unmerged
    /// commits are refused unless `force`, which keeps the branch.
    public func removeCrew(_ name: String, force: Bool) throws -> [String] {
        let store = try crew
        let record = try store.require(name)
        guard record.state != .nuked else { throw GasworksError(.refused, "crew member '\(name)' is already removed") }
        if let path = record.worktree, LocalFile.isDirectory(path), !force, try hasUncommittedChanges(path) {
            throw GasworksError(.refused, "\(path) has uncommitted changes: commit them, or crew remove --force")
        }
        let head = try record.branch.flatMap { try repository.referenceTarget("refs/heads/" + $0) }
        let merged = try isMerged(record)
        if !merged, !force {
            throw GasworksError(
                .refused,
                "\(record.branch ?? name) has commits not merged: merge them, or crew remove --force (keeps the branch)"
            )
        }
        terminate(record)
        var done: [String] = []
        if let path = record.worktree {
            try removeWorktree(path)
            done.append("removed worktree \(path)")
        }
        if merged, let branch = record.branch, let head {
            try repository.deleteReference("refs/heads/" + branch, expecting: head)
            done.append("deleted branch \(branch)")
        }
        try store.update(name, op: "remove") { $0.state = .nuked }
        done.append("removed \(record.address)")
        return done
    }
}
