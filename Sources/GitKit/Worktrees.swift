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
        let listed = try worktreeCommand(["list", "--porcelain"], retrying: Self.readRace)
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
        try worktreeCommand(["add"] + arguments, hooks: hooks) { Self.readRace($0) && access(path, F_OK) != 0 }
    }

    /// git died reading admin files another `worktree add` is still writing.
    static func readRace(_ outcome: ChildOutcome) -> Bool {
        outcome.text.contains("failed to read ") && outcome.text.contains("/worktrees/")
    }

    /// Runs `git worktree <arguments>`; a failure `retrying` accepts is tried again after a
    /// short random pause, 40 times at most. The last outcome is returned as it is.
    public func worktreeCommand(
        _ arguments: [String], hooks: Bool = true, retrying: (ChildOutcome) -> Bool
    ) throws -> ChildOutcome {
        var git = ["git", "--git-dir=" + commonDir]
        if !hooks { git += ["-c", "core.hooksPath=/dev/null"] }
        var outcome = try ChildProcess.run(git + ["worktree"] + arguments, environment: ChildProcess.environment())
        for _ in 0..<40 {
            guard outcome.status != 0, retrying(outcome) else { break }
            usleep(UInt32.random(in: 20_000...120_000))
            outcome = try ChildProcess.run(git + ["worktree"] + arguments, environment: ChildProcess.environment())
        }
        return outcome
    }
}

#if canImport(Glibc)
    import Glibc
#endif
