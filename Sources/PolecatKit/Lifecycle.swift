import BeadKit
import GitKit
import HookKit
import MailKit
import MoleculeKit

#if canImport(Glibc)
    import Glibc
#endif

extension Polecats {
    /// The polecat a command run by an agent (or in its worktree) is about: `--name`, else
    /// `GT_POLECAT`, else the worker this checkout belongs to.
    public func current(_ given: String?) throws -> PolecatRecord {
        let worker = Principal.worker(in: repository)
        let own = worker.flatMap({ $0.hasPrefix("polecat/") ? String($0.dropFirst(8)) : nil })
        if let worker, let given, "polecat/" + given != worker {
            throw GasworksError(.refused, "\(worker) may act only for itself, not for polecat/\(given)")
        }
        guard let name = given ?? own else {
            throw GasworksError(.usage, "which polecat? give --name, or run it in a polecat's worktree")
        }
        return try store.require(name)
    }

    /// A process of an earlier generation (its `GT_GENERATION` is not the record's) may not
    /// change anything: a newer agent has taken over.
    public func refuseStaleGeneration(_ record: PolecatRecord) throws {
        guard let mine = Principal.brokered?.generation ?? ProcessEnvironment["GT_GENERATION"], !mine.isEmpty,
            mine != record.generation
        else { return }
        throw GasworksError(
            .refused,
            "stale generation \(mine): \(record.address) now runs generation \(record.generation ?? "?"); this process must stop"
        )
    }

    /// `<common dir>/gt/polecats/<name>/heartbeat`: its time is the last sign of life. Not a
    /// commit: heartbeats would bloat history.
    public func heartbeat(_ record: PolecatRecord) throws {
        try refuseStaleGeneration(record)
        LocalFile.makeDirectories(directory(Self.key(record)))
        do {
            try LocalFile.write((record.generation ?? "") + "\n", to: directory(Self.key(record)) + "/heartbeat")
        } catch {
            throw GasworksError(.repository, "cannot write the heartbeat: \(error.reason)")
        }
    }

    /// The time of the last heartbeat (seconds since the epoch), if any.
    public func lastHeartbeat(_ name: String) -> Int? {
        var info = stat()
        guard stat(directory(name) + "/heartbeat", &info) == 0 else { return nil }
        return Int(info.st_mtim.tv_sec)
    }

    /// Finishes a polecat's work: refuses uncommitted changes or a branch without new
    /// commits; creates a merge-request bead for the branch head; mails the refinery and the
    /// witness; marks the polecat done.
    public func done(_ record: PolecatRecord) throws -> StoredBead {
        try refuseStaleGeneration(record)
        // Done without a request: a `done` killed between its two writes; it may finish.
        let unfinished = record.state == .done && record.string("merge_request") == nil
        guard record.state == .running || unfinished, let worktree = record.worktree, let branch = record.branch
        else {
            throw GasworksError(.refused, "\(record.address) is \(record.state.rawValue), not running")
        }
        if try hasUncommittedChanges(worktree) {
            throw GasworksError(
                .refused, "\(worktree) has uncommitted changes: commit them (or remove them) before git polecat done")
        }
        let head = try repository.revparse("refs/heads/" + branch)
        if let base = record.string("base").flatMap({ OID(hex: $0) }), base == head {
            throw GasworksError(.refused, "\(branch) has no new commits: there is nothing to merge")
        }
        // Done once, by the current generation: the record moves first, by compare-and-swap.
        try store.update(record.name, op: "done") { current in
            guard current.state == .running || (unfinished && current.state == .done),
                current.generation == record.generation
            else {
                throw GasworksError(.refused, "\(current.address) is \(current.state.rawValue) (or was restarted)")
            }
            current.state = .done
        }
        let target = try RigConfig.target(repository)
        let beads = try BeadStore(repository: repository, actor: record.address)
        let request = MergeRequest.draft(
            branch: branch, head: head, target: target,
            description: "Work of \(record.address) on \(record.bead ?? "?"), for the refinery to land on \(target).",
            by: record, bead: record.bead, molecule: record.molecule, base: record.string("base"), at: beads.now,
            actor: beads.actor)
        let created: StoredBead
        do {
            created = try beads.create(request)
        } catch {
            _ = try? store.update(record.name, op: "undone") { $0.state = .running }
            throw error
        }
        let mailbox = try Mailbox(repository: repository)
        try mailbox.send(
            MessageDraft(
                from: record.address, subject: "Merge request \(created.bead.id): \(branch)",
                body:
                    "\(record.address) finished \(record.bead ?? "its bead") on \(branch) at \(head.hex.prefix(12)).\n"
                    + "Merge request: \(created.bead.id) (git bead show \(created.bead.id)).",
                type: "task"),
            to: [try Address("refinery"), try Address("witness")], cc: [])
        // A request the refinery sent back is superseded by this one.
        if let earlier = record.string("merge_request"),
            let previous = try? MergeRequest.load(earlier, in: beads), previous.state == .bounced
        {
            _ = try? beads.update(earlier, op: "supersede") { bead in
                MergeRequest.set(&bead, ["state": .string(MergeRequest.State.rejected.rawValue)])
                bead.markClosed(at: beads.now, reason: "superseded by \(created.bead.id)")
            }
        }
        try store.update(record.name, op: "merge-request") { polecat in
            polecat.fields["merge_request"] = .string(created.bead.id)
        }
        return created
    }

    /// Stops a polecat's agent (its whole process group), keeping worktree and branch.
    public func stop(_ name: String) throws -> PolecatRecord {
        let record = try store.require(name)
        guard record.state == .running else {
            throw GasworksError(.refused, "cannot stop \(record.address): it is \(record.state.rawValue)")
        }
        // Stopped first, by compare-and-swap, then ended: nobody (the deacon) takes the dying
        // agent for a crashed one and restarts it.
        let stopped = try store.update(name, op: "stop") { current in
            guard current.state == .running, current.generation == record.generation else {
                throw GasworksError(.refused, "\(current.address) changed meanwhile")
            }
            current.state = .stopped
        }
        terminate(record)
        return stopped
    }

    /// Ends the recorded agent's process group, if that process is still the one recorded.
    func terminate(_ record: PolecatRecord) {
        if record.string("session") == "tmux" { Tmux.kill(tmuxSession(record)) }
        guard let pid = record.pid, Self.isAlive(record) else { return }
        kill(-pid, SIGTERM)
        for _ in 0..<40 where Self.isAlive(record) { usleep(50_000) }
        if Self.isAlive(record) { kill(-pid, SIGKILL) }
    }
}

extension Polecats {
    /// Whether the polecat's branch is merged into the target (or gone, or never diverged).
    public func isMerged(_ record: PolecatRecord) throws -> Bool {
        guard let branch = record.branch, let head = try repository.referenceTarget("refs/heads/" + branch) else {
            return true
        }
        let target = try RigConfig.target(repository)
        guard let tip = try repository.referenceTarget("refs/heads/" + target) else { return false }
        return try head == tip || repository.isAncestor(head, of: tip)
    }

    /// Removes a polecat: its agent, worktree (and git's admin files for it) and, once merged,
    /// its branch. Unmerged commits or uncommitted changes are refused unless `force`; even
    /// then the branch (and so every commit) is kept unless `discard`.
    @discardableResult
    public func nuke(_ name: String, force: Bool, discard: Bool) throws -> [String] {
        let record = try store.require(name)
        guard record.state != .nuked else { throw GasworksError(.refused, "\(record.address) is already nuked") }
        // Marked first (the deacon leaves a worker being removed alone), then the agent
        // stops, so nothing it commits or edits slips past the checks below.
        try store.update(name, op: "nuking") { current in
            guard current.generation == record.generation, current.state == record.state else {
                throw GasworksError(.refused, "\(current.address) changed meanwhile")
            }
            current.fields["stopping"] = .string("nuke")
        }
        terminate(record)
        do {
            return try nukeStopped(record, force: force, discard: discard)
        } catch {
            _ = try? store.update(name, op: "nuke refused") { current in current.fields["stopping"] = nil }
            throw error
        }
    }

    func nukeStopped(_ record: PolecatRecord, force: Bool, discard: Bool) throws -> [String] {
        let name = record.name
        let head = try record.branch.flatMap { try repository.referenceTarget("refs/heads/" + $0) }
        let merged = try isMerged(record)
        if !merged, !force {
            throw GasworksError(
                .refused,
                "\(record.branch ?? record.address) has commits not merged into \(try RigConfig.target(repository)): "
                    + "let the refinery merge it, or nuke --force (keeps the branch)")
        }
        var done: [String] = []
        if let worktree = record.worktree, LocalFile.isDirectory(worktree), !force, try hasUncommittedChanges(worktree)
        {
            throw GasworksError(.refused, "\(worktree) has uncommitted changes: commit them, or nuke --force")
        }
        if let worktree = record.worktree {
            try removeWorktree(worktree)
            done.append("removed worktree \(worktree)")
        }
        // Only the head that was checked: a commit made since keeps the branch.
        if let branch = record.branch, let head, merged || discard {
            try repository.deleteReference("refs/heads/" + branch, expecting: head)
            done.append("deleted branch \(branch)\(merged ? "" : " (unmerged commits discarded)")")
        }
        if record.state != .done, let bead = record.bead {
            // The work was not finished: the bead goes back to ready for someone else.
            try release(bead, heldBy: record.address)
        }
        _ = try? ChildProcess.run(["rm", "-rf", directory(Self.key(record))])
        try store.update(name, op: "nuke") { current in
            guard current.generation == record.generation else {
                throw GasworksError(.refused, "\(current.address) was restarted meanwhile")
            }
            current.state = .nuked
            current.fields["stopping"] = nil
        }
        done.append("nuked \(record.address)")
        return done
    }

    /// Removes a worktree git knows as one of this repository's (never the main checkout),
    /// with git's admin files for it. git itself decides what is a worktree: `worktree
    /// remove` refuses a path it does not know and the main checkout. While other worktrees
    /// are being added, git can trip over their half-written admin files; that is retried.
    func removeWorktree(_ path: String) throws {
        let git = ["git", "--git-dir=" + repository.commonDir]
        if let main = try? repository.worktrees().first?.path, main == path {
            throw GasworksError(.refused, "\(path) is the main checkout: not removed")
        }
        guard LocalFile.isDirectory(path) else { return }
        func transient(_ line: String) -> Bool { line.contains("failed to read") || line.contains("unable to") }
        let removed = try repository.worktreeCommand(["remove", "--force", "--force", path]) {
            transient($0.text.firstLine) && LocalFile.isDirectory(path)
        }
        if removed.status == 0 { return }
        let last = removed.text.firstLine
        if last.contains("is a main working tree") {
            throw GasworksError(.refused, "\(path) is the main checkout: not removed")
        }
        // Not a worktree (any more), or gone meanwhile: only git's stale admin files can be
        // left, and a directory is not ours to delete. `git worktree prune` also drops the
        // admin files of an add another process has only begun: run only then.
        guard last.contains("is not a working tree") || transient(last) && !LocalFile.isDirectory(path) else {
            throw GasworksError(.repository, "cannot remove the worktree \(path): \(last)")
        }
        _ = try ChildProcess.run(git + ["worktree", "prune"], environment: ChildProcess.environment())
    }

    /// Nukes every polecat whose work is merged and whose agent is gone.
    public func gc() throws -> [String] {
        var done: [String] = []
        for record in try store.all() where record.kind == .polecat && record.state != .nuked {
            guard record.state == .done || record.state == .stopped, !Self.isAlive(record), try isMerged(record)
            else { continue }
            do {
                done += try nuke(record.name, force: false, discard: false)
            } catch let error as GasworksError {
                done.append("kept \(record.address): \(error.message)")
            }
        }
        return done
    }
}

extension Polecats {
    /// What `status` shows beyond the record: the step the polecat is on, its last
    /// heartbeat, and its unread mail.
    public func facts(_ record: PolecatRecord) throws -> (step: String?, heartbeat: String?, unread: Int) {
        var step: String?
        if let moleculeID = record.molecule {
            let molecules = MoleculeStore(beads: try BeadStore(repository: repository, actor: record.address))
            if let next = try molecules.next(in: try molecules.load(moleculeID)) {
                step = "\(next.step.id) (\(next.step.key))\(next.reason == .holding ? "" : ", ready")"
            }
        }
        let heartbeat = lastHeartbeat(Self.key(record)).map { ISO8601.format(Int64($0)) }
        let unread =
            (try? Mailbox(repository: repository).deliveries(of: try Address(record.address)) {
                !$0.state.read && !$0.state.archived
            })?.count ?? 0
        return (step, heartbeat, unread)
    }
}
