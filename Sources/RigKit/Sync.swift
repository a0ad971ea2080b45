import BeadKit
import GitKit
import MailKit

/// `git rig sync`: brings a remote's `refs/gt/*` and `refs/notes/gt/*` in beside the local
/// ones, merges every chain that diverged, and pushes the result back without force.
///
/// Merges are deterministic: a merge commit's parents are the two tips in object-id order,
/// its signature is fixed (`gasworks sync`, dated at the later tip), and its content is a
/// function of the two tips and their merge base only. Two clones that merge the same pair
/// therefore write the same commit, and any order of syncs converges.
public struct Sync {
    public let repository: Repository
    public let remote: String
    /// Push after merging (off: fetch and merge only).
    public var push = true
    /// How many fetch–merge–push rounds to try while the remote keeps moving.
    public var attempts = 5
    /// Why the last push was turned down, when it was.
    var lastRejection: String?

    /// Refs that describe one host and never travel: the refinery's lease names a local
    /// process; polecat and crew records name local processes, worktrees and tmux sessions
    /// (a deacon elsewhere would find them dead and retire them); the deacon's patrol memory
    /// is about those workers. Beads, mail and notes travel.
    public static let hostLocal = [
        "refs/gt/refinery/lease", "refs/gt/polecats/", "refs/gt/crew/", "refs/gt/deacon/", "refs/gt/polecat-slots",
    ]

    /// The same as negative refspecs, for `git push` (git 2.29 and later).
    public static let hostLocalRefspecs = hostLocal.map { "^" + $0 + ($0.hasSuffix("/") ? "*" : "") }

    public static func isHostLocal(_ name: String) -> Bool {
        hostLocal.contains { $0.hasSuffix("/") ? name.hasPrefix($0) : name == $0 }
    }
    public static let signatureName = "gasworks sync"
    static let signatureEmail = "sync@gasworks"

    public init(repository: Repository, remote: String) throws {
        guard try repository.config("remote.\(remote).url") != nil else {
            throw GasworksError(.notFound, "no remote '\(remote)' (git remote add \(remote) <url>)")
        }
        self.repository = repository
        self.remote = remote
    }

    /// `gt.remote`, else `origin`, else the only remote there is.
    public static func defaultRemote(_ repository: Repository) throws -> String {
        if let configured = try repository.config("gt.remote") { return configured }
        let remotes = try repository.remoteNames()
        if remotes.contains("origin") { return "origin" }
        if remotes.count == 1 { return remotes[0] }
        throw GasworksError(
            .usage,
            remotes.isEmpty
                ? "no remote to sync with (git remote add <name> <url>)"
                : "several remotes (\(remotes.joined(separator: ", "))): name one, or set gt.remote")
    }

    public struct Outcome: Sendable {
        public var remote: String
        public var created: [String] = []
        public var fastForwarded: [String] = []
        public var merged: [String] = []
        public var conflicts: [ClaimConflict] = []
        /// Beads created separately under one id on both sides (no common history): the
        /// local one is kept and neither is pushed over the other.
        public var collisions: [String] = []
        /// Refs the push sent (none when the remote already had everything).
        public var pushed: [String] = []
        public var rounds = 0
    }

    var trackingPrefix: String { "refs/gt-sync/\(remote)/" }

    public mutating func run() throws -> Outcome {
        var outcome = Outcome(remote: remote)
        for round in 1...max(1, attempts) {
            outcome.rounds = round
            if round > 1 {
                // Clones that lost a race to the same hub should not meet again at once.
                MonotonicClock.sleep(Double.random(in: 0.05...0.25) * Double(round))
            }
            try fetch()
            try integrate(into: &outcome)
            guard push else { return outcome }
            if let pushed = try pushState(excluding: outcome.collisions) {
                outcome.pushed = pushed
                return outcome
            }
        }
        if let lastRejection, !lastRejection.contains("fetch first"), !lastRejection.contains("non-fast-forward") {
            throw GasworksError(.repository, "cannot push to \(remote): \(lastRejection) (\(attempts) rounds)")
        }
        throw GasworksError(
            .refused, "\(remote) kept moving: no push went through in \(attempts) rounds; run git rig sync again")
    }

    // MARK: fetch and push

    func git(_ arguments: [String]) throws -> ChildOutcome {
        try ChildProcess.run(
            ["git", "--git-dir=" + repository.commonDir] + arguments, environment: ChildProcess.environment())
    }

    func fetch() throws {
        let outcome = try git(
            [
                "fetch", "--prune", "--no-tags", "--quiet", "--no-write-fetch-head", "--no-recurse-submodules", remote,
                "+refs/gt/*:\(trackingPrefix)gt/*", "+refs/notes/gt/*:\(trackingPrefix)notes/gt/*",
            ])
        guard outcome.status == 0 else {
            throw GasworksError(.repository, "cannot fetch from \(remote): \(Self.gitError(outcome.text))")
        }
    }

    /// Pushes every state ref that differs from what was fetched (all of them in one
    /// `git push`, host-local ones and `excluded` left out by negative refspecs). Nil when
    /// the remote moved meanwhile (a rejected update): the caller fetches and merges again.
    mutating func pushState(excluding excluded: [String]) throws -> [String]? {
        var changed: [String] = []
        for reference in try localState() where !excluded.contains(reference.name) {
            if try repository.referenceTarget(trackingName(of: reference.name)) != reference.target {
                changed.append(reference.name)
            }
        }
        guard !changed.isEmpty else { return [] }
        let specs =
            ["refs/gt/*:refs/gt/*", "refs/notes/gt/*:refs/notes/gt/*"] + Self.hostLocalRefspecs
            + excluded.map { "^" + $0 }
        let outcome = try git(["push", "--porcelain", remote] + specs)
        if outcome.status == 0 { return changed }
        let rejected = outcome.text.split(separator: "\n").filter { $0.hasPrefix("!") }.map(String.init)
        if !rejected.isEmpty, rejected.allSatisfy(Self.remoteMoved) {
            lastRejection = rejected.first.map { $0.split(separator: "\t").dropFirst().joined(separator: " ") }
            return nil
        }
        let reason =
            rejected.first { !Self.remoteMoved($0) }.map {
                $0.split(separator: "\t").dropFirst().joined(separator: " ")
            } ?? Self.gitError(outcome.text)
        throw GasworksError(.repository, "cannot push to \(remote): \(reason)")
    }

    /// A rejected ref another pusher moved first, or holds locked at this moment: worth
    /// another round. Anything else (a hook declined, a name clash, a full disk) is not.
    /// ("failed to update ref" is how receive-pack reports losing a race for a ref between
    /// its check and its lock; should it be a lasting failure, the last round says so.)
    static func remoteMoved(_ line: String) -> Bool {
        [
            "fetch first", "non-fast-forward", "stale info", "incorrect old value", "failed to update ref",
            "failed to lock",
        ]
        .contains { line.contains($0) }
            || (line.contains("cannot lock ref") && (line.contains("but expected") || line.contains("File exists")))
    }

    /// The state refs that travel: `refs/gt/*` and `refs/notes/gt/*` without host-local ones.
    func localState() throws -> [Reference] {
        try (repository.references(withPrefix: "refs/gt/") + repository.references(withPrefix: "refs/notes/gt/"))
            .filter { !Self.isHostLocal($0.name) }
    }

    func trackingName(of local: String) -> String { trackingPrefix + local.dropFirst("refs/".count) }

    func localName(of tracking: String) -> String { "refs/" + tracking.dropFirst(trackingPrefix.count) }

    static func gitError(_ text: String) -> String {
        let lines = text.split(separator: "\n").map(String.init)
        return (lines.first { $0.hasPrefix("fatal: ") || $0.hasPrefix("error: ") } ?? lines.last ?? "git failed")
            .replacingPrefix("fatal: ").replacingPrefix("error: ")
    }

    // MARK: merging

    enum Change {
        case created, fastForwarded, collision
        case merged(ClaimConflict?)
    }

    func integrate(into outcome: inout Outcome) throws {
        let tracked =
            try repository.references(withPrefix: trackingPrefix + "gt/")
            + repository.references(withPrefix: trackingPrefix + "notes/gt/")
        for reference in tracked {
            let name = localName(of: reference.name)
            guard !Self.isHostLocal(name) else { continue }
            let change = try repository.updateReference(name, message: "sync: from \(remote)") {
                current -> (ReferenceChange, Change?) in
                guard let current else { return (.set(reference.target), .created) }
                if try repository.isAncestor(reference.target, of: current) { return (.keep, nil) }
                if try repository.isAncestor(current, of: reference.target) {
                    return (.set(reference.target), .fastForwarded)
                }
                if name.hasPrefix(BeadStore.refPrefix), try repository.mergeBase(current, reference.target) == nil {
                    return (.keep, .collision)
                }
                let (commit, conflict) = try mergeCommit(name, current, reference.target)
                return (.set(commit), .merged(conflict))
            }
            switch change {
            case .created: outcome.created.appendOnce(name)
            case .fastForwarded: outcome.fastForwarded.appendOnce(name)
            case .collision: outcome.collisions.appendOnce(name)
            case .merged(let conflict):
                outcome.merged.appendOnce(name)
                if let conflict {
                    // Told at once, before the next ref: the merge is already published.
                    try tell(conflict)
                    outcome.conflicts.append(conflict)
                }
            case nil: break
            }
        }
    }

    /// The merge commit of two diverged tips of `name`, the same whichever clone writes it.
    func mergeCommit(_ name: String, _ a: OID, _ b: OID) throws -> (OID, ClaimConflict?) {
        let (x, y) = a < b ? (a, b) : (b, a)
        let base = try repository.mergeBase(x, y)
        let (cx, cy) = (try repository.commit(x), try repository.commit(y))
        let time = max(cx.committer.time, cy.committer.time)
        // The later side settles values both changed; equal times, the greater id.
        let preferX = (cx.committer.time, x) > (cy.committer.time, y)
        var conflict: ClaimConflict?
        let tree: OID
        var subject = "sync \(name.dropFirst("refs/".count)): merge \(x.hex.prefix(12)) and \(y.hex.prefix(12))"
        var trailers = ["Gt-Op: sync", "Gt-Actor: \(Self.signatureName)"]
        if name.hasPrefix("refs/notes/") {
            tree = try repository.mergedNotesTree(base: base, ours: x, theirs: y)
        } else if name.hasPrefix(Mailbox.refPrefix) {
            // One message per commit: the merge carries none (readers skip merges).
            tree = try repository.writeTree([])
        } else if name.hasPrefix(BeadStore.refPrefix) {
            let id = String(name.dropFirst(BeadStore.refPrefix.count))
            (tree, conflict) = try mergeBead(id, base: base, x: cx, y: cy, preferX: preferX, time: time)
            subject = "sync \(id): merge \(x.hex.prefix(12)) and \(y.hex.prefix(12))"
            trailers.append("Gt-Bead: \(id)")
        } else {
            tree = try mergeTrees(name, base: base, x: cx, y: cy, preferX: preferX)
        }
        var body = ""
        if let conflict {
            body =
                "\n\nclaim conflict: \(conflict.winner) keeps it (claimed \(ISO8601.format(conflict.winnerClaimed))), "
                + "\(conflict.loser) loses it (claimed \(ISO8601.format(conflict.loserClaimed)))"
        }
        let signature = Signature(name: Self.signatureName, email: Self.signatureEmail, time: time)
        let commit = try repository.writeCommit(
            tree: tree, parents: [x, y], message: subject + body + "\n\n" + trailers.joined(separator: "\n") + "\n",
            author: signature)
        return (commit, conflict)
    }

    func mergeBead(_ id: String, base: OID?, x: Commit, y: Commit, preferX: Bool, time: Int64) throws
        -> (OID, ClaimConflict?)
    {
        let baseJSON = try base.flatMap { try beadJSON(id, tree: try repository.commit($0).tree) }
        guard let xJSON = try beadJSON(id, tree: x.tree), let yJSON = try beadJSON(id, tree: y.tree) else {
            throw GasworksError(.badData, "corrupt bead '\(id)': a side of the merge has no \(BeadStore.fileName)")
        }
        let xSide = BeadMerge.Side(bead: xJSON, claimedAt: try claimedAt(id, tip: x, base: base))
        let ySide = BeadMerge.Side(bead: yJSON, claimedAt: try claimedAt(id, tip: y, base: base))
        let (merged, conflict) = BeadMerge.merge(
            base: baseJSON, ours: xSide, theirs: ySide, preferOurs: preferX, time: time)
        let blob = try repository.writeBlob(merged.canonicalText)
        return (try repository.writeTree([TreeEntry(name: BeadStore.fileName, id: blob, kind: .blob)]), conflict)
    }

    func beadJSON(_ id: String, tree: OID) throws -> JSONValue? {
        guard let entry = try repository.treeEntry(tree, path: BeadStore.fileName) else { return nil }
        guard let json = try? JSONValue.parse(try repository.readBlobText(entry.id)), json.objectValue != nil else {
            throw GasworksError(.badData, "corrupt bead '\(id)': \(BeadStore.fileName) is not a JSON object")
        }
        return json
    }

    /// When the side's assignee took the bead: the earliest commit since the merge base,
    /// other than a sync merge, whose state names that assignee.
    func claimedAt(_ id: String, tip: Commit, base: OID?) throws -> Int64? {
        guard let assignee = try beadJSON(id, tree: tip.tree)?["assignee"]?.stringValue else { return nil }
        var earliest: Int64?
        for commitID in try repository.walk(from: [tip.id], hiding: base.map { [$0] } ?? []) {
            let commit = try repository.commit(commitID)
            guard commit.parents.count < 2,
                try beadJSON(id, tree: commit.tree)?["assignee"]?.stringValue == assignee
            else { continue }
            earliest = min(earliest ?? .max, commit.committer.time)
        }
        return earliest
    }

    /// Any other chain: entry by entry; a JSON file both sides changed is merged as state,
    /// anything else both changed is the preferred side's.
    func mergeTrees(_ name: String, base: OID?, x: Commit, y: Commit, preferX: Bool) throws -> OID {
        func entries(_ tree: OID?) throws -> [String: TreeEntry] {
            guard let tree else { return [:] }
            return Dictionary(try repository.treeEntries(tree).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        }
        let baseEntries = try entries(try base.map { try repository.commit($0).tree })
        let (xEntries, yEntries) = (try entries(x.tree), try entries(y.tree))
        var out: [TreeEntry] = []
        for file in Set(xEntries.keys).union(yEntries.keys).sorted() {
            let (b, o, t) = (baseEntries[file], xEntries[file], yEntries[file])
            if o == t || t == b {
                if let o { out.append(o) }
                continue
            }
            if o == b {
                if let t { out.append(t) }
                continue
            }
            guard let o, let t else {
                out.append((o ?? t)!)
                continue
            }
            if file.hasSuffix(".json"), o.kind == .blob, t.kind == .blob,
                let oJSON = try? JSONValue.parse(try repository.readBlobText(o.id)),
                let tJSON = try? JSONValue.parse(try repository.readBlobText(t.id))
            {
                let bJSON = b.flatMap { try? JSONValue.parse(try repository.readBlobText($0.id)) }
                let merged = StateMerge.merge(base: bJSON, ours: oJSON, theirs: tJSON, preferOurs: preferX)
                out.append(TreeEntry(name: file, id: try repository.writeBlob(merged.canonicalText), kind: .blob))
            } else {
                out.append(preferX ? o : t)
            }
        }
        return try repository.writeTree(out)
    }

    /// Mails the losing claimant (when it has a mailbox address), copying the overseer.
    func tell(_ conflict: ClaimConflict) throws {
        let overseer = try Address("overseer")
        let loser = try? Address(conflict.loser)
        let body =
            "\(conflict.bead) (\(conflict.title)) was claimed on two clones while they were apart.\n"
            + "\(conflict.winner) claimed it at \(ISO8601.format(conflict.winnerClaimed)) and keeps it;\n"
            + "\(conflict.loser)'s claim (\(ISO8601.format(conflict.loserClaimed))) was dropped by git rig sync.\n"
            + "Stop work on it, and take other work: git bead ready --claim\n"
        let mailbox = try Mailbox(repository: repository)
        let subject = "Claim lost: \(conflict.bead) \(conflict.title)"
        // Another sync of this clone (or a clone that made the same merge) told it already.
        let told = try mailbox.deliveries(of: loser ?? overseer, limit: 200).contains {
            $0.message.subject == subject && $0.message.body == body
        }
        if told { return }
        _ = try mailbox.send(
            MessageDraft(
                from: Self.signatureName, subject: subject, body: body,
                type: "notification", priority: "high"),
            to: [loser ?? overseer], cc: loser == nil ? [] : [overseer])
    }
}

extension String {
    fileprivate func replacingPrefix(_ prefix: String) -> String {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}

extension Array where Element == String {
    fileprivate mutating func appendOnce(_ name: String) { if !contains(name) { append(name) } }
}
