import BeadKit
import GitKit
import MoleculeKit
import PolecatKit

#if canImport(Glibc)
    import Glibc
#endif

extension Deacon {
    // MARK: drift

    /// Commits without trailers, commits touching paths outside the bead's declared scope
    /// (labels `scope:<path prefix or glob>`), and a step running far longer than its
    /// siblings took: each reported to the mayor once.
    func drift(_ record: PolecatRecord, held: [BeadSummary], targetTip: OID?) throws {
        let address = record.address
        guard let branch = record.branch, let tip = try repository.referenceTarget("refs/heads/" + branch) else {
            return
        }
        let commits = try repository.walk(from: [tip], hiding: targetTip.map { [$0] } ?? [], limit: 200)
        for id in commits {
            let commit = try repository.commit(id)
            guard commit.parents.count < 2 else { continue }
            let keys = Set(Trailer.parse(commit.message).map(\.key))
            if keys.isDisjoint(with: [Trailer.bead, Trailer.step, Trailer.stepDone]) {
                flag(
                    "trailers:\(id.hex)", address,
                    "commit \(id.hex.prefix(12)) \"\(commit.message.firstLine)\" names no bead or step (no Gt-Bead:/Gt-Step: trailer)"
                )
            }
        }
        if let bead = record.bead, let labels = try? beads.load(bead).bead.labels {
            let scope = labels.filter { $0.hasPrefix("scope:") }.map { String($0.dropFirst(6)) }
            if !scope.isEmpty, let base = try targetTip.flatMap({ try repository.mergeBase($0, tip) }), base != tip {
                let diff = try ChildProcess.run(
                    [
                        "git", "--git-dir=" + repository.commonDir, "diff", "--name-only", "--no-renames", base.hex,
                        tip.hex,
                    ],
                    environment: ChildProcess.environment())
                guard diff.status == 0 else {
                    throw GasworksError(.repository, "git diff failed: \(diff.text.firstLine)")
                }
                for path in diff.text.split(separator: "\n").map(String.init)
                where !scope.contains(where: { Self.path(path, isIn: $0) }) {
                    flag(
                        "scope:\(bead):\(path)", address,
                        "\(branch) changes \(path), outside the scope of \(bead) (\(scope.joined(separator: ", ")))")
                }
            }
        }
        for step in held where step.type == "step" {
            try slowStep(step, worker: address, generation: record.generation ?? "")
        }
    }

    /// Whether `path` is inside a scope entry: a glob (fnmatch) or a path prefix.
    static func path(_ path: String, isIn scope: String) -> Bool {
        if scope.contains(where: { "*?[".contains($0) }) { return fnmatch(scope, path, 0) == 0 }
        let prefix = scope.hasSuffix("/") ? scope : scope + "/"
        return path == scope || path.hasPrefix(prefix)
    }

    /// A held step running more than `slowFactor` times the median of its closed siblings.
    func slowStep(_ step: BeadSummary, worker: String, generation: String) throws {
        guard let dot = step.id.lastIndex(of: ".") else { return }
        let molecule = String(step.id[..<dot])
        guard let claimed = try claimTime(step.id) else { return }
        let now = try Signature.committer(in: repository).time
        let elapsed = now - claimed
        guard elapsed > 60 else { return }
        var durations: [Int64] = []
        for sibling in try molecules.load(molecule).steps where sibling.id != step.id && sibling.state == .done {
            guard let start = try claimTime(sibling.id), let end = try closeTime(sibling.id), end >= start else {
                continue
            }
            durations.append(end - start)
        }
        guard !durations.isEmpty else { return }
        let median = durations.sorted()[durations.count / 2]
        guard elapsed > Int64(settings.slowFactor) * max(median, 1) else { return }
        flag(
            "slow:\(step.id):\(generation)", worker,
            "step \(step.id) has run \(elapsed) s, more than \(settings.slowFactor)× the \(median) s its siblings took")
    }

    /// When a bead was last claimed (its history's latest `claim`), in commit time. The
    /// latest by time, not the first in the walk: after a sync merge the walk may list the
    /// other clone's claims first.
    func claimTime(_ id: String) throws -> Int64? {
        try beads.history(id).filter { Trailer.values("Gt-Op", in: $0.message).first == "claim" }
            .map(\.committer.time).max()
    }

    /// When a bead was closed (its latest commit, once closed).
    func closeTime(_ id: String) throws -> Int64? {
        try beads.history(id).first?.committer.time
    }

    func flag(_ key: String, _ worker: String, _ text: String) {
        problems.append(.init(kind: "drift", worker: worker, detail: text))
        if isNew(key) {
            findings.append("\(worker): \(text)")
            act("flag", worker, text)
        }
    }

    /// New findings go to the mayor in one mail per patrol.
    func sendFindings() throws {
        guard !findings.isEmpty else { return }
        try mail(
            ["mayor"], type: "notification",
            subject: "Deacon: \(findings.count) finding\(findings.count == 1 ? "" : "s") to look at",
            body: findings.map { "- \($0)\n" }.joined()
                + "\nDrift is reported once; git deacon status lists what is still open.\n")
    }

    // MARK: orphans

    /// Worktrees with no record (reported), records whose worktree is gone (the record is
    /// retired and its bead given back), beads held by workers that no longer exist (given
    /// back), and queued records a crash left without a queue time (retired).
    func orphans(records snapshot: [PolecatRecord], index: BeadIndex, now: Int64, progress: inout ProgressCache)
        throws
    {
        let worktrees = try repository.worktrees().map { Self.normalized($0.path) }
        // Read again after listing: a worktree added meanwhile has its record by now, or is
        // named after a record that is being started.
        let records = try polecats.store.all() + polecats.crew.all()
        let roots = [try polecats.worktreeRoot(), try polecats.crewRoot()].map { Self.normalized($0) + "/" }
        let live = records.filter { $0.state != .nuked }
        let recorded = Set(live.compactMap(\.worktree).map(Self.normalized))
        let names = Set(live.map(\.name))
        for path in worktrees
        where roots.contains(where: { path.hasPrefix($0) }) && !recorded.contains(path) && LocalFile.isDirectory(path)
            && !names.contains(String(path.split(separator: "/").last ?? ""))
        {
            let finding = "orphan-worktree:\(path)"
            problems.append(.init(kind: "orphan", worker: path, detail: "a worktree no polecat or crew record names"))
            if isNew(finding) {
                findings.append(
                    "\(path): a worktree no polecat or crew record names (git worktree remove it, or keep it)")
                act("report", path, "a worktree no polecat or crew record names")
            }
        }
        var pruned = false
        // A record being nuked (its `stopping` marker set) loses its worktree on purpose.
        for record in snapshot where record.state != .nuked && record.string("stopping") == nil {
            let missingWorktree =
                [.running, .stopped, .done].contains(record.state) && record.worktree != nil
                && !LocalFile.isDirectory(record.worktree ?? "") && !Polecats.isAlive(record)
            // A sling that is not queued writes no queue time while it launches: only one that
            // has stayed like this for longer than any launch takes was left by a crash.
            var abandonedQueue = false
            if record.state == .queued, record.string("queued_at") == nil {
                let since = progress.firstSeen("queued:" + record.address, as: record.generation ?? "", now: now)
                abandonedQueue = now - since > Int64(settings.graceSeconds) + 300
            }
            guard missingWorktree || abandonedQueue else { continue }
            let store = record.kind == .crew ? try polecats.crew : polecats.store
            do {
                _ = try store.update(record.name, op: "retire") { current in
                    guard current.generation == record.generation, current.state == record.state,
                        current.string("stopping") == nil
                    else {
                        throw GasworksError(.refused, "changed meanwhile")
                    }
                    current.state = .nuked
                }
            } catch {
                continue
            }
            if record.state != .done, let bead = record.bead { try polecats.release(bead, heldBy: record.address) }
            try releaseSteps(heldBy: record.address)
            let why =
                abandonedQueue
                ? "a queued record without a queue time (a sling that crashed)"
                : "its worktree \(record.worktree ?? "") is gone"
            if missingWorktree, !pruned {
                // git's admin files for the vanished worktree go too.
                _ = try? ChildProcess.run(
                    ["git", "--git-dir=" + repository.commonDir, "worktree", "prune"],
                    environment: ChildProcess.environment())
                pruned = true
            }
            act("repair", record.address, why + "; record retired, its bead given back, branch kept")
            findings.append("\(record.address): \(why); the deacon retired the record and gave its bead back")
        }
        let existing = Set(records.filter { $0.state != .nuked }.map(\.address))
        for summary in index.beads.values
        where summary.status == BeadStatus.inProgress.rawValue
            && (summary.assignee.hasPrefix("polecat/") || summary.assignee.hasPrefix("crew/"))
            && !existing.contains(summary.assignee) && !summary.json.contains("\"submitted\":{")
        {
            let owner = summary.assignee
            try molecules.withStepAuthority {
                _ = try beads.update(summary.id, op: "release") { bead in
                    guard bead.status == .inProgress, bead.assignee == owner else { return }
                    bead.status = .open
                    bead.assignee = nil
                }
            }
            act("repair", owner, "held \(summary.id) but no longer exists; \(summary.id) is ready again")
            findings.append("\(summary.id) was held by \(owner), which no longer exists; it is ready again")
        }
    }

    /// A path without doubled or trailing slashes, so git's and a record's spelling compare.
    static func normalized(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }
}
