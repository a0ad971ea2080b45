import BeadKit
import GitKit
import MoleculeKit

/// The result of `verify`: every step of every molecule a branch serves, and the commits
/// on the branch that name a step no verdict covers.
public struct Verification: Sendable {
    public struct StepResult: Sendable {
        public var id: String
        public var key: String
        public var ok: Bool
        public var reason: String
        /// Where the step stands (`StepState`): a `submitted` step waits for the witness.
        public var state: String = ""
        /// A step with checks whose passing verdict is bound to exactly the head's tree.
        /// One verified on an earlier commit needs its checks run again on the head
        /// before the head may land (the refinery's final verification).
        public var exact: Bool = false
        public var hasChecks: Bool = false
    }
    public struct MoleculeResult: Sendable {
        public var id: String
        public var steps: [StepResult]
    }
    public struct Uncovered: Sendable {
        public var commit: OID
        public var step: String
        public var subject: String
    }

    public var head: OID
    public var headName: String
    public var molecules: [MoleculeResult]
    public var uncovered: [Uncovered]
    public var strict: Bool

    public var problems: Int { molecules.reduce(0) { $0 + $1.steps.filter { !$0.ok }.count } + uncovered.count }
    /// Verified steps with checks whose verdicts are not bound to the head's own tree.
    public var needingFinalCheck: [String] {
        molecules.flatMap(\.steps).filter { $0.ok && $0.hasChecks && !$0.exact }.map(\.id)
    }
    public var passed: Bool { problems == 0 && !molecules.isEmpty }
}

extension Witness {
    /// Re-checks, without trusting the hooks, that `target` (a molecule, or a branch or any
    /// revision) is verified: every step of its molecules is closed, each step with checks
    /// by a passing verdict noted on a commit the head contains, bound to that commit's
    /// tree (and, in strict mode, signed by a trusted key); and every commit on the branch
    /// that names a step with checks is contained in a verified commit.
    public func verify(_ target: String, branch: String?, strict strictOption: Bool) throws -> Verification {
        let strict = try strictOption || repository.configBool("gt.witness.strict") == true
        let moleculeIDs: [String]
        let headName: String
        let head: OID
        if let molecule = try moleculeNamed(target) {
            let recorded = try beads.load(molecule).bead.fields[MoleculeStore.field]?["branch"]?.stringValue
            headName = branch ?? recorded ?? "HEAD"
            head = try revision(headName)
            moleculeIDs = [molecule]
        } else {
            headName = target
            head = try revision(target)
            moleculeIDs = []
        }
        let named = try stepsNamed(from: head)
        var ids = moleculeIDs
        if ids.isEmpty {
            for entry in named {
                for step in entry.steps {
                    guard let molecule = step.lastIndex(of: ".").map({ String(step[..<$0]) }),
                        !ids.contains(molecule), (try? beads.load(molecule))?.bead.issueType == "molecule"
                    else { continue }
                    ids.append(molecule)
                }
            }
        }
        let signer = strict ? try VerdictSigner(repository: repository) : nil
        let approvals = strict ? try VerdictSigner(repository: repository, role: .overseer) : nil
        let headTree = try repository.commit(head).tree
        var results: [Verification.MoleculeResult] = []
        var verified: [OID] = []
        var withChecks = Set<String>()
        for id in ids {
            let molecule = try molecules.load(id)
            var steps: [Verification.StepResult] = []
            for step in molecule.steps {
                let bead = try beads.load(step.id).bead
                let info = bead.fields[BeadStore.stepField]
                if !(info?["checks"]?.arrayValue ?? []).isEmpty { withChecks.insert(step.id) }
                let (ok, reason, commit) = try judge(
                    step, bead: bead, head: head, headTree: headTree, signer: signer, approvals: approvals)
                if let commit { verified.append(commit) }
                let checked = withChecks.contains(step.id)
                steps.append(
                    .init(
                        id: step.id, key: step.key, ok: ok, reason: reason, state: step.state.rawValue,
                        exact: ok && checked && commit == head, hasChecks: checked))
            }
            results.append(.init(id: id, steps: steps))
        }
        var uncovered: [Verification.Uncovered] = []
        let open = Set(results.flatMap { $0.steps.filter { !$0.ok }.map(\.id) })
        for entry in named {
            for step in entry.steps where withChecks.contains(step) || open.contains(step) {
                let covered = try verified.contains {
                    try $0 == entry.commit || repository.isAncestor(entry.commit, of: $0)
                }
                if !covered { uncovered.append(.init(commit: entry.commit, step: step, subject: entry.subject)) }
            }
        }
        return Verification(head: head, headName: headName, molecules: results, uncovered: uncovered, strict: strict)
    }

    /// Whether one step counts as verified for `head`, why, and the verified commit (the
    /// head itself when a passing verdict is bound to the head's own tree).
    /// `signer` and `approvals` (strict mode only) say whose verdicts and approvals count.
    func judge(
        _ step: MoleculeStep, bead: Bead, head: OID, headTree: OID, signer: VerdictSigner?, approvals: VerdictSigner?
    ) throws -> (Bool, String, OID?) {
        let info = bead.fields[BeadStore.stepField]
        let hasChecks = !(info?["checks"]?.arrayValue ?? []).isEmpty
        if step.state == .skipped {
            if hasChecks, signer != nil {
                return (false, "skipped without its checks; strict mode wants a signed verdict", nil)
            }
            // The molecule's own settling (a false condition, a join that needed one) is
            // deterministic and recorded as by "molecule"; any other skip is the overseer's.
            if info?["skipped"]?["by"]?.stringValue != "molecule",
                let refusal = try approvalRefusal(info?["skipped"], step: step.id, approvals: approvals)
            {
                return (false, refusal, nil)
            }
            return (true, "skipped: \(bead.string("close_reason") ?? "recorded")", nil)
        }
        guard step.state == .done else { return (false, "not verified: it is \(step.state.rawValue)", nil) }
        if step.kind != .work {
            // A human gate is the overseer's to open: its approval must be the overseer's.
            if info?["gate"]?["type"]?.stringValue == "human",
                let refusal = try approvalRefusal(info?["approval"], step: step.id, approvals: approvals)
            {
                return (false, "a human gate " + refusal, nil)
            }
            return (true, bead.string("close_reason") ?? "closed", nil)
        }
        if let approval = info?["approval"], info?["verdict"] == nil {
            let by = approval["by"]?.stringValue ?? "?"
            // An approval is bead data, not a signed verdict: strict mode wants the verdict.
            if hasChecks, signer != nil {
                return (false, "approved by \(by) without its checks; strict mode wants a signed verdict", nil)
            }
            if let refusal = try approvalRefusal(approval, step: step.id, approvals: approvals) {
                return (false, refusal, nil)
            }
            return (true, hasChecks ? "approved by \(by) without running its checks" : "approved by \(by)", nil)
        }
        guard hasChecks else { return (false, "closed without a verdict or an approval", nil) }
        // A verdict on the head itself (the witness's or the refinery's final verification).
        for note in try Verdict.all(on: head, in: repository)
        where note.step == step.id && note.passed && note.commit == head && note.tree == headTree {
            if let who = try trustedSigner(note, signer) {
                return (true, "verified on the head \(head.hex.prefix(12)) itself" + who, head)
            }
        }
        guard let summary = info?["verdict"], let commitHex = summary["commit"]?.stringValue,
            let commitID = OID(hex: commitHex), let treeHex = summary["tree"]?.stringValue
        else { return (false, "closed without a verdict", nil) }
        let short = String(commitHex.prefix(12))
        guard let commit = try? repository.commit(commitID) else {
            return (false, "its verdict's commit \(short) is not in this repository", nil)
        }
        let notes = try Verdict.all(on: commitID, in: repository).filter {
            $0.step == step.id && $0.passed && $0.commit == commitID && $0.tree == commit.tree && $0.tree.hex == treeHex
        }
        guard !notes.isEmpty else {
            return (false, "no passing verdict on \(short) in \(Verdict.notesRef) bound to its tree", nil)
        }
        var trusted: String? = nil
        for note in notes {
            if let who = try trustedSigner(note, signer) {
                trusted = who
                break
            }
        }
        guard let trusted else { return (false, "its verdict on \(short) is not signed by a trusted key", nil) }
        guard try commitID == head || repository.isAncestor(commitID, of: head) else {
            return (false, Self.stale(short, treeHex), nil)
        }
        return (true, "verified on \(short) (tree \(treeHex.prefix(12)))" + trusted, commitID)
    }

    /// ", signed by <principal>" for a verdict signed by a trusted key, "" when signatures
    /// are not asked for (`signer` nil), nil when it is not trusted.
    func trustedSigner(_ note: Verdict, _ signer: VerdictSigner?) throws -> String? {
        guard let signer else { return "" }
        guard let signature = note.signature, let who = try signer.signer(of: note.payload, signature: signature)
        else { return nil }
        return ", signed by \(who)"
    }

    /// Why an overseer's approval (or skip) record does not count, or nil when it does: in
    /// strict mode it must carry the overseer key's signature over the record.
    func approvalRefusal(_ record: JSONValue?, step: String, approvals: VerdictSigner?) throws -> String? {
        guard let approvals else { return nil }
        guard let record, let signature = record["signature"]?.stringValue else {
            return "has no approval signed by the overseer's key"
        }
        guard record["step"]?.stringValue == step,
            try approvals.signer(of: Approval.payload(record), signature: signature) != nil
        else { return "has an approval whose signature is not the overseer key's" }
        return nil
    }

    static func stale(_ commit: String, _ tree: String) -> String {
        "stale: its verdict is for \(commit) (tree \(tree.prefix(12))), which the branch no longer contains "
            + "(rebased or amended after the check?)"
    }

    /// A molecule id, when `given` names one (and is not rather a branch of this repository).
    func moleculeNamed(_ given: String) throws -> String? {
        if (try? repository.referenceTarget("refs/heads/" + given)) != nil { return nil }
        do {
            return try molecules.resolveMolecule(given)
        } catch let error as GasworksError where error.kind == .notFound || error.kind == .usage {
            return nil
        }
    }

    func revision(_ name: String) throws -> OID {
        do {
            return try repository.revparse(name)
        } catch {
            throw GasworksError(.notFound, "no molecule or revision '\(name)'")
        }
    }

    /// Commits on `head` (not on the rig's target branch, unless `head` is on it) and the
    /// steps their `Gt-Step:` / `Gt-Step-Done:` trailers name.
    func stepsNamed(from head: OID) throws -> [(commit: OID, steps: [String], subject: String)] {
        let target = try repository.config("gt.target") ?? "main"
        var hidden: [OID] = []
        if let base = try repository.referenceTarget("refs/heads/" + target), base != head,
            !(try repository.isAncestor(head, of: base))
        {
            hidden = [base]
        }
        var found: [(OID, [String], String)] = []
        try repository.walk(from: [head], hiding: hidden) { id in
            let message = try repository.commit(id).message
            let steps = Trailer.values(Trailer.step, in: message) + Trailer.values(Trailer.stepDone, in: message)
            if !steps.isEmpty {
                var unique: [String] = []
                // Trailers may name a step by a unique prefix, as the hook accepts.
                for given in steps {
                    let step = (try? beads.resolve(given)) ?? given
                    if !unique.contains(step) { unique.append(step) }
                }
                found.append((id, unique, message.firstLine))
            }
            return true
        }
        return found
    }
}
