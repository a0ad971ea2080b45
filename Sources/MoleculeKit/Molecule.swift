import BeadKit
import GitKit
import MailKit

/// Where a step stands, derived from its bead.
public enum StepState: String, Sendable {
    /// Its needs are not all done.
    case locked
    /// Unlocked and unclaimed: work can start.
    case ready
    /// Claimed by a worker.
    case working
    /// Submitted to the witness (or, without checks, waiting for approval).
    case submitted
    /// Held: the witness failed it too often, or someone set it blocked.
    case blocked
    /// Closed by a passing verdict or an approval.
    case done
    /// Closed without work: skipped by the overseer or by a false condition.
    case skipped

    public var isClosed: Bool { self == .done || self == .skipped }
}

/// One step of a poured molecule, as read back.
public struct MoleculeStep: Sendable {
    public let summary: BeadSummary
    public let number: Int
    public let key: String
    public let kind: CookedStep.Kind
    public let needs: [String]
    public let needsAny: Bool
    public let state: StepState

    public var id: String { summary.id }
}

/// A poured molecule: its bead and its steps `<mol>.<n>`, each step its own bead ref, so
/// `git bead show <mol>.<n>`, `git log refs/gt/beads/<mol>.<n>` and `ready` all see steps.
public struct Molecule: Sendable {
    public let bead: Bead
    public let steps: [MoleculeStep]

    public var id: String { bead.id }
    public var formula: String { bead.fields["molecule"]?["formula"]?.stringValue ?? "?" }

    public func step(key: String) -> MoleculeStep? { steps.first { $0.key == key } }

    public var counts: [StepState: Int] {
        var counts: [StepState: Int] = [:]
        for step in steps { counts[step.state, default: 0] += 1 }
        return counts
    }

    public var finished: Bool { steps.allSatisfy(\.state.isClosed) }
}

/// Pours, reads and advances molecules in a rig.
public final class MoleculeStore {
    public let beads: BeadStore
    public static let field = "molecule"

    public init(beads: BeadStore) {
        self.beads = beads
    }

    // MARK: pouring

    /// Writes the molecule bead and one step bead per cooked step, all or none.
    public func pour(_ cooked: CookedFormula, on target: String?) throws -> Molecule {
        if let target {
            let bead = try beads.load(target).bead
            if bead.isDeleted { throw GasworksError(.refused, "cannot pour on '\(target)': it is deleted") }
        }
        let numbers = Dictionary(uniqueKeysWithValues: cooked.steps.enumerated().map { ($1.key, $0 + 1) })
        var root = Bead(id: "", title: Self.title(cooked))
        root.description = cooked.description.isEmpty ? nil : cooked.description
        root.issueType = "molecule"
        var info: [String: JSONValue] = [
            "formula": .string(cooked.name), "version": .int(Int64(cooked.version)),
            "vars": .object(
                Dictionary(uniqueKeysWithValues: cooked.vars.map { ($0.name, JSONValue.string($0.value)) })),
            "sources": .array(cooked.sources.map { .string($0) }), "steps": .int(Int64(cooked.steps.count)),
        ]
        if let target {
            info["on"] = .string(target)
            root.dependencies.append(
                Dependency(
                    issue: "", dependsOn: target, type: .parentChild, createdAt: beads.now, createdBy: beads.actor))
        }
        root.fields[Self.field] = .object(info)
        let created = try beads.createFamily(root: root) { id in
            cooked.steps.enumerated().map { position, step in
                Self.stepBead(step, number: position + 1, molecule: id, numbers: numbers, beads: beads)
            }
        }
        return try load(created[0].bead.id)
    }

    static func title(_ cooked: CookedFormula) -> String {
        let shown = cooked.vars.filter { !$0.value.isEmpty }.prefix(2).map { "\($0.name)=\($0.value)" }
        return cooked.name + (shown.isEmpty ? "" : " (\(shown.joined(separator: ", ")))")
    }

    static func stepBead(
        _ step: CookedStep, number: Int, molecule: String, numbers: [String: Int], beads: BeadStore
    ) -> Bead {
        let id = "\(molecule).\(number)"
        var bead = Bead(id: id, title: step.title)
        bead.description = step.description.isEmpty ? nil : step.description
        if let acceptance = step.acceptance { bead.fields["acceptance_criteria"] = .string(acceptance) }
        bead.issueType = step.kind == .work ? "step" : "gate"
        bead.priority = step.priority ?? 2
        bead.labels = step.labels
        if let assignee = step.assignee, !assignee.isEmpty { bead.assignee = assignee }
        bead.dependencies =
            [
                Dependency(
                    issue: id, dependsOn: molecule, type: .parentChild, createdAt: beads.now, createdBy: beads.actor)
            ]
            + step.needs.map { need in
                Dependency(
                    issue: id, dependsOn: "\(molecule).\(numbers[need]!)", type: step.needsAny ? .related : .blocks,
                    createdAt: beads.now, createdBy: beads.actor)
            }
        var info: [String: JSONValue] = [
            "key": .string(step.key), "kind": .string(step.kind.rawValue), "origin": .string(step.origin),
            "molecule": .string(molecule),
        ]
        if !step.checks.isEmpty { info["checks"] = .array(step.checks.map(\.json)) }
        info["max_attempts"] = .int(Int64(step.maxAttempts ?? CookedFormula.defaultMaxAttempts))
        if step.needsAny { info["any"] = .bool(true) }
        if let type = step.type { info["type"] = .string(type) }
        if !step.skipWith.isEmpty {
            info["skip_with"] = .array(step.skipWith.compactMap { numbers[$0].map { .string("\(molecule).\($0)") } })
        }
        if !step.conditions.isEmpty {
            info["conditions"] = .array(
                step.conditions.map { condition in
                    var text = condition.text
                    if case .output(let source, let key) = condition.operand, let n = numbers[source] {
                        // Stored against bead ids, so a renamed key cannot mislead it later.
                        text = Self.conditionText(condition, operand: "\(molecule).\(n).output.\(key)")
                    }
                    return .string(text)
                })
        }
        if let gate = step.gate {
            var fields: [String: JSONValue] = ["type": .string(gate.kind.rawValue)]
            if let timeout = gate.timeout { fields["timeout"] = .int(Int64(timeout)) }
            if let to = gate.to { fields["to"] = .string(to) }
            if let description = gate.description { fields["description"] = .string(description) }
            info["gate"] = .object(fields)
        }
        bead.fields[BeadStore.stepField] = .object(info)
        return bead
    }

    static func conditionText(_ condition: Condition, operand: String) -> String {
        switch condition.test {
        case .truthy: return "{{\(operand)}}"
        case .falsy: return "!{{\(operand)}}"
        case .equals(let value): return "{{\(operand)}} == \(value)"
        case .notEquals(let value): return "{{\(operand)}} != \(value)"
        }
    }

    // MARK: reading

    /// Resolves an id or prefix to a molecule (a step id names its molecule).
    public func resolveMolecule(_ given: String) throws -> String {
        let id = try beads.resolve(given)
        let index = try beads.index()
        guard let summary = index.beads[id] else { throw GasworksError(.notFound, "no bead '\(given)'") }
        if summary.type == "molecule" { return id }
        if let parent = Self.moleculeOf(stepID: id), index.beads[parent]?.type == "molecule" { return parent }
        throw GasworksError(.usage, "'\(id)' is not a molecule (it is a \(summary.type))")
    }

    static func moleculeOf(stepID: String) -> String? {
        guard let dot = stepID.lastIndex(of: "."), Int(stepID[stepID.index(after: dot)...]) != nil else { return nil }
        return String(stepID[..<dot])
    }

    /// Reads a molecule and the state of every step from the bead index.
    public func load(_ id: String) throws -> Molecule {
        let index = try beads.index()
        guard let summary = index.beads[id], summary.type == "molecule" else {
            throw GasworksError(.notFound, "no molecule '\(id)'")
        }
        let bead = try beads.load(id).bead
        let count = Int(bead.fields[Self.field]?["steps"]?.intValue ?? 0)
        let summaries = try (1..<(count + 1)).map { number in
            guard let step = index.beads["\(id).\(number)"] else {
                throw GasworksError(.badData, "corrupt molecule '\(id)': step \(id).\(number) is missing")
            }
            return step
        }
        let status = Dictionary(uniqueKeysWithValues: summaries.map { ($0.id, $0) })
        let steps = summaries.enumerated().map { position, summary in
            Self.step(summary, number: position + 1, statuses: status)
        }
        return Molecule(bead: bead, steps: steps)
    }

    static func step(_ summary: BeadSummary, number: Int, statuses: [String: BeadSummary]) -> MoleculeStep {
        let blocking = summary.dependencies.filter { $0.type == "blocks" }.map(\.target)
        let anyOf = summary.dependencies.filter { $0.type == "related" }.map(\.target)
        let needs = blocking + anyOf
        let needsAny = blocking.isEmpty && !anyOf.isEmpty
        // The key and kind are in the step JSON; the index keeps it as text, read lazily,
        // but the few fields needed here are found without parsing all of it.
        let json = summary.json
        let key = Self.scan(json, field: "\"key\":") ?? String(number)
        let kind = CookedStep.Kind(rawValue: Self.scan(json, field: "\"kind\":") ?? "work") ?? .work
        let state: StepState
        func done(_ id: String) -> Bool { statuses[id]?.status == BeadStatus.closed.rawValue }
        switch summary.status {
        case BeadStatus.closed.rawValue:
            state = json.contains("\"skipped\":{") ? .skipped : .done
        case BeadStatus.blocked.rawValue:
            state = .blocked
        case BeadStatus.inProgress.rawValue:
            state = json.contains("\"submitted\":{") ? .submitted : .working
        default:
            let unlocked = needs.isEmpty || (needsAny ? needs.contains(where: done) : needs.allSatisfy(done))
            state = unlocked ? .ready : .locked
        }
        return MoleculeStep(
            summary: summary, number: number, key: key, kind: kind, needs: needs, needsAny: needsAny, state: state)
    }

    /// The string value of the first `field` in compact JSON (keys are sorted, so the step
    /// object's `key` and `kind` come before any nested object's).
    static func scan(_ json: String, field: String) -> String? {
        guard let stepStart = json.firstRange(of: "\"step\":{") else { return nil }
        let tail = json[stepStart.upperBound...]
        guard let found = tail.firstRange(of: field) else { return nil }
        let rest = tail[found.upperBound...]
        guard rest.first == "\"" else { return nil }
        let value = rest.dropFirst().prefix { $0 != "\"" }
        return String(value)
    }

    /// Every molecule in the rig, newest first.
    public func all(includeClosed: Bool) throws -> [Molecule] {
        try beads.index().beads.values
            .filter {
                $0.type == "molecule" && !$0.deleted && (includeClosed || $0.status != BeadStatus.closed.rawValue)
            }
            .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
            .map { try load($0.id) }
    }

    /// The molecule a caller means when it names none: `$GT_MOLECULE`, else the one in which
    /// the caller holds a step, else the only open molecule.
    public func defaultMolecule() throws -> String {
        if let named = ProcessEnvironment["GT_MOLECULE"], !named.isEmpty { return try resolveMolecule(named) }
        let index = try beads.index()
        let me = beads.actor
        let held = Set(
            index.beads.values.filter {
                $0.status == BeadStatus.inProgress.rawValue && $0.assignee == me
                    && ($0.type == "step" || $0.type == "gate")
            }.compactMap { Self.moleculeOf(stepID: $0.id) })
        if held.count == 1 { return held.first! }
        let open = index.beads.values.filter {
            $0.type == "molecule" && !$0.deleted && $0.status != BeadStatus.closed.rawValue
        }
        let mine = open.filter { $0.assignee == me }
        if mine.count == 1 { return mine[0].id }
        if open.count == 1 { return open[0].id }
        if open.isEmpty { throw GasworksError(.notFound, "no open molecule (pour one with `git molecule pour`)") }
        let listed = open.map(\.id).sorted().prefix(5).joined(separator: ", ")
        throw GasworksError(.usage, "which molecule? \(open.count) are open (\(listed)); name one or set GT_MOLECULE")
    }

    // MARK: the next step

    public struct Next: Sendable {
        public enum Reason: String, Sendable {
            /// The caller already holds this step.
            case holding
            /// The first unlocked step nobody holds.
            case ready
        }
        public var step: MoleculeStep
        public var bead: Bead
        public var reason: Reason
    }

    /// The step the caller should work on now: the one it holds, else the first ready work
    /// step. Nil when nothing is ready (everything done, or waiting on gates or the witness).
    public func next(in molecule: Molecule) throws -> Next? {
        let me = beads.actor
        if let held = molecule.steps.first(where: { $0.state == .working && $0.summary.assignee == me }) {
            return Next(step: held, bead: try beads.load(held.id).bead, reason: .holding)
        }
        if let ready = molecule.steps.first(where: {
            $0.state == .ready && $0.kind == .work && ($0.summary.assignee.isEmpty || $0.summary.assignee == me)
        }) {
            return Next(step: ready, bead: try beads.load(ready.id).bead, reason: .ready)
        }
        return nil
    }

    // MARK: changing steps

    /// Runs `body` with the right to open and close steps.
    @discardableResult
    public func withStepAuthority<T>(_ body: () throws -> T) rethrows -> T {
        let previous = beads.stepAuthority
        beads.stepAuthority = true
        defer { beads.stepAuthority = previous }
        return try body()
    }

    /// A step by bead id (`<mol>.<n>`, any unique prefix) or as `<mol>/<key>`.
    public func requireStep(_ given: String) throws -> (id: String, bead: Bead) {
        var id: String
        if let slash = given.firstIndex(of: "/") {
            let molecule = try load(try resolveMolecule(String(given[..<slash])))
            let key = String(given[given.index(after: slash)...])
            guard let step = molecule.step(key: key) else {
                throw GasworksError(.notFound, "molecule \(molecule.id) has no step '\(key)'")
            }
            id = step.id
        } else {
            id = try beads.resolve(given)
        }
        let bead = try beads.load(id).bead
        guard bead.fields[BeadStore.stepField] != nil else {
            throw GasworksError(.usage, "'\(id)' is not a step of a molecule")
        }
        return (id, bead)
    }

    /// Submits a step to the witness: the caller claims it (if nobody has), and the
    /// submission records the commit and tree it is about, the evidence, and any outputs.
    @discardableResult
    public func submit(
        _ given: String, commit: OID?, tree: OID?, evidence: String?, outputs: [String: String]
    ) throws -> StoredBead {
        let (id, bead) = try requireStep(given)
        if bead.status == .closed { throw GasworksError(.refused, "step '\(id)' is already done") }
        try beads.refuseLockedStep(id, verb: "submit")
        if bead.status == .open { try beads.claim(id) }
        let (me, stamp) = (beads.actor, beads.now)
        return try beads.update(id, op: "submit") { bead in
            guard bead.status == .inProgress, bead.assignee == me else {
                throw GasworksError(
                    .refused,
                    "cannot submit step '\(id)': it is \(bead.status.rawValue)\(bead.assignee.map { " (held by \($0))" } ?? "")"
                )
            }
            var step = bead.fields[BeadStore.stepField]?.objectValue ?? [:]
            let attempt = (step["attempts"]?.intValue ?? 0) + 1
            var submission: [String: JSONValue] = [
                "by": .string(me), "at": .string(stamp), "attempt": .int(attempt),
            ]
            if let commit { submission["commit"] = .string(commit.hex) }
            if let tree { submission["tree"] = .string(tree.hex) }
            if let evidence, !evidence.isEmpty { submission["evidence"] = .string(evidence) }
            step["submitted"] = .object(submission)
            if !outputs.isEmpty {
                var recorded = step["outputs"]?.objectValue ?? [:]
                for (key, value) in outputs { recorded[key] = .string(value) }
                step["outputs"] = .object(recorded)
            }
            bead.fields[BeadStore.stepField] = .object(step)
        }
    }

    /// The overseer closes a step without a verdict: `approve` (the step counts as done) or
    /// `skip` (it counts as skipped). Both record who and why.
    @discardableResult
    public func overseerClose(_ given: String, skip: Bool, note: String?) throws -> StoredBead {
        try Overseer.require(beads, to: skip ? "skip a step" : "approve a step")
        let (id, bead) = try requireStep(given)
        if bead.status == .closed { throw GasworksError(.refused, "step '\(id)' is already closed") }
        if !skip { try beads.refuseLockedStep(id, verb: "approve") }
        let (me, stamp) = (beads.actor, beads.now)
        var signed: [String: JSONValue] = ["by": .string(me), "at": .string(stamp), "step": .string(id)]
        if let note, !note.isEmpty { signed["note"] = .string(note) }
        signed = try Approval.sign(signed, in: beads.repository)
        let stored = try withStepAuthority {
            try beads.update(id, op: skip ? "skip" : "approve") { bead in
                guard bead.status != .closed else { return }
                let record = signed
                Self.closeStep(
                    &bead, at: stamp,
                    reason: (skip ? "skipped by \(me)" : "approved by \(me)") + (note.map { ": \($0)" } ?? ""),
                    recording: skip ? "skipped" : "approval", .object(record), clearingSubmission: true)
            }
        }
        if let molecule = Self.moleculeOf(stepID: id) { try settle(molecule) }
        return stored
    }

    /// Closes a step for the witness (a passing verdict), then settles the molecule.
    @discardableResult
    public func closeVerified(_ id: String, verdict: JSONValue, attempt: Int? = nil) throws -> StoredBead {
        let stamp = beads.now
        let stored = try withStepAuthority {
            try beads.update(id, op: "verify") { bead in
                guard bead.status != .closed else { return }
                // A verdict on an older attempt does not close a newer submission.
                if let attempt, bead.fields[BeadStore.stepField]?["submitted"]?["attempt"]?.intValue != Int64(attempt) {
                    return
                }
                Self.closeStep(
                    &bead, at: stamp, reason: "verified by the witness", recording: "verdict", verdict,
                    clearingSubmission: true)
            }
        }
        if let molecule = Self.moleculeOf(stepID: id) { try settle(molecule) }
        return stored
    }

    /// Closes a step bead inside an update: status, time and reason, plus `record` under
    /// `key` in its step field (the approval, verdict or skip), and the pending submission
    /// dropped when `clearingSubmission`.
    static func closeStep(
        _ bead: inout Bead, at stamp: String, reason: String, recording key: String?, _ record: JSONValue,
        clearingSubmission: Bool = false
    ) {
        if key != nil || clearingSubmission {
            var info = bead.fields[BeadStore.stepField]?.objectValue ?? [:]
            if let key { info[key] = record }
            if clearingSubmission { info["submitted"] = nil }
            bead.fields[BeadStore.stepField] = .object(info)
        }
        bead.markClosed(at: stamp, reason: reason)
    }

    // MARK: settling

    /// Closes what closes by itself once it unlocks: joins (their children are done), steps
    /// whose condition on an earlier step's output is false, and timer gates whose time is
    /// up. Repeats until nothing changes; returns the ids closed. Idempotent, so any
    /// command may run it.
    @discardableResult
    public func settle(_ moleculeID: String) throws -> [String] {
        var closed: [String] = []
        var rounds = 0
        while true {
            rounds += 1
            let molecule = try load(moleculeID)
            // Each round closes at least one step, so this bounds the loop even on odd data.
            if rounds > molecule.steps.count + 1 { break }
            var changed = false
            for step in molecule.steps where step.state == .ready {
                guard let reason = try autoCloseReason(step, in: molecule) else { continue }
                let result = try withStepAuthority {
                    try beads.update(step.id, op: reason.skip ? "skip" : "settle") { bead in
                        guard bead.status != .closed else { return }
                        Self.closeStep(
                            &bead, at: beads.now, reason: reason.text, recording: reason.skip ? "skipped" : nil,
                            .object(["by": .string("molecule"), "note": .string(reason.text)]))
                    }
                }
                guard result.commit != step.summary.commit else { continue }
                closed.append(step.id)
                changed = true
                if step.kind == .join, step.needsAny {
                    // One child was enough: the others that nobody took are not needed.
                    let idle = step.needs.compactMap { id in molecule.steps.first { $0.id == id } }
                        .filter { [.ready, .locked].contains($0.state) && $0.summary.assignee.isEmpty }
                    for sibling in idle {
                        try withStepAuthority {
                            try beads.update(sibling.id, op: "skip") { bead in
                                guard bead.status == .open else { return }
                                Self.closeStep(
                                    &bead, at: beads.now,
                                    reason: "not needed: \(step.id) waits for any one of its steps",
                                    recording: "skipped",
                                    .object(["by": .string("molecule"), "note": .string("\(step.id) needed only one")]))
                            }
                        }
                        closed.append(sibling.id)
                    }
                }
            }
            if !changed { break }
        }
        try closeMoleculeIfFinished(moleculeID)
        return closed
    }

    /// Settles only when some unlocked step may close by itself, so reading stays cheap.
    public func settleIfNeeded(_ molecule: Molecule) throws -> Molecule {
        let candidates = molecule.steps.filter { $0.state == .ready && Self.mayCloseByItself($0) }
        guard try candidates.contains(where: { try autoCloseReason($0, in: molecule) != nil }) else { return molecule }
        try settle(molecule.id)
        return try load(molecule.id)
    }

    /// Joins, gates, and steps with conditions or a loop to stop with: the only steps that
    /// can close without anyone acting on them.
    static func mayCloseByItself(_ step: MoleculeStep) -> Bool {
        let json = step.summary.json
        return step.kind != .work || json.contains("\"conditions\":") || json.contains("\"skip_with\":")
    }

    func autoCloseReason(_ step: MoleculeStep, in molecule: Molecule) throws -> (skip: Bool, text: String)? {
        if step.kind == .join { return (false, "all of its steps are done") }
        guard Self.mayCloseByItself(step) else { return nil }
        let bead = try beads.load(step.id).bead
        let info = bead.fields[BeadStore.stepField]
        for id in info?["skip_with"]?.arrayValue?.compactMap(\.stringValue) ?? []
        where molecule.steps.first(where: { $0.id == id })?.state == .skipped {
            return (true, "\(id) was skipped")
        }
        for text in info?["conditions"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            guard let condition = try? Condition.parse(text) else { continue }
            let holds = condition.holds { operand in
                guard case .output(let source, let key) = operand else { return nil }
                return try? beads.load(source).bead.fields[BeadStore.stepField]?["outputs"]?[key]?.stringValue
            }
            if !holds { return (true, "condition \(text) is false") }
        }
        if let gate = info?["gate"], gate["type"]?.stringValue == "mail" {
            return try mailGate(step, bead: bead, gate: gate)
        }
        if let gate = info?["gate"], gate["type"]?.stringValue == "timer", let timeout = gate["timeout"]?.intValue {
            let unlockedAt =
                step.needs.compactMap { try? beads.load($0).bead.string("closed_at") }.compactMap { ISO8601.parse($0) }
                .max() ?? ISO8601.parse(molecule.bead.createdAt ?? "") ?? 0
            let now = ISO8601.parse(beads.now) ?? 0
            if now >= unlockedAt + timeout { return (false, "timer of \(timeout)s passed") }
        }
        return nil
    }

    /// A mail gate writes to its address (default the overseer) once it unlocks, and opens
    /// when that message has a reply. A crash between the send and recording it sends again.
    func mailGate(_ step: MoleculeStep, bead: Bead, gate: JSONValue) throws -> (skip: Bool, text: String)? {
        let mailbox = try Mailbox(repository: beads.repository)
        let to = try Address(gate["to"]?.stringValue ?? "overseer")
        if let sent = bead.fields[BeadStore.stepField]?["gate_mail"]?.stringValue {
            // Only its addressee opens a gate: a reply from anyone else (a worker writing in
            // the thread) is just mail.
            let reply = try mailbox.thread(sent).first { $0.message.inReplyTo == sent && $0.message.from == to.value }
            return reply.map { (false, "opened by \($0.message.from)'s reply \($0.message.id)") }
        }
        let text = gate["description"]?.stringValue ?? bead.title
        let message = try mailbox.send(
            MessageDraft(
                from: "witness", subject: "Gate \(step.id): \(text)",
                body: "Step \(step.id) (\(step.key)) waits at a mail gate.\n\n\(bead.description ?? "")\n\n"
                    + "Reply to this message to open the gate: git mail reply <id> -m \"…\"",
                type: "question"),
            to: [to], cc: [])
        try withStepAuthority {
            try beads.update(step.id, op: "gate-mail") { bead in
                var info = bead.fields[BeadStore.stepField]?.objectValue ?? [:]
                info["gate_mail"] = .string(message.id)
                bead.fields[BeadStore.stepField] = .object(info)
            }
        }
        return nil
    }

    func closeMoleculeIfFinished(_ moleculeID: String) throws {
        let molecule = try load(moleculeID)
        guard molecule.finished, molecule.bead.status != .closed else { return }
        try beads.close(moleculeID, reason: "every step is done")
    }

    // MARK: burn and squash

    /// Deletes the molecule and every step in one transaction (tombstones, so a sync never
    /// brings them back).
    public func burn(_ moleculeID: String, reason: String?) throws -> Int {
        try Overseer.require(beads, to: "burn a molecule")
        let molecule = try load(moleculeID)
        let ids = [molecule.id] + molecule.steps.map(\.id)
        let (me, stamp) = (beads.actor, beads.now)
        try beads.updateMany(ids, op: "burn") { bead in
            if bead.isDeleted { return }
            bead.markDeleted(at: stamp, by: me, reason: reason ?? "burned")
        }
        return ids.count
    }

    /// Closes a finished molecule into a digest bead that records each step's outcome.
    /// With `force` (the overseer), steps still open are skipped first.
    public func squash(_ moleculeID: String, summary: String?, force: Bool) throws -> StoredBead {
        var molecule = try load(moleculeID)
        let open = molecule.steps.filter { !$0.state.isClosed }
        if !open.isEmpty {
            guard force else {
                throw GasworksError(
                    .refused,
                    "cannot squash '\(moleculeID)': \(open.count) step(s) not done (\(open.prefix(3).map(\.id).joined(separator: ", "))\(open.count > 3 ? ", …" : "")); use --force to skip them"
                )
            }
            try Overseer.require(beads, to: "squash an unfinished molecule")
            let (me, stamp) = (beads.actor, beads.now)
            try withStepAuthority {
                try beads.updateMany(open.map(\.id), op: "skip") { bead in
                    guard bead.status != .closed else { return }
                    Self.closeStep(
                        &bead, at: stamp, reason: "skipped by \(me): squashed", recording: "skipped",
                        .object(["by": .string(me), "at": .string(stamp), "note": .string("squashed")]))
                }
            }
            molecule = try load(moleculeID)
        }
        var lines = ["Digest of \(molecule.id) (\(molecule.formula)): \(molecule.bead.title)", ""]
        if let summary, !summary.isEmpty { lines += [summary, ""] }
        for step in molecule.steps {
            lines.append("- \(step.id) \(step.key): \(step.state.rawValue) — \(step.summary.title)")
        }
        var digest = Bead(id: "", title: "Digest: \(molecule.bead.title)")
        digest.description = lines.joined(separator: "\n")
        digest.issueType = "digest"
        digest.status = .closed
        digest.fields["closed_at"] = .string(beads.now)
        digest.fields["digest_of"] = .string(molecule.id)
        digest.fields["outcomes"] = .object(
            Dictionary(uniqueKeysWithValues: molecule.steps.map { ($0.key, JSONValue.string($0.state.rawValue)) }))
        digest.dependencies = [
            Dependency(issue: "", dependsOn: molecule.id, type: .related, createdAt: beads.now, createdBy: beads.actor)
        ]
        let created = try beads.create(digest)
        let stamp = beads.now
        try beads.update(molecule.id, op: "squash") { bead in
            bead.status = .closed
            if bead.string("closed_at") == nil { bead.fields["closed_at"] = .string(stamp) }
            bead.fields["close_reason"] = .string("squashed into \(created.bead.id)")
            var info = bead.fields[Self.field]?.objectValue ?? [:]
            info["digest"] = .string(created.bead.id)
            bead.fields[Self.field] = .object(info)
        }
        return created
    }
}

/// The overseer's approvals and skips are signed with the overseer's key (`RigKeys`) when
/// this process can read it, so the refinery can tell them from bead data anyone wrote.
public enum Approval {
    /// The signed text: the record without its signature, canonical.
    public static func payload(_ record: JSONValue) -> String {
        var object = record.objectValue ?? [:]
        object["signature"] = nil
        return JSONValue.object(object).compactText()
    }

    static func sign(_ record: [String: JSONValue], in repository: Repository) throws -> [String: JSONValue] {
        guard VerdictSigner.canSign(repository, role: .overseer) else { return record }
        var signed = record
        signed["signature"] = .string(
            try VerdictSigner(repository: repository, role: .overseer).sign(payload(.object(record))))
        return signed
    }
}

/// Who may approve, skip, burn and force: not a worker, and one of `gt.overseer` when set.
public enum Overseer {
    public static func isOverseer(_ beads: BeadStore) throws -> Bool {
        if Principal.worker(in: beads.repository) != nil { return false }
        let actor = beads.actor
        if actor.hasPrefix("polecat/") || actor.hasPrefix("crew/") { return false }
        let configured = try beads.repository.configValues("gt.overseer")
        return configured.isEmpty || configured.contains(actor)
    }

    public static func require(_ beads: BeadStore, to action: String) throws {
        guard try isOverseer(beads) else {
            throw GasworksError(
                .refused, "only the overseer may \(action) (\(beads.actor) is not one; see gt.overseer)")
        }
    }
}
