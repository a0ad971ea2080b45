import BeadKit
import GitKit
import HookKit
import MailKit
import MoleculeKit
import PolecatKit
import WitnessKit

#if canImport(Glibc)
    import Glibc
#endif

/// Something the refinery did, for the terminal and for tests.
public struct RefineryEvent: Sendable {
    public enum Kind: String, Sendable {
        /// Landed on the target.
        case merged
        /// Sent back to its polecat (or to a new bead).
        case bounced
        /// Left queued: its steps wait for the witness or an approval.
        case waiting
        /// PR mode: the branch was pushed for a pull request.
        case pullRequest = "pull-request"
        /// The gate fails on the target without any merge request: the overseer was mailed.
        case targetRed = "target-red"
        /// Found already on the target (a run was killed after landing it) and closed.
        case recovered
    }

    public var kind: Kind
    public var request: String
    public var commit: OID?
    public var reason: String
    public var paths: [String] = []
    public var detail: String = ""
}

/// The merge queue. A run takes the refinery lease, then drains the queue in order: each
/// candidate is verified (`git witness verify`), merged with `git merge-tree --write-tree` on
/// top of the target (and, with a batch, on top of the candidates before it; no checkout),
/// tested by the rig's gate in the refinery's own worktree, and landed by a compare-and-swap
/// of the target to a commit whose tree passed the gate.
public final class Refinery {
    public static let notesRef = "refs/notes/gt/refinery"
    public static let actor = "refinery"

    public let repository: Repository
    public let beads: BeadStore
    public let settings: RefinerySettings
    public let target: String
    let witness: Witness
    let polecats: Polecats
    /// Progress lines as they happen (the CLI prints them).
    public var log: (String) -> Void = { _ in }
    public internal(set) var events: [RefineryEvent] = []
    /// How many times the gate command ran in this process.
    public internal(set) var gateRuns = 0
    var checkout: Checkout?
    var lease: Lease?
    /// Commits whose tree is known to pass the gate.
    var green: Set<OID> = []
    /// A target commit the gate failed on by itself.
    var redTarget: OID?

    public init(repository: Repository) throws {
        self.repository = repository
        beads = try BeadStore(repository: repository, actor: Self.actor)
        settings = try RefinerySettings.read(repository)
        target = try RigConfig.target(repository)
        witness = Witness(molecules: MoleculeStore(beads: beads), name: Self.actor)
        polecats = try Polecats(repository: repository, actor: Self.actor)
    }

    deinit { checkout?.remove() }

    var targetRef: String { "refs/heads/" + target }

    public enum RunResult {
        case ran
        case busy(Lease.Holder)
    }

    /// Takes the lease and drains the queue; with `watch`, keeps waiting for new merge
    /// requests (polling every `interval` seconds) until `timeout` seconds have passed.
    public func run(watch: Bool = false, interval: Double = 2, timeout: Double? = nil) throws -> RunResult {
        let started = MonotonicClock.seconds()
        var handled = Set<String>()
        while true {
            let lease = try Lease(repository: repository, seconds: settings.leaseSeconds)
            switch try lease.acquire() {
            case .busy(let holder):
                if events.isEmpty { return .busy(holder) }
                return .ran
            case .acquired(let took):
                if let took { log("took over the lease of \(took.name), which stopped without releasing it\n") }
            }
            self.lease = lease
            defer {
                lease.release()
                self.lease = nil
            }
            var stopped = false
            repeat {
                let result = try drain()
                handled.formUnion(events.map(\.request))
                handled.formUnion(result.waiting)
                stopped = result.stopped
                if !watch { break }
                if let timeout, MonotonicClock.seconds() - started >= timeout { break }
                try lease.renew(for: Int64(interval) + settings.leaseSeconds, current: [])
                MonotonicClock.sleep(max(interval, 0.05))
            } while true
            lease.release()
            // A merge request queued between the last look and the release would wait for
            // a trigger that saw the lease still held: look once more now that it is free.
            if watch || stopped { return .ran }
            let fresh = try MergeRequest.queue(in: beads, target: target).filter { !handled.contains($0.id) }
            if fresh.isEmpty { return .ran }
        }
    }

    struct DrainResult {
        /// Requests left queued for the witness.
        var waiting: Set<String>
        /// True when the queue cannot move: the target itself is red.
        var stopped: Bool
    }

    /// Drains the queue once.
    func drain() throws -> DrainResult {
        var waiting = Set<String>()
        var moved = 0
        while true {
            try lease?.renew(current: [])
            guard let base = try repository.referenceTarget(targetRef) else {
                throw GasworksError(.notFound, "the target branch \(target) does not exist")
            }
            // A target already found red stays red until it moves: nobody is blamed, nothing retried.
            if base == redTarget { return DrainResult(waiting: waiting, stopped: true) }
            let queue = try MergeRequest.queue(in: beads, target: target).filter { !waiting.contains($0.id) }
            if queue.isEmpty { return DrainResult(waiting: waiting, stopped: false) }
            let batch = settings.mode == .pullRequest ? 1 : settings.batch
            var tip = base
            var candidates: [Candidate] = []
            for request in queue where candidates.count < batch {
                let preparation: Preparation
                do {
                    preparation = try prepare(request, onto: tip, base: base)
                } catch let error as GasworksError where error.kind == .notFound || error.kind == .badData {
                    // One request the refinery cannot take must not stop the queue behind it.
                    try bounce(
                        request, reason: "the refinery cannot take it: \(error.message)", short: "cannot take it")
                    continue
                }
                switch preparation {
                case .ready(let candidate):
                    candidates.append(candidate)
                    tip = candidate.commit
                case .waiting:
                    waiting.insert(request.id)
                case .done, .deferred:
                    break
                }
            }
            if candidates.isEmpty { continue }
            let outcome =
                settings.mode == .pullRequest
                ? try openPullRequest(candidates[0], base: base) : try testAndLand(candidates, base: base)
            switch outcome {
            case .moved:
                moved += 1
                if moved > 10 { throw GasworksError(.refused, "\(target) keeps moving under the refinery; it stops") }
            case .targetRed:
                redTarget = base
                return DrainResult(waiting: waiting, stopped: true)
            case .done:
                break
            }
        }
    }

    /// What one round of testing and landing came to.
    enum RoundOutcome {
        case done
        /// The target moved while the gate ran: the candidates are merged again.
        case moved
        /// The gate fails on the target itself.
        case targetRed
    }

    // MARK: preparing a candidate

    struct Candidate {
        var request: MergeRequest
        var head: OID
        /// The merge commit: the target (and earlier candidates) plus this request.
        var commit: OID
    }

    enum Preparation {
        case ready(Candidate)
        case waiting
        /// Conflicts only with a request before it in this batch: it waits for the next round.
        case deferred
        case done
    }

    func prepare(_ request: MergeRequest, onto tip: OID, base: OID) throws -> Preparation {
        guard let head = request.head, try repository.objectExists(head) else {
            try bounce(
                request, reason: "its head commit \(request.string("head") ?? "?") is not in this repository",
                short: "head missing")
            return .done
        }
        if try head == base || repository.isAncestor(head, of: base) {
            let merge = try mergeCommit(containing: head, from: base)
            try finishMerged(request, as: merge)
            record(.init(kind: .recovered, request: request.id, commit: merge, reason: "already on \(target)"))
            return .done
        }
        if request.molecule == nil, let refusal = try plainRefusal(request) {
            try bounce(request, reason: refusal, short: "no molecule")
            return .done
        }
        let verification = try witness.verify(
            request.molecule ?? head.hex, branch: request.molecule == nil ? nil : head.hex,
            strict: !settings.trustUnsigned)
        let verified = request.molecule == nil ? verification.problems == 0 : verification.passed
        if !verified {
            let failing = verification.molecules.flatMap(\.steps).filter { !$0.ok }
            // Submitted steps (and the locked ones after them) wait for the witness or an
            // approval: the request stays queued. Anything else is refused.
            let pending = failing.filter { $0.state == StepState.submitted.rawValue }
            let pendingIDs = Set(pending.map(\.id))
            if !pending.isEmpty, verification.uncovered.allSatisfy({ pendingIDs.contains($0.step) }),
                failing.allSatisfy({ [StepState.submitted.rawValue, StepState.locked.rawValue].contains($0.state) })
            {
                let steps = pending.map(\.id).joined(separator: ", ")
                record(.init(kind: .waiting, request: request.id, reason: "waiting for the witness: \(steps)"))
                return .waiting
            }
            var lines = failing.map { "\($0.id) \($0.key): \($0.reason)" }
            lines += verification.uncovered.map {
                "commit \($0.commit.hex.prefix(12)) \"\($0.subject)\" names \($0.step), which no passing verdict covers"
            }
            try bounce(
                request,
                reason: "not verified (git witness verify):\n" + lines.map { "  " + $0 }.joined(separator: "\n"),
                short: "not verified")
            return .done
        }
        // What lands is what was verified: checks whose verdicts are for an earlier tree
        // (a commit came after the last verdict) run again on the head itself.
        let stale = verification.needingFinalCheck
        if !stale.isEmpty {
            log("final verification of \(request.id) on \(head.hex.prefix(12)): \(stale.joined(separator: ", "))\n")
            let verdicts = try witness.finalVerification(of: stale, head: head)
            if let failed = verdicts.first(where: { !$0.passed }) {
                try bounce(
                    request,
                    reason: "the final verification on its head \(head.hex.prefix(12)) fails step \(failed.step):\n"
                        + (try witness.failureText(failed)),
                    short: "final verification failed", output: failed.checks.first { !$0.passed }?.output)
                return .done
            }
        }
        switch try mergeTree(tip, head) {
        case .failed(let message):
            try bounce(request, reason: "git merge-tree cannot merge it: \(message)", short: "cannot merge")
            return .done
        case .conflict(let paths):
            var conflicting = paths
            if tip != base {
                // It may conflict only with a request before it in this batch, which may not land.
                switch try mergeTree(base, head) {
                case .clean: return .deferred
                case .conflict(let onTarget): conflicting = onTarget
                case .failed(let message):
                    try bounce(request, reason: "git merge-tree cannot merge it: \(message)", short: "cannot merge")
                    return .done
                }
            }
            try bounce(request, reason: "conflicts with \(target)", short: "conflict", paths: conflicting)
            return .done
        case .clean(let tree):
            let message =
                "Merge \(request.branch) (\(request.id))\n\n\(request.bead.title)\n\n"
                + "Gt-Merge-Request: \(request.id)\n"
                + (request.workBead.map { "Gt-Bead: \($0)\n" } ?? "")
            let commit = try repository.writeCommit(
                tree: tree, parents: [tip, head], message: message, author: try Signature.committer(in: repository))
            return .ready(Candidate(request: request, head: head, commit: commit))
        }
    }

    /// Why a request without a molecule may not land, or nil when it may: only the
    /// overseer queues one, unless `gt.refinery.allowPlain` lets workers' requests in too.
    func plainRefusal(_ request: MergeRequest) throws -> String? {
        if settings.allowPlain { return nil }
        let by = request.string("queued_by") ?? request.bead.string("created_by") ?? ""
        let worker = request.polecat.map { "polecat/" + $0 } ?? (Self.isWorker(by) ? by : nil)
        guard let worker else { return nil }
        return "a request without a molecule lands only when the overseer queued it; \(worker) did "
            + "(gt.refinery.allowPlain lets workers' plain requests land)"
    }

    static func isWorker(_ actor: String) -> Bool { actor.hasPrefix("polecat/") || actor.hasPrefix("crew/") }

    enum MergeOutcome {
        case clean(OID)
        case conflict([String])
        /// git refused the merge itself (unrelated histories, …).
        case failed(String)
    }

    /// `git merge-tree --write-tree`: the merged tree, or the conflicting paths. No checkout.
    func mergeTree(_ ours: OID, _ theirs: OID) throws -> MergeOutcome {
        let outcome = try ChildProcess.run(
            [
                "git", "--git-dir=" + repository.commonDir, "merge-tree", "--write-tree", "--name-only",
                "--no-messages", ours.hex, theirs.hex,
            ], environment: ChildProcess.environment())
        let lines = outcome.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard outcome.status == 0 || outcome.status == 1, let first = lines.first, let tree = OID(hex: first) else {
            return .failed(outcome.text.firstLine)
        }
        if outcome.status == 0 { return .clean(tree) }
        var paths: [String] = []
        for line in lines.dropFirst() {
            if line.isEmpty { break }
            if !paths.contains(line) { paths.append(line) }
        }
        return .conflict(paths)
    }

    /// The refinery's merge commit that brought `head` in, looked for on the target's
    /// first-parent line; the target's tip when there is none (merged some other way).
    func mergeCommit(containing head: OID, from tip: OID) throws -> OID {
        var current: OID? = tip
        var steps = 0
        while let id = current, steps < 10_000 {
            let commit = try repository.commit(id)
            if commit.parents.count > 1, commit.parents[1] == head { return id }
            current = commit.parents.first
            steps += 1
        }
        return tip
    }

    func record(_ event: RefineryEvent) {
        events.append(event)
        let detail = event.paths.isEmpty ? "" : ": " + event.paths.joined(separator: ", ")
        let commit = event.commit.map { " as \($0.hex.prefix(12))" } ?? ""
        log("\(event.kind.rawValue) \(event.request)\(commit) — \(event.reason.firstLine)\(detail)\n")
    }
}
