import BeadKit
import GitKit
import MailKit
import PolecatKit

extension Refinery {
    // MARK: landing

    /// Advances the target from `base` to the last candidate's commit (whose tree passed
    /// the gate) by compare-and-swap, notes the merge, and finishes each request.
    /// Returns false when the target moved meanwhile (nothing landed).
    func land(_ candidates: [Candidate], base: OID, gate: GateResult) throws -> Bool {
        guard let last = candidates.last else { return true }
        precondition(gate.commit == last.commit && gate.passed)
        // Still ours? A refinery that lost its lease must not land anything.
        try lease?.renew(current: candidates.map(\.request.id))
        let ids = candidates.map(\.request.id)
        do {
            // A lock left by a killed writer is cleared and waited out; only a real move counts.
            try repository.withRetry(touching: [targetRef], onlyLocks: true) {
                try repository.setReference(
                    targetRef, to: last.commit, expecting: base,
                    message: "refinery: merge \(ids.joined(separator: " "))")
            }
        } catch let error as GitError where error.code != .locked && error.isRetryableConflict {
            log("\(target) moved while the gate ran; merging again on top of it\n")
            return false
        }
        try repository.appendNoteLine(
            JSONValue.object([
                "result": .string("landed"), "merge_requests": .array(ids.map { .string($0) }),
                "base": .string(base.hex), "gate": gate.json, "gate_command": .string(settings.gate ?? ""),
                "by": .string(Self.actor), "at": .string(beads.now),
            ]).compactText(), on: last.commit, notesRef: Self.notesRef)
        updateCheckouts(from: base, to: last.commit)
        for candidate in candidates {
            try finishMerged(candidate.request, as: candidate.commit)
            record(
                .init(kind: .merged, request: candidate.request.id, commit: candidate.commit, reason: "onto \(target)"))
        }
        return true
    }

    /// Checkouts that have the target checked out follow it (as `git merge --ff-only` would
    /// move them): `git read-tree -m -u <old> <new>` keeps local changes that do not clash.
    func updateCheckouts(from old: OID, to new: OID) {
        for (path, branch) in worktreeBranches() where branch == targetRef {
            let outcome = try? ChildProcess.run(
                ["git", "-C", path, "-c", "core.hooksPath=/dev/null", "read-tree", "-m", "-u", old.hex, new.hex],
                environment: ChildProcess.environment())
            if outcome?.status != 0 {
                log(
                    "warning: \(path) has \(target) checked out and its files could not follow "
                        + "(\(outcome?.text.firstLine ?? "git failed")); there: "
                        + "git checkout --detach \(old.hex) && git stash && git checkout \(target) && git stash pop\n")
            }
        }
    }

    /// Every worktree of the repository with the branch ref it has checked out.
    func worktreeBranches() -> [(path: String, branch: String)] {
        ((try? repository.worktrees()) ?? []).compactMap { entry in entry.branch.map { (entry.path, $0) } }
    }

    /// Closes a landed request, its bead and molecule; mails MERGED to its polecat and the
    /// mayor; removes the merged branch (with the polecat's worktree: the polecat is
    /// destroyed). The request is closed last, so a run killed half-way leaves it queued
    /// and the next run finds it on the target and finishes (a duplicate mail rather than
    /// a lost one).
    func finishMerged(_ request: MergeRequest, as commit: OID) throws {
        let short = String(commit.hex.prefix(12))
        var closed: [String] = []
        for id in [request.workBead, request.molecule].compactMap({ $0 }) {
            guard let bead = try? beads.load(id).bead, bead.status != .closed else { continue }
            if (try? beads.close(id, reason: "merged into \(target) as \(short) (\(request.id))")) != nil {
                closed.append(id)
            }
        }
        var recipients = ["mayor"]
        if let name = request.polecat { recipients.insert("polecat/\(name)", at: 0) }
        var cleanup = ""
        if let name = request.polecat, let record = try? polecats.store.load(name)?.record,
            record.branch == request.branch, record.state == .done
        {
            // Its work is done and landed: the polecat is destroyed (its agent stopped first).
            if (try? polecats.nuke(name, force: false, discard: false)) != nil {
                cleanup = "Its worktree and branch \(request.branch) are removed; polecat/\(name) is free again."
            }
        } else if !request.branch.isEmpty, let head = request.head,
            try repository.referenceTarget("refs/heads/" + request.branch) == head,
            !worktreeBranches().contains(where: { $0.branch == "refs/heads/" + request.branch })
        {
            try? repository.deleteReference("refs/heads/" + request.branch, expecting: head)
            cleanup = "Branch \(request.branch) is deleted."
        }
        try mail(
            to: recipients, type: "notification", subject: "MERGED \(request.id): \(request.branch)",
            body: "\(request.branch) (\(request.id)) is merged into \(target) as \(short).\n"
                + (closed.isEmpty ? "" : "Closed: \(closed.joined(separator: ", ")).\n") + cleanup)
        try beads.update(request.id, op: "merge") { bead in
            // Queued again with a newer head while this one landed: that head is still to come.
            guard MergeRequest(bead: bead).head == request.head else { return }
            MergeRequest.set(
                &bead, ["state": .string(MergeRequest.State.merged.rawValue), "merged_as": .string(commit.hex)])
            bead.markClosed(at: beads.now, reason: "merged into \(target) as \(short)")
        }
    }

    // MARK: bouncing

    /// Sends a request back: mail to its polecat, whose state returns to running so it may
    /// fix the branch and `git polecat done` again (or `git refinery retry`); when the
    /// polecat is gone, a new bead for the work and mail to the mayor. The request becomes
    /// blocked last (a run killed before that bounces it again: a duplicate, not a loss),
    /// and only if it is still queued with the same head. The queue moves on.
    func bounce(
        _ request: MergeRequest, reason: String, short: String, paths: [String] = [], output: OID? = nil
    ) throws {
        // Rejected or queued again with another head meanwhile: not this run's to bounce.
        guard let current = try? MergeRequest.load(request.id, in: beads), current.isQueued,
            current.head == request.head
        else {
            log("\(request.id) changed while the refinery worked on it; left as it is now\n")
            return
        }
        var text = "The refinery sent back \(request.id) (\(request.branch)): \(reason)\n"
        if !paths.isEmpty { text += "\nConflicting paths:\n" + paths.map { "  \($0)\n" }.joined() }
        let owner = request.polecat.flatMap { try? polecats.store.load($0)?.record }
        var filed: String?
        if let record = owner, record.state != .nuked, record.branch == request.branch,
            let worktree = record.worktree, LocalFile.isDirectory(worktree)
        {
            text +=
                "\nIn \(worktree): bring \(request.branch) up to date with \(target) "
                + "(git rebase \(target), or merge it) and fix what is named above, commit, then "
                + "git polecat done (or git refinery retry \(request.id)).\n"
            if record.state == .done {
                _ = try? polecats.store.update(record.name, op: "bounced") { polecat in
                    guard polecat.generation == record.generation, polecat.state == .done else { return }
                    polecat.state = .running
                }
            }
            try mail(
                to: ["polecat/\(record.name)"], type: "fix-needed", subject: "Bounced \(request.id): \(short)",
                body: text)
        } else {
            var work = Bead(
                id: "",
                title: short == "conflict"
                    ? "Resolve conflicts: \(request.branch) into \(target)" : "Fix \(request.branch): \(short)")
            work.issueType = "task"
            work.priority = request.bead.priority
            work.description =
                text + "\nThe polecat that made it is gone. Check out \(request.branch), make it merge "
                + "cleanly and pass, then git refinery retry \(request.id).\n"
            work.labels = ["refinery"]
            work.dependencies.append(
                Dependency(
                    issue: "", dependsOn: request.id, type: .related, createdAt: beads.now, createdBy: beads.actor))
            filed = try beads.create(work).bead.id
            try mail(
                to: ["mayor"], type: "task", subject: "Bounced \(request.id): \(short); filed \(filed ?? "")",
                body: text + "\nFiled \(filed ?? "") for it (git bead show \(filed ?? "")).\n")
        }
        try beads.update(request.id, op: "bounce") { bead in
            let now = MergeRequest(bead: bead)
            guard now.isQueued, now.head == request.head else { return }
            var changes: [String: JSONValue?] = [
                "state": .string(MergeRequest.State.bounced.rawValue), "reason": .string(reason),
                "attempts": .int(Int64(now.attempts + 1)), "output": output.map { .string($0.hex) },
            ]
            changes["paths"] = paths.isEmpty ? .some(nil) : .array(paths.map { .string($0) })
            if let filed { changes["filed"] = .string(filed) }
            MergeRequest.set(&bead, changes)
            bead.status = .blocked
        }
        self.record(
            RefineryEvent(
                kind: .bounced, request: request.id, commit: nil,
                reason: short + (filed.map { "; filed \($0)" } ?? ""), paths: paths, detail: reason))
    }

    func mail(to recipients: [String], type: String, subject: String, body: String) throws {
        let addresses = try recipients.map { try Address($0) }
        _ = try Mailbox(repository: repository).send(
            MessageDraft(from: Self.actor, subject: subject, body: body, type: type), to: addresses, cc: [])
    }

    // MARK: PR mode

    /// PR mode: a verified request that merges cleanly and passes the gate has its branch
    /// pushed to `gt.refinery.remote`; the pull-request command is printed and recorded.
    func openPullRequest(_ candidate: Candidate, base: OID) throws -> RoundOutcome {
        let request = candidate.request
        let result = try gate(candidate.commit, requests: [request.id])
        if !result.passed {
            if try !isKnownGreen(base) {
                let onTarget = try gate(base, requests: [])
                if !onTarget.passed {
                    try reportTargetRed(onTarget, waiting: [request.id])
                    return .targetRed
                }
                try noteGreenTarget(onTarget)
            }
            try bounce(
                request, reason: "the gate fails with it merged onto \(target):\n" + (try failureText(result)),
                short: "gate red", output: result.output)
            return .done
        }
        let remote = settings.remote
        // The branch is the polecat's: after a bounce and a rebase it replaces what was
        // pushed before, but only that (a lease on the head this refinery pushed last).
        let previous = (request.string("pull_request_head") ?? "")
        let push = try ChildProcess.run(
            [
                "git", "--git-dir=" + repository.commonDir, "-c", "core.hooksPath=/dev/null", "push", "--quiet",
                "--force-with-lease=refs/heads/\(request.branch):\(previous)", remote,
                "\(candidate.head.hex):refs/heads/\(request.branch)",
            ], environment: ChildProcess.environment())
        guard push.status == 0 else {
            try bounce(
                request, reason: "cannot push \(request.branch) to \(remote): \(push.text.firstLine)",
                short: "push refused")
            return .done
        }
        let quoted = { (text: String) in ShellQuoting.quote(text, in: .plain) }
        let command =
            "gh pr create --base \(quoted(target)) --head \(quoted(request.branch)) "
            + "--title \(quoted(request.bead.title)) --body \(quoted("Merge request \(request.id)"))"
        try beads.update(request.id, op: "pull-request") { bead in
            MergeRequest.set(
                &bead,
                [
                    "state": .string(MergeRequest.State.pullRequest.rawValue),
                    "pull_request": .object([
                        "remote": .string(remote), "branch": .string(request.branch),
                        "head": .string(candidate.head.hex), "command": .string(command),
                    ]),
                    "pull_request_head": .string(candidate.head.hex),
                ])
        }
        var recipients = ["mayor"]
        if let name = request.polecat { recipients.insert("polecat/\(name)", at: 0) }
        try mail(
            to: recipients, type: "notification", subject: "Pull request ready \(request.id): \(request.branch)",
            body: "\(request.branch) passed verification and the gate and is pushed to \(remote).\nOpen it with:\n  "
                + command + "\n")
        record(
            .init(
                kind: .pullRequest, request: request.id, commit: candidate.head,
                reason: "pushed \(request.branch) to \(remote)", detail: command))
        return .done
    }
}
