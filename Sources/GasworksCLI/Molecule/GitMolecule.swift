import ArgumentParser
import BeadKit
import GitKit
import MoleculeKit
import RigKit

struct GitMolecule: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "molecule",
        abstract: "Formulas poured into chains of step beads whose order is enforced.",
        discussion: """
            Exit status: 0 success; 1 refused by the rules (a locked step, not the overseer, nothing
            to work on now); 2 unknown id or formula; 3 ambiguous id prefix; 64 invalid arguments;
            65 malformed formula or corrupt stored data; 128 not a git repository.
            """,
        subcommands: [
            MoleculeFormula.self, MoleculePour.self, MoleculeList.self, MoleculeShow.self, MoleculeProgress.self,
            MoleculeNext.self, MoleculeDone.self, MoleculeSkip.self, MoleculeApprove.self, MoleculeBurn.self,
            MoleculeSquash.self,
        ])
}

extension CommonOptions {
    func openMolecules() throws -> MoleculeStore { MoleculeStore(beads: try openStore()) }

    /// The formula search path, starting at this repository's work tree.
    func library() -> FormulaLibrary {
        let root = (try? openRepository()).flatMap { $0.workdir }.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        return FormulaLibrary(rigRoot: root)
    }
}

/// `--var name=value`, repeatable.
func parseVars(_ pairs: [String]) throws -> [String: String] {
    var values: [String: String] = [:]
    for pair in pairs {
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
            throw GasworksError(.usage, "invalid --var '\(pair)' (expected name=value)")
        }
        values[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
    }
    return values
}

// MARK: - formula

struct MoleculeFormula: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "formula", abstract: "List, show, validate and cook formulas.",
        subcommands: [FormulaList.self, FormulaShow.self, FormulaValidate.self, FormulaCook.self])
}

struct FormulaList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Formulas on the search path (a name found earlier hides later ones).")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let library = common.library()
            let entries = library.entries()
            var rows: [JSONValue] = []
            var text = ""
            for entry in entries {
                let formula = try? Formula(source: try FormulaSource.read(path: entry.path))
                let summary = formula.map { String($0.description.split(separator: "\n").first ?? "") } ?? "(invalid)"
                rows.append(
                    .object([
                        "name": .string(entry.name), "path": .string(entry.path), "shadowed": .bool(entry.shadowed),
                        "type": formula.map { .string($0.kind.rawValue) } ?? .null,
                        "steps": formula.map { .int(Int64($0.steps.count + $0.template.count)) } ?? .null,
                        "description": .string(summary),
                    ]))
                if common.quiet {
                    if !entry.shadowed { text += entry.name + "\n" }
                } else {
                    let kind = formula?.kind.rawValue ?? "invalid"
                    text +=
                        "\(BeadOutput.pad(entry.name, 20)) \(BeadOutput.pad(kind, 9)) \(entry.shadowed ? "(hidden) " : "")\(BeadStore.oneLine(summary, limit: 70))\n"
                }
            }
            if common.json {
                Console.out(
                    JSONValue.object([
                        "search_path": .array(library.directories.map { .string($0) }), "formulas": .array(rows),
                    ]).compactText() + "\n")
            } else {
                Console.out(text)
            }
        }
    }
}

struct FormulaShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "A formula as written: vars, steps, composition.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Formula name or path.") var name: String

    func run() throws {
        try reportingErrors {
            let formula = try common.library().formula(named: name)
            if common.json {
                var document = formula.source.document.objectValue ?? [:]
                document["source"] = .string(formula.source.path)
                Console.out(JSONValue.object(document).compactText() + "\n")
                return
            }
            var out = "\(formula.name) v\(formula.version) (\(formula.kind.rawValue))  \(formula.source.path)\n"
            if !formula.description.isEmpty { out += "\n" + indent(formula.description) + "\n" }
            if !formula.extends.isEmpty { out += "\nextends: \(formula.extends.joined(separator: ", "))\n" }
            if !formula.compose.aspects.isEmpty {
                out += "aspects: \(formula.compose.aspects.joined(separator: ", "))\n"
            }
            for rule in formula.compose.expand { out += "expand: \(rule.target) with \(rule.with)\n" }
            for rule in formula.compose.map { out += "map: \(rule.target) with \(rule.with)\n" }
            if !formula.varOrder.isEmpty {
                out += "\nVariables:\n"
                for name in formula.varOrder {
                    let spec = formula.vars[name]!
                    var facts: [String] = []
                    if spec.required { facts.append("required") }
                    if let value = spec.defaultValue { facts.append("default \"\(value)\"") }
                    if let allowed = spec.allowed { facts.append("one of \(allowed.joined(separator: "|"))") }
                    if let pattern = spec.pattern { facts.append("matching \(pattern)") }
                    out +=
                        "  \(BeadOutput.pad(name, 18)) \(facts.joined(separator: ", "))\(spec.description.map { facts.isEmpty ? $0 : " — \($0)" } ?? "")\n"
                }
            }
            func list(_ heading: String, _ steps: [FormulaStep]) {
                guard !steps.isEmpty else { return }
                out += "\n\(heading):\n"
                for step in steps {
                    out += "  \(BeadOutput.pad(step.id, 22)) \(step.title ?? "")"
                    if !step.needs.isEmpty { out += "  (needs \(step.needs.joined(separator: ", ")))" }
                    if !step.checks.isEmpty {
                        out += "  [\(step.checks.count) check\(step.checks.count == 1 ? "" : "s")]"
                    }
                    out += "\n"
                }
            }
            list("Steps", formula.steps)
            list("Template", formula.template)
            for advice in formula.advice {
                list("Advice for \(advice.target) (before)", advice.before)
                list("Advice for \(advice.target) (after)", advice.after)
            }
            if !formula.pointcuts.isEmpty {
                out +=
                    "\nPointcuts: \(formula.pointcuts.compactMap { $0.glob ?? $0.type ?? $0.label }.joined(separator: ", "))\n"
            }
            Console.out(out)
        }
    }
}

struct FormulaValidate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check formulas (all on the search path when none is named); required vars get placeholders.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Formula names or paths.") var names: [String] = []

    func run() throws {
        try reportingErrors {
            let library = common.library()
            let cook = Cook(library: library)
            let targets = names.isEmpty ? library.entries().filter { !$0.shadowed }.map(\.path) : names
            guard !targets.isEmpty else { throw GasworksError(.notFound, "no formulas on the search path") }
            var results: [JSONValue] = []
            var firstError: GasworksError?
            for target in targets {
                do {
                    let formula = try library.formula(named: target)
                    var steps = formula.steps.count + formula.template.count
                    if formula.kind == .workflow || formula.kind == .convoy {
                        steps = try cook.cook(formula, vars: [:], placeholders: true).steps.count
                    }
                    results.append(
                        .object(["formula": .string(formula.name), "ok": .bool(true), "steps": .int(Int64(steps))]))
                    if !common.json && !common.quiet {
                        Console.out("ok    \(formula.name) (\(formula.kind.rawValue), \(steps) steps)\n")
                    }
                } catch let error as GasworksError {
                    results.append(
                        .object(["formula": .string(target), "ok": .bool(false), "error": .string(error.message)]))
                    if !common.json { Console.error("error: \(error.message)\n") }
                    if firstError == nil { firstError = error }
                }
            }
            if common.json { Console.out(JSONValue.array(results).compactText() + "\n") }
            if let firstError { throw ExitCode(firstError.exitCode) }
        }
    }
}

struct FormulaCook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cook",
        abstract: "Resolve extends, aspects, expansions, loops and conditions into the flat step graph.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Formula name or path.") var name: String
    @Option(name: .long, help: ArgumentHelp("Set a variable (repeatable).", valueName: "name=value"))
    var `var`: [String] = []

    func run() throws {
        try reportingErrors {
            let cooked = try Cook(library: common.library()).cook(named: name, vars: try parseVars(`var`))
            if common.json {
                Console.out(MoleculeOutput.json(cooked).compactText() + "\n")
            } else if common.quiet {
                Console.out(cooked.steps.map { $0.key + "\n" }.joined())
            } else {
                Console.out(MoleculeOutput.text(cooked))
            }
        }
    }
}

// MARK: - molecules

struct MoleculePour: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pour", abstract: "Pour a formula into a molecule: all step beads or none.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Formula name or path.") var formula: String
    @Option(name: .long, help: ArgumentHelp("Set a variable (repeatable).", valueName: "name=value"))
    var `var`: [String] = []
    @Option(
        name: .long, help: ArgumentHelp("Attach the molecule to this bead (it becomes its child).", valueName: "bead"))
    var on: String?

    func run() throws {
        try reportingErrors {
            let molecules = try common.openMolecules()
            let cooked = try Cook(library: common.library()).cook(named: formula, vars: try parseVars(`var`))
            let target = try on.map { try molecules.beads.resolve($0) }
            let molecule = try molecules.pour(cooked, on: target)
            if common.json {
                Console.out(MoleculeOutput.json(molecule).compactText() + "\n")
            } else if common.quiet {
                Console.out(molecule.id + "\n")
            } else {
                Console.out(
                    "poured \(molecule.id): \(molecule.bead.title) — \(molecule.steps.count) steps (\(molecule.id).1 … \(molecule.id).\(molecule.steps.count))\n"
                )
            }
        }
    }
}

struct MoleculeList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Molecules and their progress.")
    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "Include closed molecules.") var all = false

    func run() throws {
        try reportingErrors {
            let molecules = try common.openMolecules().all(includeClosed: all)
            if common.json {
                Console.out(JSONValue.array(molecules.map(MoleculeOutput.progressJSON)).compactText() + "\n")
            } else if common.quiet {
                Console.out(molecules.map { $0.id + "\n" }.joined())
            } else {
                Console.out(molecules.map { MoleculeOutput.progressLine($0) + "\n" }.joined())
            }
        }
    }
}

struct MoleculeShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "A molecule's steps and their states.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Molecule id or prefix (or one of its steps).") var molecule: String?

    func run() throws {
        try reportingErrors {
            let store = try common.openMolecules()
            let id = try molecule.map(store.resolveMolecule) ?? store.defaultMolecule()
            let loaded = try store.load(id)
            if common.json {
                Console.out(MoleculeOutput.json(loaded).compactText() + "\n")
            } else if common.quiet {
                Console.out(loaded.steps.map { $0.id + "\n" }.joined())
            } else {
                Console.out(MoleculeOutput.tree(loaded))
            }
        }
    }
}

struct MoleculeProgress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "progress", abstract: "How far a molecule has come: steps by state and what is current.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Molecule id or prefix.") var molecule: String?

    func run() throws {
        try reportingErrors {
            let store = try common.openMolecules()
            let id = try molecule.map(store.resolveMolecule) ?? store.defaultMolecule()
            let loaded = try store.settleIfNeeded(try store.load(id))
            if common.json {
                Console.out(MoleculeOutput.progressJSON(loaded).compactText() + "\n")
            } else {
                Console.out(MoleculeOutput.progressLine(loaded) + "\n")
                for step in loaded.steps where [.working, .submitted, .blocked, .ready].contains(step.state) {
                    Console.out("  \(MoleculeOutput.stepLine(step))\n")
                }
            }
        }
    }
}

struct MoleculeNext: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next",
        abstract: "The step to work on now, with its full instructions (exit 1 when nothing is workable yet).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Molecule id or prefix (default: $GT_MOLECULE, the one you hold a step in, or the only open one).")
    var molecule: String?
    @Flag(name: .long, help: "Claim the step for yourself.") var claim = false

    func run() throws {
        try reportingErrors {
            let store = try common.openMolecules()
            let id = try molecule.map(store.resolveMolecule) ?? store.defaultMolecule()
            let loaded = try store.settleIfNeeded(try store.load(id))
            guard var next = try store.next(in: loaded) else {
                if loaded.finished {
                    if common.json {
                        Console.out(
                            JSONValue.object(["molecule": .string(id), "finished": .bool(true)]).compactText() + "\n")
                    } else if !common.quiet {
                        Console.out("molecule \(id) is finished: every step is done\n")
                    }
                    return
                }
                let waiting = loaded.steps.filter {
                    [.submitted, .working, .blocked].contains($0.state) || ($0.state == .ready && $0.kind != .work)
                }
                let detail = waiting.prefix(3).map {
                    "\($0.id) \($0.key) (\($0.state == .ready ? "gate" : $0.state.rawValue))"
                }
                .joined(separator: ", ")
                throw GasworksError(
                    .refused, "nothing to work on in \(id) now\(detail.isEmpty ? "" : ": waiting on \(detail)")")
            }
            if claim, next.reason == .ready {
                let claimed = try store.beads.claim(next.step.id)
                next.bead = claimed.bead
            }
            if common.json {
                var object = next.bead.json.objectValue ?? [:]
                object["molecule"] = .string(loaded.id)
                object["reason"] = .string(next.reason.rawValue)
                object["key"] = .string(next.step.key)
                Console.out(JSONValue.object(object).compactText() + "\n")
            } else if common.quiet {
                Console.out(next.step.id + "\n")
            } else {
                Console.out(MoleculeOutput.instructions(next, molecule: loaded, claimed: claim))
            }
        }
    }
}

struct MoleculeDone: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "done", abstract: "Submit a step to the witness (it closes only on a passing verdict).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Step id (<mol>.<n>) or <mol>/<key>.") var step: String
    @Option(name: .long, help: "What shows the step is done (free text).") var evidence: String?
    @Option(
        name: .long,
        help: ArgumentHelp("Record an output later steps' conditions can read (repeatable).", valueName: "key=value"))
    var output: [String] = []

    func run() throws {
        try reportingErrors {
            let store = try common.openMolecules()
            let outputs = try parseVars(output)
            let repository = store.beads.repository
            let head = repository.workdir == nil ? nil : try? repository.revparse("HEAD")
            let tree = try head.map { try repository.commit($0).tree }
            // A worker's commits the hooks let through without a process are noted now.
            let hooks = CommitHooks(molecules: store)
            if hooks.isWorkerCheckout { _ = try? hooks.recordCommits(submitting: false) }
            let stored = try store.submit(step, commit: head, tree: tree, evidence: evidence, outputs: outputs)
            if common.json {
                Console.out(stored.bead.json.compactText() + "\n")
            } else if common.quiet {
                Console.out(stored.bead.id + "\n")
            } else {
                let checks = stored.bead.fields[BeadStore.stepField]?["checks"]?.arrayValue?.count ?? 0
                let attempt = stored.bead.fields[BeadStore.stepField]?["submitted"]?["attempt"]?.intValue ?? 1
                Console.out(
                    checks > 0
                        ? "submitted \(stored.bead.id) (attempt \(attempt)) to the witness: \(checks) check\(checks == 1 ? "" : "s") will run against \(head.map { String($0.hex.prefix(12)) } ?? "the work tree")\n"
                        : "submitted \(stored.bead.id): it has no checks, so it waits for approval (git molecule approve \(stored.bead.id))\n"
                )
            }
        }
    }
}

struct MoleculeSkip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skip", abstract: "Overseer only: close a step without doing it (recorded).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Step id (<mol>.<n>) or <mol>/<key>.") var step: String
    @Option(name: [.short, .long], help: "Why.") var reason: String?

    func run() throws {
        try reportingErrors {
            let stored = try common.openMolecules().overseerClose(step, skip: true, note: reason)
            BeadOutput.emitChange(stored, verb: "skipped", common)
        }
    }
}

struct MoleculeApprove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Overseer only: mark an unlocked step done by approval (recorded).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Step id (<mol>.<n>) or <mol>/<key>.") var step: String
    @Option(name: [.short, .long], help: "A note kept with the approval.") var note: String?

    func run() throws {
        try reportingErrors {
            let stored = try common.openMolecules().overseerClose(step, skip: false, note: note)
            BeadOutput.emitChange(stored, verb: "approved", common)
        }
    }
}

struct MoleculeBurn: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "burn", abstract: "Overseer only: delete a molecule and all its steps (one transaction).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Molecule id or prefix.") var molecule: String
    @Option(name: [.short, .long], help: "Why.") var reason: String?

    func run() throws {
        try reportingErrors {
            let store = try common.openMolecules()
            let id = try store.resolveMolecule(molecule)
            let count = try store.burn(id, reason: reason)
            if common.json {
                Console.out(
                    JSONValue.object(["molecule": .string(id), "deleted": .int(Int64(count))]).compactText() + "\n")
            } else if common.quiet {
                Console.out(id + "\n")
            } else {
                Console.out("burned \(id): \(count) beads deleted\n")
            }
        }
    }
}

struct MoleculeSquash: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "squash", abstract: "Close a finished molecule into a digest bead of its outcomes.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Molecule id or prefix.") var molecule: String
    @Option(name: .long, help: "A summary to put in the digest.") var summary: String?
    @Flag(name: .long, help: "Overseer only: skip steps that are not done first.") var force = false

    func run() throws {
        try reportingErrors {
            let store = try common.openMolecules()
            let id = try store.resolveMolecule(molecule)
            let digest = try store.squash(id, summary: summary, force: force)
            BeadOutput.emitChange(digest, verb: "squashed \(id) into", common)
        }
    }
}

func indent(_ text: String, by prefix: String = "  ") -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { prefix + $0 }.joined(separator: "\n")
}
