import GitKit

/// A bead as stored: its state and the commit at the tip of its ref.
public struct StoredBead: Sendable {
    public var bead: Bead
    public var commit: OID
}

/// Beads in a rig: one ref `refs/gt/beads/<id>` each, pointing at a chain of commits whose
/// tree holds `bead.json` (canonical JSON). Every change is one commit published by
/// compare-and-swap; concurrent writers re-read and re-apply their change on conflict.
public final class BeadStore {
    public static let refPrefix = "refs/gt/beads/"
    public static let fileName = "bead.json"

    public let repository: Repository
    /// Who the changes are recorded as (`Gt-Actor:` and `created_by`/`author` fields).
    public let actor: String
    /// The time stamped on changes made by this process (RFC 3339, UTC).
    public let now: String
    private let signature: Signature
    /// Dropped by every write of this store, so a later read sees the write.
    private var cachedIndex: BeadIndex?
    /// Steps of molecules open and close only through the molecule and witness code, which
    /// sets this; `git bead close` on a step is refused.
    public var stepAuthority = false

    /// Set by the broker for a worker's command: every bead state this process writes (its
    /// state before, if any, and after; whether the molecule code closes steps) must pass.
    nonisolated(unsafe) public static var writeGuard:
        ((_ old: Bead?, _ new: Bead, _ stepAuthority: Bool) throws -> Void)?

    /// The field that marks a bead as a step of a molecule.
    public static let stepField = "step"

    public init(repository: Repository, actor: String? = nil) throws {
        self.repository = repository
        signature = try Signature.committer(in: repository)
        self.actor = try actor ?? Self.defaultActor(repository, fallback: signature.name)
        now = ISO8601.format(signature.time)
    }

    /// `GT_ACTOR` (which in a worker's context must name that worker), then the worker
    /// (`Principal.worker`: the broker's, the polecat or crew name from the environment, the
    /// worker this checkout belongs to), then `gt.actor`, then git's `user.name`.
    static func defaultActor(_ repository: Repository, fallback: String) throws -> String {
        let worker = Principal.worker(in: repository)
        if let actor = ProcessEnvironment["GT_ACTOR"], !actor.isEmpty, Principal.brokered == nil {
            return try Principal.checkedActor(actor, from: "GT_ACTOR", worker: worker)
        }
        if let worker { return worker }
        if let actor = try repository.config("gt.actor"), !actor.isEmpty { return actor }
        return try repository.config("user.name") ?? fallback
    }

    /// The file in a checkout's own git dir that names the worker it belongs to: the hook
    /// stubs test for it without starting a process.
    public static let workerFile = "gt/worker"

    /// The worker (`polecat/<name>`, `crew/<name>`) whose checkout `repository` is, if any.
    public static func worker(of repository: Repository) -> String? {
        guard let bytes = try? LocalFile.read(repository.gitDir + workerFile) else { return nil }
        let name = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        return name.isEmpty ? nil : name
    }

    /// The rig's id prefix: `gt.prefix`, else one derived from the directory name as Beads does.
    public func prefix() throws -> String {
        if let configured = try repository.config("gt.prefix"), !configured.isEmpty { return configured }
        let directory = (repository.workdir ?? repository.commonDir).split(separator: "/").last.map(String.init) ?? ""
        let derived = String(directory.lowercased().filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(8))
        return derived.isEmpty ? "gw" : derived
    }

    public static func refName(_ id: String) -> String { refPrefix + id }

    // MARK: reading

    /// Reads one bead by exact id.
    public func load(_ id: String) throws -> StoredBead {
        guard let tip = try repository.referenceTarget(Self.refName(id)) else {
            throw GasworksError(.notFound, "no bead '\(id)'")
        }
        return StoredBead(bead: try bead(at: tip, id: id), commit: tip)
    }

    /// The bead state stored in commit `commit` (of bead `id`, for messages).
    public func bead(at commit: OID, id: String) throws -> Bead {
        do {
            let tree = try repository.commit(commit).tree
            guard let entry = try repository.treeEntry(tree, path: Self.fileName) else {
                throw GasworksError(
                    .badData, "corrupt bead '\(id)': commit \(commit.hex.prefix(12)) has no \(Self.fileName)")
            }
            // The ref name is the bead's identity, even for a ref copied with plain git.
            var bead = try Self.decode(try repository.readBlobText(entry.id), id: id)
            bead.id = id
            return bead
        } catch let error as GitError {
            throw GasworksError(.badData, "corrupt bead '\(id)': \(error.message)")
        }
    }

    static func decode(_ text: String, id: String) throws -> Bead {
        guard let object = (try? JSONValue.parse(text))?.objectValue, object["id"]?.stringValue != nil else {
            throw GasworksError(.badData, "corrupt bead '\(id)': \(fileName) is not a bead JSON object")
        }
        return Bead(fields: object)
    }

    /// Every bead's summary, from the index cache validated against the ref tips.
    public func index() throws -> BeadIndex {
        if let cachedIndex { return cachedIndex }
        let index = try BeadIndex.load(store: self)
        cachedIndex = index
        return index
    }

    /// Accepts an exact id, or any prefix of exactly one id (with or without `<prefix>-`).
    public func resolve(_ given: String) throws -> String {
        guard BeadID.isValid(given) else { throw GasworksError(.usage, "invalid bead id '\(given)'") }
        if try repository.referenceTarget(Self.refName(given)) != nil { return given }
        var candidates = try repository.references(withPrefix: Self.refName(given)).map {
            String($0.name.dropFirst(Self.refPrefix.count))
        }
        if candidates.isEmpty, !given.contains("-") {
            candidates = try repository.references(withPrefix: Self.refName(try prefix() + "-" + given)).map {
                String($0.name.dropFirst(Self.refPrefix.count))
            }
        }
        // A prefix naming a bead and its children names the bead.
        let roots = candidates.filter { candidate in !candidates.contains { candidate.hasPrefix($0 + ".") } }
        switch roots.count {
        case 0: throw GasworksError(.notFound, "no bead matches '\(given)'")
        case 1: return roots[0]
        default:
            let shown = roots.prefix(5).joined(separator: ", ") + (roots.count > 5 ? ", …" : "")
            throw GasworksError(.ambiguous, "'\(given)' is ambiguous: \(shown)")
        }
    }

    // MARK: writing

    /// Publishes a new bead. Its id is chosen here (hash, or next child number under
    /// `parent`) and retried on collision; `draft` supplies every other field.
    public func create(_ draft: Bead, parent: String? = nil) throws -> StoredBead {
        var nonce = 0
        while true {
            var bead = draft
            bead.id = try newID(for: draft, parent: parent, nonce: nonce)
            stampCreation(&bead, parent: parent)
            let commit = try commitState(
                bead, parents: [], message: Self.message(op: "create", bead: bead, lines: [], actor: actor))
            do {
                try repository.withRetry(touching: [Self.refName(bead.id)], onlyLocks: true) {
                    try repository.setReference(
                        Self.refName(bead.id), to: commit, expecting: nil, message: "bead: create")
                }
                cachedIndex = nil
                return StoredBead(bead: bead, commit: commit)
            } catch let error as GitError where error.code == .exists {
                nonce += 1  // Someone else took this id: the next candidate.
            }
        }
    }

    /// Creates many beads as one pack and one rename of `packed-refs`: after a crash either
    /// every bead of the batch exists or none does.
    public func createMany(_ drafts: [(bead: Bead, parent: String?)]) throws -> [StoredBead] {
        guard !drafts.isEmpty else { return [] }
        var nonce = 0
        while true {
            var taken = Set<String>()
            var beads: [Bead] = []
            for draft in drafts {
                var bead = draft.bead
                var attempt = nonce
                repeat {
                    bead.id = try newID(for: draft.bead, parent: draft.parent, nonce: attempt, reserved: taken)
                    attempt += 1
                } while taken.contains(bead.id)
                taken.insert(bead.id)
                stampCreation(&bead, parent: draft.parent)
                beads.append(bead)
            }
            if let created = try publishNew(beads) { return created }
            nonce += drafts.count
        }
    }

    /// Creates a bead and its children in one pack and one rename of `packed-refs` (all or
    /// nothing): the root gets a new id, and `children` builds the child beads (ids
    /// included) from it. A taken root id moves to the next candidate.
    public func createFamily(root draft: Bead, children: (String) throws -> [Bead]) throws -> [StoredBead] {
        var nonce = 0
        let count = (try? BeadIndex.storedCount(store: self)) ?? 0
        while true {
            var root = draft
            root.id = BeadID.make(
                prefix: try prefix(), seed: "\(draft.title)\n\(draft.description ?? "")\n\(actor)\n\(now)",
                nonce: nonce,
                length: BeadID.hashLength(forCount: count))
            stampCreation(&root, parent: nil)
            var beads = [root]
            for var child in try children(root.id) {
                stampCreation(&child, parent: nil)
                beads.append(child)
            }
            if let created = try publishNew(beads) { return created }
            nonce += 1
        }
    }

    /// Writes new beads as one pack and publishes them with one rename of `packed-refs`;
    /// nil when one of the ids is taken (nothing is published then).
    private func publishNew(_ beads: [Bead]) throws -> [StoredBead]? {
        let commits = try repository.withObjectBatch { batch in
            try beads.map { bead in
                try commitState(
                    bead, parents: [], message: Self.message(op: "create", bead: bead, lines: [], actor: actor),
                    in: batch)
            }
        }
        let references = zip(beads, commits).map { Reference(name: Self.refName($0.id), target: $1) }
        do {
            try repository.withRetry(touching: references.map(\.name), onlyLocks: true) {
                try repository.createReferencesPacked(references)
            }
        } catch let error as GitError where error.code == .exists {
            return nil
        }
        cachedIndex = nil
        return zip(beads, commits).map { StoredBead(bead: $0, commit: $1) }
    }

    /// Applies `change` to the bead's current state and publishes it as one commit.
    /// On conflict the bead is re-read and `change` runs again on the new state; a change
    /// that leaves the bead as it was writes nothing. `change` throws to refuse.
    /// A deleted bead is refused unless `allowDeleted`.
    @discardableResult
    public func update(_ id: String, op: String, allowDeleted: Bool = false, _ change: (inout Bead) throws -> Void)
        throws -> StoredBead
    {
        let ref = Self.refName(id)
        return try repository.updateReference(ref, message: "bead: \(op)") { tip -> (ReferenceChange, StoredBead) in
            guard let tip else { throw GasworksError(.notFound, "no bead '\(id)'") }
            let old = try bead(at: tip, id: id)
            if old.isDeleted, !allowDeleted { throw GasworksError(.refused, "cannot \(op) '\(id)': it is deleted") }
            var new = old
            try change(&new)
            if new == old { return (.keep, StoredBead(bead: old, commit: tip)) }
            if old.fields[Self.stepField] != nil, !stepAuthority, (old.status == .closed) != (new.status == .closed) {
                throw GasworksError(
                    .refused,
                    old.status == .closed
                        ? "cannot reopen step '\(id)': a verified step stays closed (the overseer can pour again)"
                        : "cannot close step '\(id)': a step is done only through the witness (run `git molecule done \(id)`)"
                )
            }
            new.fields["updated_at"] = .string(now)
            let lines = Self.describeChange(from: old, to: new)
            let commit = try commitState(
                new, parents: [tip], message: Self.message(op: op, bead: new, lines: lines, actor: actor))
            cachedIndex = nil
            return (.set(commit), StoredBead(bead: new, commit: commit))
        }
    }

    /// Applies `change` to several beads in one all-or-nothing transaction (re-read and
    /// re-applied on conflict). Beads left unchanged are not written.
    public func updateMany(_ ids: [String], op: String, _ change: (inout Bead) throws -> Void) throws {
        let names = ids.map(Self.refName)
        try repository.withRetry(touching: names) {
            var updates: [ReferenceUpdate] = []
            for id in ids {
                guard let tip = try repository.referenceTarget(Self.refName(id)) else {
                    throw GasworksError(.notFound, "no bead '\(id)'")
                }
                let old = try bead(at: tip, id: id)
                var new = old
                try change(&new)
                if new == old { continue }
                if old.fields[Self.stepField] != nil, !stepAuthority, (old.status == .closed) != (new.status == .closed)
                {
                    throw GasworksError(.refused, "cannot \(op) step '\(id)': steps close only through the witness")
                }
                new.fields["updated_at"] = .string(now)
                let commit = try commitState(
                    new, parents: [tip],
                    message: Self.message(
                        op: op, bead: new, lines: Self.describeChange(from: old, to: new), actor: actor))
                updates.append(ReferenceUpdate(name: Self.refName(id), expected: tip, target: commit))
            }
            try repository.updateReferences(updates, message: "bead: \(op)")
            cachedIndex = nil
        }
    }

    /// Writes a bead state whose parent is the given tip; used by import (upsert) too.
    func commitState(_ bead: Bead, parents: [OID], message: String, in target: Repository? = nil) throws -> OID {
        if let guardWrite = Self.writeGuard {
            let old = try parents.first.map { try self.bead(at: $0, id: bead.id) }
            try guardWrite(old, bead, stepAuthority)
        }
        let repository = target ?? self.repository
        let blob = try repository.writeBlob(bead.json.canonicalText)
        let tree = try repository.writeTree([TreeEntry(name: Self.fileName, id: blob, kind: .blob)])
        return try repository.writeCommit(tree: tree, parents: parents, message: message, author: signature)
    }

    private func stampCreation(_ bead: inout Bead, parent: String?) {
        if bead.string("status") == nil { bead.status = .open }
        if bead.fields["priority"] == nil { bead.priority = 2 }
        if bead.string("issue_type") == nil { bead.issueType = "task" }
        if bead.string("created_at") == nil { bead.fields["created_at"] = .string(now) }
        if bead.string("created_by") == nil { bead.fields["created_by"] = .string(actor) }
        if bead.string("updated_at") == nil { bead.fields["updated_at"] = .string(now) }
        if let parent, bead.parent == nil {
            bead.dependencies.append(
                Dependency(issue: bead.id, dependsOn: parent, type: .parentChild, createdAt: now, createdBy: actor))
        }
        bead.dependencies = bead.dependencies.map {
            var d = $0
            d.issue = bead.id
            return d
        }
    }

    private func newID(for draft: Bead, parent: String?, nonce: Int, reserved: Set<String> = []) throws -> String {
        if let parent {
            let children = try repository.references(withPrefix: Self.refName(parent + ".")).compactMap {
                Int($0.name.dropFirst(Self.refName(parent + ".").count))
            }
            var next = (children.max() ?? 0) + 1 + nonce
            while reserved.contains("\(parent).\(next)") { next += 1 }
            return "\(parent).\(next)"
        }
        let count = (try? BeadIndex.storedCount(store: self)) ?? 0
        let seed = "\(draft.title)\n\(draft.description ?? "")\n\(actor)\n\(now)"
        return BeadID.make(
            prefix: try prefix(), seed: seed, nonce: nonce, length: BeadID.hashLength(forCount: count + reserved.count))
    }

    /// Loose refs cost ~12 µs each to list; past a few hundred loose bead refs they are
    /// packed (what `git pack-refs` does) so listing 10,000 beads stays fast.
    public func compactRefsIfNeeded(threshold: Int = 256) throws {
        if LooseRefs.count(in: repository.commonDir + Self.refPrefix) > threshold {
            try repository.packReferences()
        }
    }

    // MARK: commit messages

    static func message(op: String, bead: Bead, lines: [String], actor: String) -> String {
        var subject = "\(op) \(bead.id)"
        if op == "create" {
            subject += ": " + oneLine(bead.title, limit: 60)
        } else if !lines.isEmpty {
            subject += ": " + lines.map { String($0.prefix { $0 != ":" }) }.joined(separator: ", ")
        }
        var body = lines.isEmpty ? "" : "\n" + lines.joined(separator: "\n") + "\n"
        if op == "create" {
            body =
                "\n"
                + bead.fields.keys.sorted().filter { $0 != "id" }.map {
                    "\($0): \(oneLine(bead.fields[$0]!.compactText(), limit: 72))"
                }.joined(separator: "\n") + "\n"
        }
        return subject + "\n" + body + "\nGt-Op: \(op)\nGt-Actor: \(actor)\nGt-Bead: \(bead.id)\n"
    }

    /// One line per changed field: `status: "open" → "in_progress"`.
    static func describeChange(from old: Bead, to new: Bead) -> [String] {
        Set(old.fields.keys).union(new.fields.keys).sorted().compactMap { key in
            let before = old.fields[key]
            let after = new.fields[key]
            guard before != after, key != "updated_at" else { return nil }
            func show(_ value: JSONValue?) -> String { value.map { oneLine($0.compactText(), limit: 60) } ?? "(none)" }
            return "\(key): \(show(before)) → \(show(after))"
        }
    }

    /// `text` on one line, cut to `limit` characters with an ellipsis.
    public static func oneLine(_ text: String, limit: Int) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return flat.count > limit ? String(flat.prefix(limit - 1)) + "…" : flat
    }
}
