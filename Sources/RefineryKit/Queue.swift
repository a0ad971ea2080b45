import BeadKit
import GitKit
import HookKit
import MailKit
import PolecatKit

/// Changing the queue by hand: enqueue a branch, retry or reject a request.
public struct RefineryQueue {
    public let repository: Repository
    public let beads: BeadStore

    public init(beads: BeadStore) {
        self.repository = beads.repository
        self.beads = beads
    }

    /// Queues `branch` (its current head) for the target, as a merge request.
    public func enqueue(
        branch given: String, bead: String?, molecule: String?, priority: Int?, title: String?
    ) throws -> StoredBead {
        let branch = given.hasPrefix("refs/heads/") ? String(given.dropFirst(11)) : given
        guard let head = try repository.referenceTarget("refs/heads/" + branch) else {
            throw GasworksError(.notFound, "no branch '\(branch)'")
        }
        let target = try RigConfig.target(repository)
        guard branch != target else { throw GasworksError(.refused, "\(branch) is the target branch itself") }
        if let tip = try repository.referenceTarget("refs/heads/" + target),
            try head == tip || repository.isAncestor(head, of: tip)
        {
            throw GasworksError(.refused, "\(branch) has nothing that \(target) does not already have")
        }
        let moleculeID = try molecule.map { try beads.resolve($0) }
        if moleculeID == nil, let worker = Principal.worker(in: repository),
            try !RefinerySettings.read(repository).allowPlain
        {
            throw GasworksError(
                .refused,
                "\(worker) may not queue a branch without a molecule (the overseer's to do, or gt.refinery.allowPlain)")
        }
        // The bead a molecule was poured on is the work it serves, unless another is named.
        let workBead =
            try bead.map { try beads.resolve($0) }
            ?? moleculeID.flatMap { try? beads.load($0).bead.fields["molecule"]?["on"]?.stringValue }
        if let existing = try MergeRequest.all(in: beads).first(where: {
            $0.branch == branch && ($0.isQueued || $0.state == .bounced)
        }) {
            throw GasworksError(
                .refused,
                "\(branch) already has merge request \(existing.id) (\(existing.state.rawValue)): "
                    + "git refinery retry \(existing.id) queues its new head")
        }
        let draft = MergeRequest.draft(
            branch: branch, head: head, target: target, title: title,
            description: "\(branch) at \(head.hex.prefix(12)), queued by \(beads.actor) for \(target).",
            priority: priority, bead: workBead, molecule: moleculeID, at: beads.now, actor: beads.actor)
        return try beads.create(draft)
    }

    /// Queues a bounced (or open) request again with its branch's current head and fresh attempts.
    public func retry(_ given: String) throws -> StoredBead {
        let request = try MergeRequest.load(given, in: beads)
        guard request.bead.status != .closed else {
            throw GasworksError(.refused, "\(request.id) is \(request.state.rawValue): nothing to retry")
        }
        let head = try repository.referenceTarget("refs/heads/" + request.branch) ?? request.head
        guard let head else { throw GasworksError(.notFound, "\(request.id): no branch \(request.branch)") }
        return try beads.update(request.id, op: "retry") { bead in
            guard bead.status != .closed else {
                throw GasworksError(.refused, "\(request.id) was closed meanwhile")
            }
            MergeRequest.set(
                &bead,
                [
                    "state": .string(MergeRequest.State.queued.rawValue), "head": .string(head.hex), "reason": nil,
                    "paths": nil, "output": nil, "pull_request": nil,
                ])
            bead.status = .open
        }
    }

    /// Refuses a request for good: closed as rejected; its polecat is told.
    public func reject(_ given: String, reason: String?) throws -> StoredBead {
        let request = try MergeRequest.load(given, in: beads)
        guard request.bead.status != .closed else {
            throw GasworksError(.refused, "\(request.id) is already \(request.state.rawValue)")
        }
        let why = reason ?? "rejected by \(beads.actor)"
        let stored = try beads.update(request.id, op: "reject") { bead in
            guard bead.status != .closed else { throw GasworksError(.refused, "\(request.id) was closed meanwhile") }
            MergeRequest.set(&bead, ["state": .string(MergeRequest.State.rejected.rawValue), "reason": .string(why)])
            bead.markClosed(at: beads.now, reason: "rejected: \(why)")
        }
        if let name = request.polecat {
            _ = try Mailbox(repository: repository).send(
                MessageDraft(
                    from: beads.actor, subject: "Rejected \(request.id): \(request.branch)",
                    body: "\(request.id) (\(request.branch)) will not be merged: \(why)\n", type: "notification"),
                to: [try Address("polecat/\(name)")], cc: [])
        }
        return stored
    }
}
