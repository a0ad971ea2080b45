import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// The `commit-msg` hook's work, and the notes that record a worker's commits. It links only
/// GitKit and BeadKit, so `gasworks-hook` (the small executable the hook runs) starts fast.
public final class CommitCheck {
    public static let beadNotesRef = "refs/notes/gt/beads"
    /// Files in the checkout's own git dir (`<git dir>/gt/…`) the shell stubs read.
    static let trailersFile = "gt/trailers"
    public static let postCommitFile = "gt/post-commit"
    static let notedFile = "gt/noted"
    static let validatedFile = "gt/validated"

    public let beads: BeadStore
    /// Beads whose refs the checks of this commit read: the decision holds while they stay.
    /// Each as the value its ref had when the check read it (read before deciding, so a ref
    /// that moves during the check no longer matches and the next commit is checked again).
    var consulted: [(id: String, value: String)] = []
    /// Set when the decision rested on more than those refs (an id prefix, the whole index).
    var undecidable = false
    var repository: Repository { beads.repository }

    public init(beads: BeadStore) {
        self.beads = beads
    }

    /// True in a worker's checkout: `GT_POLECAT` or `GT_CREW` set, or `git rig worker` run.
    public var isWorkerCheckout: Bool {
        ["GT_POLECAT", "GT_CREW"].contains { !(ProcessEnvironment[$0] ?? "").isEmpty }
            || BeadStore.worker(of: repository) != nil
    }

    // MARK: commit-msg

    /// The trailers a worker's commit should carry now: the step it works on and the bead
    /// that step's molecule serves, or else the bead it holds.
    public func currentTrailers() throws -> [(key: String, value: String)] {
        let me = beads.actor
        let held = try beads.index().beads.values.filter {
            $0.status == BeadStatus.inProgress.rawValue && $0.assignee == me && !$0.deleted
        }
        let steps = held.filter { $0.type == "step" && !$0.json.contains("\"submitted\":{") }
            .sorted { ($0.updatedAt, $0.id) > ($1.updatedAt, $1.id) }
        if let step = steps.first {
            let molecule = step.id.lastIndex(of: ".").map { String(step.id[..<$0]) } ?? step.id
            let target = (try? beads.load(molecule))?.bead.fields["molecule"]?["on"]?.stringValue
            return [(Trailer.bead, target ?? molecule), (Trailer.step, step.id)]
        }
        if let bead = held.filter({ $0.type != "step" && $0.type != "molecule" }).max(by: {
            $0.updatedAt < $1.updatedAt
        }) {
            return [(Trailer.bead, bead.id)]
        }
        return []
    }

    /// Checks (and in a worker's checkout completes) the message in `file`. Throws a refusal
    /// that says what to do instead; writes nothing to the rig's state when it refuses.
    public func commitMessage(file: String) throws {
        // Hooks installed where no rig is (a shared core.hooksPath) leave commits alone.
        guard try RigConfig.isRig(repository) else { return }
        let original: String
        do {
            original = String(decoding: try LocalFile.read(file), as: UTF8.self)
        } catch {
            throw GasworksError(.repository, "cannot read the commit message \(file): \(error.reason)")
        }
        var message = original
        let worker = isWorkerCheckout
        if worker {
            let current = try currentTrailers()
            let cached = readState(Self.trailersFile).map(Self.parseLines) ?? []
            let named = Trailer.parse(message).filter { [Trailer.bead, Trailer.step].contains($0.key) }
            if named.isEmpty {
                message = Trailer.appending(current.map { "\($0.key): \($0.value)" }, to: message)
            } else if !cached.isEmpty,
                named.map({ "\($0.key): \($0.value)" }) == cached.map({ "\($0.key): \($0.value)" }),
                cached.map(\.value) != current.map(\.value)
            {
                // prepare-commit-msg added what the worker held earlier: use what it holds now.
                message = Self.removing(cached, from: message)
                message = Trailer.appending(current.map { "\($0.key): \($0.value)" }, to: message)
            }
            writeState(Self.trailersFile, current.map { "\($0.key): \($0.value)\n" }.joined())
        }
        let trailers = Trailer.parse(message)
        for (key, value) in trailers {
            switch key.lowercased() {
            case Trailer.step.lowercased(): try checkStep(value, finishing: false)
            case Trailer.stepDone.lowercased(): try checkStep(value, finishing: true)
            case Trailer.bead.lowercased(): try checkBead(value)
            default: continue
            }
        }
        if message != original {
            do {
                try LocalFile.write(message, to: file)
            } catch {
                throw GasworksError(.repository, "cannot write the commit message \(file): \(error.reason)")
            }
        }
        if worker { rememberValidation(trailers) }
        let named = trailers.contains { $0.key.hasPrefix("Gt-") }
        if trailers.contains(where: { $0.key.lowercased() == Trailer.stepDone.lowercased() }) || (named && !worker) {
            writeState(Self.postCommitFile, "")
        }
        // The worker's earlier commits are noted here, so post-commit need not start a process.
        if worker, let recorded = try? recordNotes() {
            // Steps to submit are left to post-commit (which submits, then marks them noted).
            if recorded.finished.isEmpty { markNoted(recorded.head) } else { writeState(Self.postCommitFile, "") }
        }
    }

    func checkStep(_ given: String, finishing: Bool) throws {
        let trailer = finishing ? Trailer.stepDone : Trailer.step
        let id: String
        do {
            id = try beads.resolve(given)
        } catch let error as GasworksError where error.kind == .notFound {
            throw GasworksError(
                .refused, "commit names unknown step '\(given)' (\(trailer)): use an id from git molecule show")
        }
        let stored = try beads.load(id)
        let bead = stored.bead
        consulted.append((id, stored.commit.hex))
        for need in bead.dependencies where need.type.isBlocking || need.type == .related {
            consulted.append((need.dependsOn, try refValue(need.dependsOn)))
        }
        if id != given { undecidable = true }  // a prefix: another bead could make it ambiguous
        guard bead.fields[BeadStore.stepField] != nil else {
            throw GasworksError(
                .refused,
                "commit names '\(id)' as a step (\(trailer)), but it is not a step of a molecule: use \(Trailer.bead):")
        }
        let me = beads.actor
        switch bead.status {
        case .closed:
            throw GasworksError(
                .refused, "step \(id) is already closed: commit for the step you work on now (git molecule next)")
        case .blocked:
            throw GasworksError(
                .refused, "step \(id) is blocked after failed checks: wait for the overseer (git mail inbox)")
        default:
            break
        }
        do {
            try beads.refuseLockedStep(id, verb: "commit for")
        } catch let error as GasworksError where error.kind == .refused {
            throw GasworksError(
                .refused,
                error.message + "; finish and submit that step (git molecule done <step>), then wait for its verdict")
        }
        guard bead.status == .inProgress, bead.assignee == me else {
            if let owner = bead.assignee, owner != me {
                throw GasworksError(.refused, "step \(id) is held by \(owner), not \(me): commit for your own step")
            }
            throw GasworksError(
                .refused, "you (\(me)) have not claimed step \(id): claim it first (git molecule next --claim)")
        }
        if bead.fields[BeadStore.stepField]?["submitted"] != nil {
            throw GasworksError(
                .refused,
                "step \(id) is with the witness: wait for its verdict (git mail wait) before committing to it again")
        }
    }

    func checkBead(_ given: String) throws {
        let id: String
        do {
            id = try beads.resolve(given)
        } catch let error as GasworksError where error.kind == .notFound {
            throw GasworksError(
                .refused, "commit names unknown bead '\(given)' (\(Trailer.bead)): check the id (git bead list)")
        }
        let stored = try beads.load(id)
        let bead = stored.bead
        consulted.append((id, stored.commit.hex))
        if id != given { undecidable = true }
        if bead.status == .closed || bead.isDeleted {
            throw GasworksError(.refused, "bead \(id) is closed: commit for open work (git bead ready)")
        }
        let me = beads.actor
        if bead.status == .inProgress, bead.assignee == me { return }
        // Holding a step of a molecule poured on the bead counts as holding the bead.
        let index = try beads.index()
        let holdsStep = index.beads.values.contains { summary in
            summary.type == "step" && summary.status == BeadStatus.inProgress.rawValue && summary.assignee == me
                && (summary.id.lastIndex(of: ".").map { String(summary.id[..<$0]) }).flatMap { molecule in
                    index.beads[molecule]?.json.contains("\"on\":\"\(id)\"")
                } == true
        }
        if holdsStep {
            undecidable = true  // decided from the whole index
            return
        }
        throw GasworksError(
            .refused,
            "you (\(me)) have not claimed bead \(id)\(bead.assignee.map { " (held by \($0))" } ?? ""): claim it first (git bead claim \(id))"
        )
    }

    /// Records what this commit's checks read, so the commit-msg stub can let the next commit
    /// naming the same trailers through without a process while none of those refs moved.
    func rememberValidation(_ trailers: [(key: String, value: String)]) {
        let gasworks = trailers.filter { $0.key.hasPrefix("Gt-") }
        let reusable =
            !gasworks.isEmpty && !undecidable
            && gasworks.allSatisfy { $0.key == Trailer.bead || $0.key == Trailer.step }
        guard reusable else {
            unlink(repository.gitDir + Self.validatedFile)
            return
        }
        let worker = BeadStore.worker(of: repository) ?? ""
        let key = ["GT_ACTOR", "GT_POLECAT", "GT_CREW"].map { ProcessEnvironment[$0] ?? "" }.joined(separator: "|")
        var lines = ["key=\(key)|\(worker)"]
        lines += gasworks.map { "trailer=\($0.key): \($0.value)" }
        var seen = Set<String>()
        for (id, value) in consulted where seen.insert(id).inserted {
            lines.append("ref=\(repository.commonDir)\(BeadStore.refName(id)) \(value)")
        }
        writeState(Self.validatedFile, lines.map { $0 + "\n" }.joined())
    }

    func refValue(_ id: String) throws -> String {
        try repository.referenceTarget(BeadStore.refName(id))?.hex ?? "missing"
    }

    static func parseLines(_ text: String) -> [(key: String, value: String)] {
        text.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " }))
        }
    }

    static func removing(_ trailers: [(key: String, value: String)], from message: String) -> String {
        let lines = Set(trailers.map { "\($0.key): \($0.value)" })
        return message.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !lines.contains(String($0)) }
            .joined(separator: "\n")
    }

    // MARK: recording commits

    /// What `recordNotes` found: the head it walked from and the steps that
    /// `Gt-Step-Done:` trailers name, with their commits, oldest first.
    public struct Recorded {
        public var head: OID?
        public var finished: [(step: String, commit: Commit)]
    }

    /// Notes every commit since the last one recorded (on HEAD, not on the target branch)
    /// with the bead and step it serves. The caller submits the finished steps and then
    /// calls `markNoted`, so a submission that fails is found again next time.
    @discardableResult
    public func recordNotes() throws -> Recorded {
        guard let head = try? repository.revparse("HEAD") else { return Recorded(head: nil, finished: []) }
        var hidden: [OID] = []
        if let noted = readState(Self.notedFile).flatMap({ OID(hex: $0.firstLine) }),
            (try? repository.objectExists(noted)) == true
        {
            if noted == head { return Recorded(head: head, finished: []) }
            hidden.append(noted)
        }
        let target = try RigConfig.target(repository)
        if let base = try repository.referenceTarget("refs/heads/" + target), base != head {
            hidden.append(base)
        }
        let commits = try repository.walk(from: [head], hiding: hidden, limit: 200).reversed()
        let existing = try repository.notesTree(Self.beadNotesRef)
        var edits: [NoteEdit] = []
        var finished: [(step: String, commit: Commit)] = []
        for id in commits {
            let commit = try repository.commit(id)
            let trailers = Trailer.parse(commit.message)
            let bead = trailers.first { $0.key.lowercased() == Trailer.bead.lowercased() }?.value
            let steps = trailers.filter {
                [Trailer.step.lowercased(), Trailer.stepDone.lowercased()].contains($0.key.lowercased())
            }.map(\.value)
            guard bead != nil || !steps.isEmpty else { continue }
            var record: [String: JSONValue] = ["by": .string(beads.actor)]
            if let bead { record["bead"] = .string(bead) }
            if let step = steps.first { record["step"] = .string(step) }
            if trailers.contains(where: { $0.key.lowercased() == Trailer.stepDone.lowercased() }) {
                record["done"] = .bool(true)
            }
            let line = JSONValue.object(record).compactText()
            let present = try existing.flatMap { try repository.note(on: id, notesTree: $0) } ?? ""
            if !present.split(separator: "\n").contains(Substring(line)) { edits.append(.appendLine(id, line)) }
            for done in Trailer.values(Trailer.stepDone, in: commit.message) { finished.append((done, commit)) }
        }
        if !edits.isEmpty {
            try repository.editNotes(notesRef: Self.beadNotesRef, edits, message: "gasworks: record commits")
        }
        return Recorded(head: head, finished: finished)
    }

    /// Everything up to `head` is recorded (and submitted).
    public func markNoted(_ head: OID?) {
        if let head { writeState(Self.notedFile, head.hex + "\n") }
    }

    /// After steps were submitted: the cached trailers no longer name a held step.
    public func forgetTrailers() { writeState(Self.trailersFile, "") }

    // MARK: checkout state

    public func readState(_ name: String) -> String? {
        (try? LocalFile.read(repository.gitDir + name)).map { String(decoding: $0, as: UTF8.self) }
    }

    public func writeState(_ name: String, _ text: String) {
        LocalFile.makeDirectories(repository.gitDir + "gt")
        try? LocalFile.write(text, to: repository.gitDir + name)
    }
}
