import GitKit

/// The rules behind `git bead`'s verbs, shared by every caller (CLI, molecules, polecats).
extension BeadStore {
    public static func parseStatus(_ text: String) throws -> BeadStatus {
        guard let status = BeadStatus(rawValue: text.replacingHyphens()), BeadStatus.userSettable.contains(status)
        else {
            throw GasworksError(
                .usage,
                "invalid status '\(text)' (expected \(BeadStatus.userSettable.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        return status
    }

    public static func parsePriority(_ text: String) throws -> Int {
        let digits = text.uppercased().hasPrefix("P") ? String(text.dropFirst()) : text
        guard let value = Int(digits), (0...4).contains(value) else {
            throw GasworksError(.usage, "invalid priority '\(text)' (expected 0-4 or P0-P4)")
        }
        return value
    }

    public static func parseType(_ text: String) throws -> String {
        guard IssueTypes.known.contains(text) else {
            throw GasworksError(.usage, "invalid type '\(text)' (expected \(IssueTypes.known.joined(separator: ", ")))")
        }
        return text
    }

    public static func parseDependencyType(_ text: String) throws -> DependencyType {
        guard let type = DependencyType(rawValue: text) else {
            throw GasworksError(
                .usage,
                "invalid dependency type '\(text)' (expected \(DependencyType.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        return type
    }

    /// Takes an open bead that is unassigned or already `actor`'s: it becomes in_progress
    /// with `actor` as assignee. Of several racing claimers exactly one wins; the others
    /// re-read the bead, see it taken, and are refused.
    @discardableResult
    public func claim(_ id: String) throws -> StoredBead {
        let me = actor
        try refuseLockedStep(id, verb: "claim")
        return try update(id, op: "claim") { bead in
            if bead.status == .inProgress, bead.assignee == me { return }
            guard bead.status == .open else {
                throw GasworksError(
                    .refused,
                    "cannot claim '\(id)': it is \(bead.status.rawValue)\(bead.assignee.map { " (assignee \($0))" } ?? "")"
                )
            }
            if let owner = bead.assignee, owner != me {
                throw GasworksError(.refused, "cannot claim '\(id)': it is assigned to \(owner)")
            }
            bead.status = .inProgress
            bead.assignee = me
        }
    }

    /// A molecule's step cannot start before the steps it needs are closed.
    public func refuseLockedStep(_ id: String, verb: String) throws {
        let bead = try load(id).bead
        guard let step = bead.fields[Self.stepField] else { return }
        var waiting: [String] = []
        var anyDone = false
        let needsAny = step["any"] == .bool(true)
        for dependency in bead.dependencies
        where dependency.type.isBlocking || (needsAny && dependency.type == .related) {
            let status = (try? load(dependency.dependsOn).bead.status) ?? .closed
            if status == .closed { anyDone = true } else { waiting.append(dependency.dependsOn) }
        }
        if !waiting.isEmpty, !(needsAny && anyDone) {
            throw GasworksError(
                .refused,
                "cannot \(verb) step '\(id)': it needs \(waiting.joined(separator: ", ")) to be verified first")
        }
    }

    /// Claims the best ready bead; if another claimer wins it first, tries the next.
    public func claimNextReady(filter: (BeadSummary) -> Bool = { _ in true }) throws -> StoredBead? {
        let candidates = try readiness().ready().filter(filter)
        for candidate in candidates {
            do {
                return try claim(candidate.id)
            } catch let error as GasworksError where error.kind == .refused {
                continue
            }
        }
        return nil
    }

    public func readiness() throws -> Readiness {
        Readiness(beads: try index().beads, now: ISO8601.parse(now) ?? 0)
    }

    @discardableResult
    public func close(_ id: String, reason: String?) throws -> StoredBead {
        let stamp = now
        return try update(id, op: "close") { bead in
            if bead.status == .closed { return }
            bead.markClosed(at: stamp, reason: reason)
        }
    }

    @discardableResult
    public func reopen(_ id: String) throws -> StoredBead {
        try update(id, op: "reopen") { bead in
            bead.status = .open
            bead.fields["closed_at"] = nil
            bead.fields["close_reason"] = nil
        }
    }

    /// Records that `id` depends on `target`; a blocking edge that would close a cycle is refused.
    @discardableResult
    public func addDependency(_ id: String, on target: String, type: DependencyType) throws -> StoredBead {
        guard try repository.referenceTarget(Self.refName(target)) != nil else {
            throw GasworksError(.notFound, "no bead '\(target)'")
        }
        if DependencyGraph.isStructural(type.rawValue),
            DependencyGraph(try index().beads.values).wouldCycle(from: id, to: target)
        {
            throw GasworksError(
                .refused, "cannot add \(type.rawValue) dependency \(id) → \(target): it would create a cycle")
        }
        let (stamp, me) = (now, actor)
        return try update(id, op: "dep-add") { bead in
            if bead.dependencies.contains(where: { $0.dependsOn == target && $0.type == type }) { return }
            bead.dependencies.append(
                Dependency(issue: id, dependsOn: target, type: type, createdAt: stamp, createdBy: me))
        }
    }

    @discardableResult
    public func removeDependency(_ id: String, on target: String, type: DependencyType?) throws -> StoredBead {
        try update(id, op: "dep-rm") { bead in
            let before = bead.dependencies.count
            bead.dependencies.removeAll { $0.dependsOn == target && (type == nil || $0.type == type) }
            if bead.dependencies.count == before {
                throw GasworksError(
                    .notFound, "'\(id)' has no \(type.map { $0.rawValue + " " } ?? "")dependency on '\(target)'")
            }
        }
    }

    @discardableResult
    public func comment(_ id: String, text: String) throws -> StoredBead {
        guard !text.allSatisfy(\.isWhitespace) else { throw GasworksError(.usage, "empty comment") }
        let (stamp, me) = (now, actor)
        return try update(id, op: "comment") { bead in
            let next = (bead.comments.map(\.id).max() ?? 0) + 1
            bead.comments.append(Comment(id: next, issue: id, author: me, text: text, createdAt: stamp))
        }
    }

    @discardableResult
    public func setLabels(_ id: String, add: [String], remove: [String]) throws -> StoredBead {
        try update(id, op: "label") { bead in
            var labels = bead.labels.filter { !remove.contains($0) }
            for label in add where !labels.contains(label) { labels.append(label) }
            bead.labels = labels
        }
    }

    /// Deletes by tombstone: the ref stays, marked deleted, so a later sync from a clone
    /// that still has the bead cannot bring it back.
    @discardableResult
    public func delete(_ id: String, reason: String?) throws -> StoredBead {
        let (stamp, me) = (now, actor)
        return try update(id, op: "delete", allowDeleted: true) { bead in
            if bead.isDeleted { return }
            bead.markDeleted(at: stamp, by: me, reason: reason)
        }
    }

    /// One bead's changes, newest first, from its commit chain.
    public func history(_ id: String) throws -> [Commit] {
        guard let tip = try repository.referenceTarget(Self.refName(id)) else {
            throw GasworksError(.notFound, "no bead '\(id)'")
        }
        // Reverse post-order: every commit before its parents, whatever the dates say.
        var visited: Set<OID> = [tip]
        var stack: [(Commit, Int)] = [(try repository.commit(tip), 0)]
        var postOrder: [Commit] = []
        while let (commit, next) = stack.popLast() {
            if next < commit.parents.count {
                stack.append((commit, next + 1))
                let parent = commit.parents[next]
                if visited.insert(parent).inserted { stack.append((try repository.commit(parent), 0)) }
            } else {
                postOrder.append(commit)
            }
        }
        return postOrder.reversed()
    }
}

extension String {
    fileprivate func replacingHyphens() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}
