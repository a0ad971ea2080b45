import ArgumentParser
import BeadKit
import GitKit

struct BeadUpdate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Change fields of a bead.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Bead id or unique prefix.") var id: String
    @Option(name: .long, help: "New title.") var title: String?
    @Option(name: [.short, .long], help: "New status (open, in_progress, blocked, deferred, closed, pinned, hooked).")
    var status: String?
    @OptionGroup var fields: BeadFieldOptions
    @Option(name: .long, help: "Labels to add (comma-separated).") var addLabel: String?
    @Option(name: .long, help: "Labels to remove (comma-separated).") var removeLabel: String?

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            let resolved = try store.resolve(id)
            if let title, title.allSatisfy(\.isWhitespace) { throw GasworksError(.usage, "empty title") }
            let newStatus = try status.map(BeadStore.parseStatus)
            var probe = Bead(id: resolved, title: "")
            try fields.apply(to: &probe)  // validate every value before touching the bead
            if newStatus == .inProgress { try store.refuseLockedStep(resolved, verb: "start") }
            let stamp = store.now
            let stored = try store.update(resolved, op: "update") { bead in
                if let title { bead.title = title }
                try fields.apply(to: &bead)
                if let newStatus, newStatus != bead.status {
                    bead.status = newStatus
                    bead.fields["closed_at"] = newStatus == .closed ? .string(stamp) : nil
                    if newStatus != .closed { bead.fields["close_reason"] = nil }
                }
                let remove = removeLabel.map(Drafts.splitList) ?? []
                var labels = bead.labels.filter { !remove.contains($0) }
                for label in addLabel.map(Drafts.splitList) ?? [] where !labels.contains(label) { labels.append(label) }
                bead.labels = labels
            }
            BeadOutput.emitChange(stored, verb: "updated", common)
        }
    }
}

struct BeadClaim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claim", abstract: "Atomically take an open bead that is unassigned or already yours.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Bead id or unique prefix.") var id: String

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            BeadOutput.emitChange(try store.claim(try store.resolve(id)), verb: "claimed", common)
        }
    }
}

/// One or more bead ids, all resolved before any is changed.
struct BeadIDArguments: ParsableArguments {
    @Argument(help: "Bead ids or unique prefixes.") var ids: [String]

    func validate() throws { if ids.isEmpty { throw ValidationError("give at least one bead id") } }

    /// Resolves every id first (so a typo changes nothing), then applies `change` to each
    /// and prints the result.
    func apply(verb: String, _ common: CommonOptions, _ change: (BeadStore, String) throws -> StoredBead) throws {
        try reportingErrors {
            let store = try common.openStore()
            for id in try ids.map(store.resolve) { BeadOutput.emitChange(try change(store, id), verb: verb, common) }
        }
    }
}

struct BeadClose: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "close", abstract: "Close beads.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var targets: BeadIDArguments
    @Option(name: [.short, .long], help: "Why it is closed.") var reason: String?

    func run() throws { try targets.apply(verb: "closed", common) { try $0.close($1, reason: reason) } }
}

struct BeadReopen: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reopen", abstract: "Reopen closed beads.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var targets: BeadIDArguments

    func run() throws { try targets.apply(verb: "reopened", common) { try $0.reopen($1) } }
}

struct BeadLabel: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "label", abstract: "Add or remove labels.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "add or rm.") var action: String
    @Argument(help: "Bead id or unique prefix.") var id: String
    @Argument(help: "Labels.") var labels: [String]

    func validate() throws {
        guard ["add", "rm", "remove"].contains(action) else {
            throw ValidationError("expected 'add' or 'rm', not '\(action)'")
        }
        if labels.isEmpty { throw ValidationError("give at least one label") }
    }

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            let resolved = try store.resolve(id)
            let stored =
                action == "add"
                ? try store.setLabels(resolved, add: labels, remove: [])
                : try store.setLabels(resolved, add: [], remove: labels)
            BeadOutput.emitChange(stored, verb: "labelled", common)
        }
    }
}

struct BeadComment: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "comment", abstract: "Add a comment to a bead.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Bead id or unique prefix.") var id: String
    @Argument(help: "Comment text (or --stdin).") var text: String?
    @Flag(name: .long, help: "Read the comment from stdin.") var stdin = false

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            let resolved = try store.resolve(id)
            guard let body = stdin ? Console.readStandardInput() : text else {
                throw GasworksError(.usage, "give the comment text or --stdin")
            }
            BeadOutput.emitChange(try store.comment(resolved, text: body), verb: "commented on", common)
        }
    }
}

struct BeadDelete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete beads as tombstones that sync respects.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var targets: BeadIDArguments
    @Option(name: [.short, .long], help: "Why it is deleted.") var reason: String?

    func run() throws { try targets.apply(verb: "deleted", common) { try $0.delete($1, reason: reason) } }
}

struct BeadDep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dep", abstract: "Dependencies between beads.",
        subcommands: [BeadDepAdd.self, BeadDepRemove.self, BeadDepTree.self, BeadDepCycles.self])
}

struct BeadDepAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Record that <id> depends on <target>; a cycle is refused.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "The dependent bead.") var id: String
    @Argument(help: "The bead it depends on.") var target: String
    @Option(
        name: [.customShort("t"), .long],
        help:
            "blocks (default), parent-child, conditional-blocks, waits-for, related, discovered-from, duplicates, supersedes, replies-to."
    )
    var type: String = "blocks"

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            let kind = try BeadStore.parseDependencyType(type)
            let stored = try store.addDependency(try store.resolve(id), on: try store.resolve(target), type: kind)
            BeadOutput.emitChange(stored, verb: "added dependency to", common)
        }
    }
}

struct BeadDepRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a dependency.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "The dependent bead.") var id: String
    @Argument(help: "The bead it depends on.") var target: String
    @Option(name: [.customShort("t"), .long], help: "Only this dependency type.") var type: String?

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            let kind = try type.map(BeadStore.parseDependencyType)
            let stored = try store.removeDependency(try store.resolve(id), on: try store.resolve(target), type: kind)
            BeadOutput.emitChange(stored, verb: "removed dependency from", common)
        }
    }
}

struct BeadDepTree: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tree", abstract: "What a bead depends on, as a tree.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Bead id or unique prefix.") var id: String
    @Option(name: .long, help: "How deep to go.") var depth: Int = 10

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            let beads = try store.index().beads
            func node(_ id: String, _ type: String?, _ level: Int, _ path: Set<String>) -> JSONValue {
                var object: [String: JSONValue] = [
                    "id": .string(id), "status": .string(beads[id]?.status ?? "missing"),
                    "title": .string(beads[id]?.title ?? ""),
                ]
                if let type { object["type"] = .string(type) }
                if path.contains(id) {
                    object["cycle"] = .bool(true)
                } else if level < depth, let summary = beads[id] {
                    let children = summary.dependencies.map { node($0.target, $0.type, level + 1, path.union([id])) }
                    if !children.isEmpty { object["depends_on"] = .array(children) }
                }
                return .object(object)
            }
            let tree = node(try store.resolve(id), nil, 0, [])
            if common.json {
                Console.out(tree.compactText() + "\n")
                return
            }
            var out = ""
            func render(_ value: JSONValue, _ indent: String) {
                let type = value["type"]?.stringValue.map { "[\($0)] " } ?? ""
                let cycle = value["cycle"] != nil ? " (cycle)" : ""
                out +=
                    "\(indent)\(type)\(value["id"]!.stringValue!) (\(value["status"]!.stringValue!)) \(value["title"]!.stringValue!)\(cycle)\n"
                for child in value["depends_on"]?.arrayValue ?? [] { render(child, indent + "  ") }
            }
            render(tree, "")
            Console.out(out)
        }
    }
}

struct BeadDepCycles: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cycles", abstract: "Find dependency cycles (exit 1 when there is one).")

    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let cycles = DependencyGraph(try common.openStore().index().all).cycles()
            if common.json {
                Console.out(JSONValue.array(cycles.map { .array($0.map(JSONValue.string)) }).compactText() + "\n")
            } else if cycles.isEmpty {
                if !common.quiet { Console.out("no dependency cycles\n") }
            } else {
                Console.out(cycles.map { $0.joined(separator: " → ") + "\n" }.joined())
            }
            if !cycles.isEmpty { throw GasworksError(.refused, "\(cycles.count) dependency cycle(s) found") }
        }
    }
}

struct BeadImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Upsert beads from Beads' issues.jsonl (all or nothing).")

    @OptionGroup var common: CommonOptions
    @Argument(help: "The JSONL file (- for stdin).") var file: String
    @Flag(name: .long, help: "Skip malformed lines (reported) instead of importing nothing.") var skipBad = false

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            let text = file == "-" ? Console.readStandardInput() : try Console.readFile(file)
            let (beads, skipped) = try BeadStore.parseJSONL(text, source: file, skipBad: skipBad)
            var report = try store.importBeads(beads)
            report.skipped = skipped
            for line in skipped { Console.error("warning: \(file):\(line); skipped\n") }
            if common.json {
                Console.out(
                    JSONValue.object([
                        "created": .int(Int64(report.created.count)), "updated": .int(Int64(report.updated.count)),
                        "unchanged": .int(Int64(report.unchanged.count)),
                        "skipped": .array(skipped.map(JSONValue.string)),
                    ]).compactText() + "\n")
            } else if common.quiet {
                Console.out((report.created + report.updated).map { $0 + "\n" }.joined())
            } else {
                Console.out(
                    "imported \(beads.count) beads: \(report.created.count) created, \(report.updated.count) updated, \(report.unchanged.count) unchanged\(skipped.isEmpty ? "" : ", \(skipped.count) lines skipped")\n"
                )
            }
        }
    }
}

struct BeadExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write every bead as Beads' issues.jsonl (sorted by id).")

    @OptionGroup var common: CommonOptions
    @Option(name: [.short, .long], help: "Write to this file instead of stdout.") var output: String?

    func run() throws {
        try reportingErrors {
            let text = try common.openStore().exportJSONL()
            if let output { try Console.writeFile(output, text) } else { Console.out(text) }
        }
    }
}
