/// One entry of `git worktree list --porcelain`.
public struct WorktreeEntry: Sendable, Equatable {
    public var path: String
    /// The branch ref it has checked out (`refs/heads/…`), nil when detached or bare.
    public var branch: String?
    /// git's own word that the directory is gone and `git worktree prune` would drop it.
    public var prunable: Bool
}

extension Repository {
    /// Every worktree git knows for this repository, the main one first
    /// (`git worktree list --porcelain`).
    public func worktrees() throws -> [WorktreeEntry] {
        let listed = try runWorktreeCommand(["list", "--porcelain"], creating: nil)
        guard listed.status == 0 else {
            throw GitError(
                code: .other(-1), message: "git worktree list failed: \(listed.text.firstLine)", function: "worktrees")
        }
        var entries: [WorktreeEntry] = []
        for line in listed.text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("worktree ") {
                entries.append(WorktreeEntry(path: String(line.dropFirst(9)), branch: nil, prunable: false))
            } else if line.hasPrefix("branch "), !entries.isEmpty {
                entries[entries.count - 1].branch = String(line.dropFirst(7))
            } else if line.hasPrefix("prunable"), !entries.isEmpty {
                entries[entries.count - 1].prunable = true
            }
        }
        return entries
    }
}

extension Repository {
    /// `git worktree add <arguments>` making `path`. git reads every other worktree's admin
    /// files while it adds one, and dies on one another `worktree add` is still writing
    /// ("failed to read …/worktrees/<id>/commondir") before it has made anything of its own:
    /// that failure is retried for a few seconds. Any other outcome is returned as it is.
    public func addWorktree(at path: String, _ arguments: [String], hooks: Bool = false) throws -> ChildOutcome {
        try runWorktreeCommand(["add"] + arguments, creating: path, hooks: hooks)
    }

    /// Runs `git worktree <arguments>`, retrying git's reads of admin files another process
    /// is writing (only while `creating`, if given, does not exist yet).
    func runWorktreeCommand(_ arguments: [String], creating path: String?, hooks: Bool = true) throws
        -> ChildOutcome
    {
        var git = ["git", "--git-dir=" + commonDir]
        if !hooks { git += ["-c", "core.hooksPath=/dev/null"] }
        var outcome = try ChildProcess.run(git + ["worktree"] + arguments, environment: ChildProcess.environment())
        for _ in 0..<40 {
            guard outcome.status != 0, outcome.text.contains("failed to read "), outcome.text.contains("/worktrees/"),
                path.map({ access($0, F_OK) != 0 }) ?? true
            else { break }
            usleep(UInt32.random(in: 20_000...120_000))
            outcome = try ChildProcess.run(git + ["worktree"] + arguments, environment: ChildProcess.environment())
        }
        return outcome
    }
}

#if canImport(Glibc)
    import Glibc
#endif
