import BeadKit
import MoleculeKit

/// Text and JSON renderings of formulas and molecules, from the same data.
enum MoleculeOutput {
    static let marks: [StepState: String] = [
        .done: "✓", .skipped: "↷", .submitted: "⧗", .working: "▶", .ready: "○", .locked: "·", .blocked: "✗",
    ]

    // MARK: cooked formulas

    static func json(_ step: CookedStep) -> JSONValue {
        var object: [String: JSONValue] = [
            "key": .string(step.key), "title": .string(step.title), "kind": .string(step.kind.rawValue),
            "needs": .array(step.needs.map { .string($0) }), "origin": .string(step.origin),
        ]
        if !step.description.isEmpty { object["description"] = .string(step.description) }
        if let acceptance = step.acceptance { object["acceptance"] = .string(acceptance) }
        if step.needsAny { object["needs_any"] = .bool(true) }
        if let type = step.type { object["type"] = .string(type) }
        if let priority = step.priority { object["priority"] = .int(Int64(priority)) }
        if !step.labels.isEmpty { object["labels"] = .array(step.labels.map { .string($0) }) }
        if let assignee = step.assignee { object["assignee"] = .string(assignee) }
        if !step.conditions.isEmpty { object["conditions"] = .array(step.conditions.map { .string($0.text) }) }
        if let gate = step.gate {
            var fields: [String: JSONValue] = ["type": .string(gate.kind.rawValue)]
            if let timeout = gate.timeout { fields["timeout"] = .int(Int64(timeout)) }
            if let to = gate.to { fields["to"] = .string(to) }
            object["gate"] = .object(fields)
        }
        if !step.checks.isEmpty { object["checks"] = .array(step.checks.map(\.json)) }
        object["max_attempts"] = .int(Int64(step.maxAttempts ?? CookedFormula.defaultMaxAttempts))
        return .object(object)
    }

    static func json(_ cooked: CookedFormula) -> JSONValue {
        .object([
            "formula": .string(cooked.name), "version": .int(Int64(cooked.version)),
            "description": .string(cooked.description),
            "vars": .object(
                Dictionary(uniqueKeysWithValues: cooked.vars.map { ($0.name, JSONValue.string($0.value)) })),
            "sources": .array(cooked.sources.map { .string($0) }), "steps": .array(cooked.steps.map(json)),
        ])
    }

    static func text(_ cooked: CookedFormula) -> String {
        var out = "\(cooked.name) v\(cooked.version): \(cooked.steps.count) steps\n"
        out += "from: \(cooked.sources.joined(separator: ", "))\n"
        if !cooked.vars.isEmpty {
            out += "vars: \(cooked.vars.map { "\($0.name)=\($0.value)" }.joined(separator: " "))\n"
        }
        out += "\n"
        let width = min(max(cooked.steps.map(\.key.count).max() ?? 0, 8), 40)
        for (position, step) in cooked.steps.enumerated() {
            var line = "\(BeadOutput.pad(String(position + 1), 4))\(BeadOutput.pad(step.key, width)) "
            line += step.kind == .work ? "" : "[\(step.gate.map { "\($0.kind.rawValue) gate" } ?? step.kind.rawValue)] "
            line += BeadStore.oneLine(step.title, limit: 60)
            if !step.needs.isEmpty {
                line += "  ← \(step.needs.joined(separator: step.needsAny ? " | " : ", "))"
            }
            if !step.checks.isEmpty { line += "  [\(step.checks.count) check\(step.checks.count == 1 ? "" : "s")]" }
            if !step.conditions.isEmpty { line += "  if \(step.conditions.map(\.text).joined(separator: " and "))" }
            out += line + "\n"
        }
        return out
    }

    // MARK: molecules

    static func json(_ molecule: Molecule) -> JSONValue {
        var object = molecule.bead.json.objectValue ?? [:]
        object["progress"] = progressJSON(molecule)
        object["steps"] = .array(
            molecule.steps.map { step in
                var fields: [String: JSONValue] = [
                    "id": .string(step.id), "key": .string(step.key), "state": .string(step.state.rawValue),
                    "kind": .string(step.kind.rawValue), "title": .string(step.summary.title),
                    "needs": .array(step.needs.map { .string($0) }),
                ]
                if !step.summary.assignee.isEmpty { fields["assignee"] = .string(step.summary.assignee) }
                return .object(fields)
            })
        return .object(object)
    }

    static func progressJSON(_ molecule: Molecule) -> JSONValue {
        let counts = molecule.counts
        var byState: [String: JSONValue] = [:]
        for (state, count) in counts { byState[state.rawValue] = .int(Int64(count)) }
        let closed = (counts[.done] ?? 0) + (counts[.skipped] ?? 0)
        var object: [String: JSONValue] = [
            "molecule": .string(molecule.id), "formula": .string(molecule.formula),
            "title": .string(molecule.bead.title),
            "status": .string(molecule.bead.string("status") ?? "open"), "total": .int(Int64(molecule.steps.count)),
            "closed": .int(Int64(closed)), "states": .object(byState), "finished": .bool(molecule.finished),
        ]
        if let current = current(molecule) {
            object["current"] = .object([
                "id": .string(current.id), "key": .string(current.key), "state": .string(current.state.rawValue),
            ])
        }
        return .object(object)
    }

    /// The first step that is neither closed nor locked.
    static func current(_ molecule: Molecule) -> MoleculeStep? {
        molecule.steps.first { !$0.state.isClosed && $0.state != .locked }
    }

    static func progressLine(_ molecule: Molecule) -> String {
        let counts = molecule.counts
        let closed = (counts[.done] ?? 0) + (counts[.skipped] ?? 0)
        let total = molecule.steps.count
        let percent = total == 0 ? 100 : closed * 100 / total
        var line = "\(molecule.id)  \(molecule.bead.title)  \(closed)/\(total) (\(percent)%)"
        let details = [StepState.working, .submitted, .ready, .blocked, .locked].compactMap { state in
            counts[state].map { "\($0) \(state.rawValue)" }
        }
        if !details.isEmpty { line += "  " + details.joined(separator: ", ") }
        if molecule.bead.status == .closed { line += "  [closed]" }
        if let current = current(molecule) { line += "  → \(current.id) \(current.key)" }
        return line
    }

    static func stepLine(_ step: MoleculeStep) -> String {
        var line = "\(marks[step.state] ?? "?") \(BeadOutput.pad(step.id, 14)) \(BeadOutput.pad(step.key, 24)) "
        line += BeadOutput.pad(step.state.rawValue, 10)
        if !step.summary.assignee.isEmpty { line += " \(step.summary.assignee)" }
        line += "  \(BeadStore.oneLine(step.summary.title, limit: 50))"
        if step.kind != .work { line += " [\(step.kind.rawValue)]" }
        return line
    }

    static func tree(_ molecule: Molecule) -> String {
        var out = progressLine(molecule) + "\n"
        if let on = molecule.bead.fields["molecule"]?["on"]?.stringValue { out += "  on: \(on)\n" }
        let keys = Dictionary(uniqueKeysWithValues: molecule.steps.map { ($0.id, $0.key) })
        for step in molecule.steps {
            out += "  " + stepLine(step)
            if !step.needs.isEmpty {
                out += "  ← " + step.needs.map { keys[$0] ?? $0 }.joined(separator: step.needsAny ? " | " : ", ")
            }
            out += "\n"
        }
        return out
    }

    static func instructions(_ next: MoleculeStore.Next, molecule: Molecule, claimed: Bool) -> String {
        let bead = next.bead
        let info = bead.fields[BeadStore.stepField]
        var out = "Step \(bead.id) (\(next.step.key)) of \(molecule.id) \(molecule.bead.title)"
        out += next.reason == .holding ? " — you hold it\n" : claimed ? " — claimed for you\n" : " — ready\n"
        out += "\n\(bead.title)\n"
        if let description = bead.description, !description.isEmpty { out += "\n" + description + "\n" }
        if let acceptance = bead.string("acceptance_criteria") { out += "\nAcceptance: \(acceptance)\n" }
        if let outputs = info?["outputs"]?.objectValue, !outputs.isEmpty {
            out +=
                "\nOutputs so far: \(outputs.keys.sorted().map { "\($0)=\(outputs[$0]!.stringValue ?? "")" }.joined(separator: " "))\n"
        }
        let checks = info?["checks"]?.arrayValue ?? []
        if checks.isEmpty {
            out += "\nThis step has no checks: the overseer approves it once you submit.\n"
        } else {
            out += "\nThe witness will run, against the commit you submit:\n"
            for check in checks {
                out +=
                    "  $ \(check["run"]?.stringValue ?? "")  (timeout \(check["timeout"]?.intValue ?? Int64(Check.defaultTimeout))s)\n"
            }
        }
        let attempts = info?["attempts"]?.intValue ?? 0
        if attempts > 0 {
            out +=
                "\nFailed attempts so far: \(attempts) of \(info?["max_attempts"]?.intValue ?? Int64(CookedFormula.defaultMaxAttempts))\n"
        }
        out += "\nWhen it is done: git molecule done \(bead.id) --evidence \"…\"\n"
        return out
    }
}
