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
        let listed = try ChildProcess.run(
            ["git", "--git-dir=" + commonDir, "worktree", "list", "--porcelain"],
            environment: ChildProcess.environment())
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
