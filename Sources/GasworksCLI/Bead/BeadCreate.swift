import ArgumentParser
import BeadKit
import GitKit

/// Field options shared by `create` and `update`.
struct BeadFieldOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Description text.") var description: String?
    @Option(name: .long, help: "Design notes.") var design: String?
    @Option(name: .long, help: "Acceptance criteria.") var acceptance: String?
    @Option(name: .long, help: "Free-form notes.") var notes: String?
    @Option(name: [.customShort("t"), .long], help: "Issue type (bug, feature, task, epic, chore, …).") var type:
        String?
    @Option(name: [.short, .long], help: "Priority 0 (highest) to 4, or P0-P4.") var priority: String?
    @Option(name: [.short, .long], help: "Assignee.") var assignee: String?
    @Option(name: .long, help: "External reference (for example gh-123).") var externalRef: String?
    @Option(name: .long, help: "Not ready before this RFC 3339 time.") var deferUntil: String?
    @Option(name: .long, help: "Due time (RFC 3339).") var due: String?
    @Option(name: .long, help: "Metadata as a JSON object.") var metadata: String?

    /// Applies the given options to `bead`, validating each value first.
    func apply(to bead: inout Bead) throws {
        if let description { bead.description = description }
        if let design { bead.setString("design", design) }
        if let acceptance { bead.setString("acceptance_criteria", acceptance) }
        if let notes { bead.setString("notes", notes) }
        if let type { bead.issueType = try BeadStore.parseType(type) }
        if let priority { bead.priority = try BeadStore.parsePriority(priority) }
        if let assignee { bead.assignee = assignee.isEmpty ? nil : assignee }
        if let externalRef { bead.setString("external_ref", externalRef) }
        for (key, value) in [("defer_until", deferUntil), ("due_at", due)] {
            guard let value else { continue }
            if !value.isEmpty, ISO8601.parse(value) == nil {
                throw GasworksError(
                    .usage, "invalid time '\(value)' for \(key) (expected RFC 3339, e.g. 2026-01-02T15:04:05Z)")
            }
            bead.setString(key, value.isEmpty ? nil : value)
        }
        if let metadata {
            guard let object = try? JSONValue.parse(metadata), object.objectValue != nil else {
                throw GasworksError(.usage, "invalid metadata: not a JSON object")
            }
            bead.fields["metadata"] = object
        }
    }
}

struct BeadCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create beads: one from arguments, or many from a file or stdin.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Title of the new bead.") var title: String?
    @OptionGroup var fields: BeadFieldOptions
    @Option(name: [.short, .long], help: "Comma-separated labels.") var labels: String?
    @Option(name: .long, help: "Create as the next child <parent>.<n> of this bead.") var parent: String?
    @Option(name: .long, help: "Dependencies as type:id,… (a bare id means blocks).") var deps: String?
    @Option(name: [.customShort("f"), .long], help: "Create from a markdown (## Title sections) or JSON file.")
    var file: String?
    @Flag(name: .long, help: "Create one bead per stdin line (a title or a JSON object).") var stdin = false

    func validate() throws {
        let sources = [title != nil, file != nil, stdin].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give exactly one of a title, --file or --stdin") }
        if let title, title.allSatisfy(\.isWhitespace) { throw ValidationError("empty title") }
    }

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            var drafts: [Draft]
            if let title {
                drafts = [Draft(bead: Bead(fields: ["title": .string(title)]), parent: nil, dependencies: [])]
            } else if let file {
                let text = try Console.readFile(file)
                drafts =
                    file.hasSuffix(".json")
                    ? try Drafts.parseJSON(text, source: file) : try Drafts.parseMarkdown(text, source: file)
            } else {
                drafts = try Drafts.parseLines(Console.readStandardInput())
                if drafts.isEmpty { throw GasworksError(.usage, "no beads on stdin") }
            }
            let commonDeps = try deps.map(Drafts.parseDependencies) ?? []
            let commonParent = try parent.map(store.resolve)
            for index in drafts.indices {
                try fields.apply(to: &drafts[index].bead)
                if let labels { drafts[index].bead.labels += Drafts.splitList(labels) }
                drafts[index].parent = try (drafts[index].parent.map(store.resolve)) ?? commonParent
                drafts[index].dependencies += commonDeps
            }
            let created = try create(drafts, in: store)
            if common.json {
                let values = created.map(\.bead.json)
                Console.out((values.count == 1 && title != nil ? values[0] : .array(values)).compactText() + "\n")
            } else {
                for stored in created { BeadOutput.emitChange(stored, verb: "created", common) }
            }
        }
    }

    /// Dependencies are resolved and checked before anything is written; the beads are
    /// then published together (one transaction) with their dependencies in place.
    private func create(_ drafts: [Draft], in store: BeadStore) throws -> [StoredBead] {
        var prepared: [(bead: Bead, parent: String?)] = []
        for draft in drafts {
            var bead = draft.bead
            for (type, target) in draft.dependencies {
                let resolved = try store.resolve(target)
                bead.dependencies.append(
                    Dependency(issue: "", dependsOn: resolved, type: type, createdAt: store.now, createdBy: store.actor)
                )
            }
            prepared.append((bead, draft.parent))
        }
        if prepared.count == 1 {
            let stored = try store.create(prepared[0].bead, parent: prepared[0].parent)
            try store.compactRefsIfNeeded()
            return [stored]
        }
        return try store.createMany(prepared)
    }
}
