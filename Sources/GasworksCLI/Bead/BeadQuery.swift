import ArgumentParser
import BeadKit
import GitKit

struct BeadShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show beads in full.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var targets: BeadIDArguments

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            let beads = try targets.ids.map { try store.load(try store.resolve($0)).bead }
            let index = try store.index()
            if common.json {
                let values = beads.map(\.json)
                Console.out((values.count == 1 ? values[0] : .array(values)).compactText() + "\n")
                return
            }
            let texts = beads.map { bead in
                let dependents = index.all.filter { summary in summary.dependencies.contains { $0.target == bead.id } }
                return BeadOutput.show(bead, dependents: dependents, index: index)
            }
            Console.out(texts.joined(separator: "\n"))
        }
    }
}

/// Filters shared by `list` and `search`.
struct BeadFilterOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Only these statuses (comma-separated).") var status: String?
    @Option(name: [.customShort("t"), .long], help: "Only these types (comma-separated).") var type: String?
    @Option(name: [.short, .long], help: "Only beads with all these labels (comma-separated).") var label: String?
    @Option(name: [.short, .long], help: "Only beads assigned to this name (- for unassigned).") var assignee: String?
    @Option(name: .long, help: "Lowest priority number to include (0-4).") var priorityMin: String?
    @Option(name: .long, help: "Highest priority number to include (0-4).") var priorityMax: String?
    @Option(name: .long, help: "Only children of this bead.") var parent: String?
    @Flag(name: .long, help: "Include closed beads (--status overrides this).") var all = false
    @Option(name: .long, help: "Sort by priority, created, updated, id or title.") var sort: String = "priority"
    @Option(name: [.customLong("limit"), .customShort("n")], help: "Show at most this many.") var limit: Int?

    /// Applies the filters, then `text` (see `TextSearch`), then the sort and the limit.
    func select(_ summaries: [BeadSummary], store: BeadStore, text: String? = nil) throws -> [BeadSummary] {
        let statuses = try status.map { try Drafts.splitList($0).map { try BeadStore.parseStatus($0).rawValue } }
        let types = try type.map { try Drafts.splitList($0).map(BeadStore.parseType) }
        let labels = label.map(Drafts.splitList) ?? []
        let low = try priorityMin.map(BeadStore.parsePriority) ?? 0
        let high = try priorityMax.map(BeadStore.parsePriority) ?? 4
        let parentID = try parent.map(store.resolve)
        try checkLimit(limit)
        let order: (BeadSummary, BeadSummary) -> Bool
        switch sort {
        case "priority": order = Readiness.bestFirst
        case "created": order = { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        case "updated": order = { ($0.updatedAt, $0.id) > ($1.updatedAt, $1.id) }
        case "id": order = { $0.id < $1.id }
        case "title": order = { ($0.title, $0.id) < ($1.title, $1.id) }
        default:
            throw GasworksError(.usage, "invalid --sort '\(sort)' (expected priority, created, updated, id, title)")
        }
        var selected = summaries.filter { summary in
            if summary.deleted { return false }
            if let statuses {
                if !statuses.contains(summary.status) { return false }
            } else if !all, summary.status == BeadStatus.closed.rawValue {
                return false
            }
            if let types, !types.contains(summary.type) { return false }
            if !labels.allSatisfy(summary.labels.contains) { return false }
            if let assignee, summary.assignee != (assignee == "-" ? "" : assignee) { return false }
            if summary.priority < low || summary.priority > high { return false }
            if let parentID, summary.parent != parentID { return false }
            return true
        }
        if let text { selected = try TextSearch.matching(selected, text) }
        selected.sort(by: order)
        return limit.map { Array(selected.prefix($0)) } ?? selected
    }
}

struct BeadList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List beads (not closed, unless --all or --status).")

    @OptionGroup var common: CommonOptions
    @OptionGroup var filter: BeadFilterOptions
    @Option(name: .long, help: "Only beads whose text fields or comments contain this (as search does).") var text:
        String?

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            try BeadOutput.emitList(try filter.select(try store.index().all, store: store, text: text), common)
        }
    }
}

struct BeadSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract:
            "Full-text search over id, title, description, design, acceptance criteria, notes, external ref and comments."
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "Text to find (case-insensitive).") var query: String
    @OptionGroup var filter: BeadFilterOptions

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            try BeadOutput.emitList(try filter.select(try store.index().all, store: store, text: query), common)
        }
    }
}

enum TextSearch {
    static let fields = ["id", "title", "description", "design", "acceptance_criteria", "notes", "external_ref"]

    /// Case-insensitive match on the text fields and comments. The raw JSON line is checked
    /// first, so only candidates are parsed.
    static func matching(_ summaries: [BeadSummary], _ query: String) throws -> [BeadSummary] {
        let needle = query.lowercased()
        guard !needle.isEmpty else { throw GasworksError(.usage, "empty search text") }
        // The stored line is JSON, where quotes, backslashes and newlines are escaped.
        let escaped = String(JSONValue.string(needle).compactText().dropFirst().dropLast())
        return try summaries.filter { summary in
            guard summary.json.lowercased().contains(escaped) else { return false }
            let bead = try summary.bead()
            let texts = fields.compactMap { bead.string($0) } + bead.comments.map(\.text)
            return texts.contains { $0.lowercased().contains(needle) }
        }
    }
}

struct BeadReady: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ready", abstract: "Beads that can start now; --claim takes the best one atomically.")

    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "Claim the best ready bead for the actor and print it.") var claim = false
    @Option(name: .long, help: "Say why this bead is or is not ready.") var explain: String?
    @Option(name: [.customShort("t"), .long], help: "Only this type.") var type: String?
    @Option(name: [.customLong("limit"), .customShort("n")], help: "Show at most this many.") var limit: Int?

    func run() throws {
        try reportingErrors {
            try checkLimit(limit)
            let store = try common.openStore()
            let onlyType = try type.map(BeadStore.parseType)
            if let explain {
                let id = try store.resolve(explain)
                let readiness = try store.readiness()
                let reasons = readiness.reasons(for: try store.index().beads[id]!)
                if common.json {
                    Console.out(
                        JSONValue.object([
                            "id": .string(id), "ready": .bool(reasons.isEmpty),
                            "reasons": .array(reasons.map(JSONValue.string)),
                        ]).compactText() + "\n")
                } else {
                    Console.out(
                        reasons.isEmpty
                            ? "\(id) is ready\n" : "\(id) is not ready:\n" + reasons.map { "  \($0)\n" }.joined())
                }
                return
            }
            if claim {
                guard let stored = try store.claimNextReady(filter: { onlyType == nil || $0.type == onlyType }) else {
                    throw GasworksError(.refused, "no ready bead to claim")
                }
                BeadOutput.emitChange(stored, verb: "claimed", common)
                return
            }
            var ready = try store.readiness().ready().filter { onlyType == nil || $0.type == onlyType }
            if let limit { ready = Array(ready.prefix(limit)) }
            try BeadOutput.emitList(ready, common)
        }
    }
}

struct BeadBlocked: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "blocked", abstract: "Beads waiting on open blockers.")

    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let blocked = try common.openStore().readiness().blocked()
            if common.json {
                let values = try blocked.map { item -> JSONValue in
                    var object = try item.bead.bead().fields
                    object["blocked_by"] = .array(item.blockers.map(JSONValue.string))
                    return .object(object)
                }
                Console.out(JSONValue.array(values).compactText() + "\n")
            } else if common.quiet {
                Console.out(blocked.map { $0.bead.id + "\n" }.joined())
            } else {
                Console.out(
                    blocked.map {
                        BeadOutput.line($0.bead)
                            + ($0.blockers.isEmpty ? "" : "  ← " + $0.blockers.joined(separator: ", ")) + "\n"
                    }.joined())
            }
        }
    }
}

struct BeadStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Counts by status, type and priority.")

    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            let live = try store.index().all.filter { !$0.deleted }
            let readiness = try store.readiness()
            func counts(_ key: (BeadSummary) -> String) -> [String: JSONValue] {
                Dictionary(grouping: live, by: key).mapValues { .int(Int64($0.count)) }
            }
            let stats: JSONValue = .object([
                "total": .int(Int64(live.count)),
                "deleted": .int(Int64(try store.index().beads.count - live.count)),
                "ready": .int(Int64(readiness.ready().count)),
                "blocked": .int(Int64(readiness.blocked().count)),
                "by_status": .object(counts(\.status)),
                "by_type": .object(counts(\.type)),
                "by_priority": .object(counts { "P\($0.priority)" }),
            ])
            if common.json {
                Console.out(stats.compactText() + "\n")
                return
            }
            var out = "total \(live.count)   ready \(readiness.ready().count)   blocked \(readiness.blocked().count)\n"
            for (heading, key) in [("status", "by_status"), ("type", "by_type"), ("priority", "by_priority")] {
                let pairs = stats[key]!.objectValue!.sorted { $0.key < $1.key }
                out +=
                    "\(BeadOutput.pad(heading + ":", 10))"
                    + pairs.map { "\($0.key) \($0.value.intValue ?? 0)" }.joined(separator: "  ") + "\n"
            }
            Console.out(out)
        }
    }
}

struct BeadHistory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "One bead's changes, newest first, from its commit chain.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Bead id or unique prefix.") var id: String

    func run() throws {
        try reportingErrors {
            let store = try common.openStore()
            let resolved = try store.resolve(id)
            let commits = try store.history(resolved)
            if common.json {
                let values = commits.map { commit -> JSONValue in
                    .object([
                        "commit": .string(commit.id.hex), "time": .string(ISO8601.format(commit.committer.time)),
                        "op": .string(trailer("Gt-Op", commit.message) ?? ""),
                        "actor": .string(trailer("Gt-Actor", commit.message) ?? ""),
                        "message": .string(commit.message),
                    ])
                }
                Console.out(JSONValue.array(values).compactText() + "\n")
                return
            }
            var out = ""
            for commit in commits {
                let lines = commit.message.split(separator: "\n", omittingEmptySubsequences: false)
                let actor = trailer("Gt-Actor", commit.message) ?? commit.author.name
                out +=
                    "\(commit.id.hex.prefix(10))  \(ISO8601.format(commit.committer.time))  \(actor)  \(lines.first ?? "")\n"
                for line in lines.dropFirst() where !line.isEmpty && !line.hasPrefix("Gt-") { out += "    \(line)\n" }
            }
            Console.out(out)
        }
    }

    private func trailer(_ key: String, _ message: String) -> String? {
        message.split(separator: "\n").last { $0.hasPrefix(key + ": ") }.map { String($0.dropFirst(key.count + 2)) }
    }
}

func checkLimit(_ limit: Int?) throws {
    if let limit, limit < 0 { throw GasworksError(.usage, "invalid --limit '\(limit)'") }
}
