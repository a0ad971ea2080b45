import BeadKit
import GitKit
import HookKit
import MoleculeKit

#if canImport(Glibc)
    import Glibc
#endif

/// The hooks' work that needs molecules: submitting steps named by `Gt-Step-Done:`.
public final class CommitHooks {
    let molecules: MoleculeStore
    public let check: CommitCheck

    public init(molecules: MoleculeStore) {
        self.molecules = molecules
        check = CommitCheck(beads: molecules.beads)
    }

    public var isWorkerCheckout: Bool { check.isWorkerCheckout }

    /// Records this checkout's new commits and submits the steps `Gt-Step-Done:` names.
    /// Returns the ids of the steps submitted.
    @discardableResult
    public func postCommit() throws -> [String] {
        unlink(check.beads.repository.gitDir + CommitCheck.postCommitFile)
        guard try RigConfig.isRig(check.beads.repository) else { return [] }
        return try recordCommits()
    }

    /// Notes the checkout's new commits and (when `submitting`) submits the steps their
    /// `Gt-Step-Done:` trailers name, unless already submitted at that commit or closed.
    @discardableResult
    public func recordCommits(submitting: Bool = true) throws -> [String] {
        let recorded = try check.recordNotes()
        guard submitting else {
            if recorded.finished.isEmpty { check.markNoted(recorded.head) }
            return []
        }
        var submitted: [String] = []
        var refusals: [GasworksError] = []
        for (given, commit) in recorded.finished {
            do {
                let id = try molecules.beads.resolve(given)
                let bead = try molecules.beads.load(id).bead
                if bead.status == .closed
                    || bead.fields[BeadStore.stepField]?["submitted"]?["commit"]?.stringValue == commit.id.hex
                {
                    continue
                }
                try molecules.submit(
                    id, commit: commit.id, tree: commit.tree, evidence: commit.message.firstLine, outputs: [:])
                submitted.append(id)
            } catch let error as GasworksError where error.kind == .refused || error.kind == .notFound {
                // The rules said no (a locked step, an unknown id): final, and reported.
                refusals.append(error)
            }
        }
        if !submitted.isEmpty { check.forgetTrailers() }
        // Only now: a submission that failed for another reason (a lock, the disk) is found
        // again by the next run.
        check.markNoted(recorded.head)
        if let refusal = refusals.first {
            throw GasworksError(refusal.kind, "Gt-Step-Done not submitted: \(refusal.message)")
        }
        return submitted
    }
}
