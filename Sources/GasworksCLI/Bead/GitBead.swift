import ArgumentParser
import BeadKit

struct GitBead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bead",
        abstract: "The work ledger: beads stored as refs/gt/beads/<id> in this repository.",
        discussion: """
            Exit status: 0 success; 1 refused by the rules (claim lost, cycle, nothing ready);
            2 unknown id; 3 ambiguous id prefix; 64 invalid arguments or field values;
            65 malformed input or a corrupt stored bead; 128 not a git repository.
            """,
        subcommands: [
            BeadInit.self, BeadCreate.self, BeadShow.self, BeadList.self, BeadUpdate.self, BeadClaim.self,
            BeadReady.self, BeadBlocked.self, BeadClose.self, BeadReopen.self, BeadDep.self, BeadLabel.self,
            BeadComment.self, BeadHistory.self, BeadSearch.self, BeadStats.self, BeadImport.self, BeadExport.self,
            BeadDelete.self,
        ])
}

struct BeadInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Set the rig's bead id prefix (gt.prefix).")

    @OptionGroup var common: CommonOptions
    @Option(name: .long, help: "Id prefix: letters, digits and _, at most 16 (for example gw).")
    var prefix: String

    func run() throws {
        try reportingErrors {
            guard BeadID.isValidPrefix(prefix) else {
                throw GasworksError(.usage, "invalid prefix '\(prefix)' (letters, digits and _, at most 16)")
            }
            let repository = try common.openRepository()
            try repository.setConfig("gt.prefix", prefix)
            if common.json {
                Console.out(JSONValue.object(["prefix": .string(prefix)]).compactText() + "\n")
            } else if !common.quiet {
                Console.out("bead prefix set to '\(prefix)'\n")
            }
        }
    }
}

/// Text and JSON renderings of beads, shared by every subcommand.
enum BeadOutput {
    static func line(_ summary: BeadSummary) -> String {
        let assignee = summary.assignee.isEmpty ? "-" : summary.assignee
        return
            "\(pad(summary.id, 12)) P\(summary.priority)  \(pad(summary.status, 11)) \(pad(summary.type, 8)) \(pad(assignee, 12)) \(summary.title)"
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func emitList(_ summaries: [BeadSummary], _ common: CommonOptions) throws {
        if common.json {
            Console.out(JSONValue.array(try summaries.map { try $0.bead().json }).compactText() + "\n")
        } else if common.quiet {
            Console.out(summaries.map { $0.id + "\n" }.joined())
        } else {
            Console.out(summaries.map { line($0) + "\n" }.joined())
        }
    }

    /// A changed bead: its id with `-q`, the whole object with `--json`, else a sentence.
    static func emitChange(_ stored: StoredBead, verb: String, _ common: CommonOptions) {
        if common.json {
            Console.out(stored.bead.json.compactText() + "\n")
        } else if common.quiet {
            Console.out(stored.bead.id + "\n")
        } else {
            Console.out("\(verb) \(stored.bead.id): \(stored.bead.title)\n")
        }
    }

    static func show(_ bead: Bead, dependents: [BeadSummary], index: BeadIndex) -> String {
        var out =
            "\(bead.id)  [P\(bead.priority) \(bead.issueType) \(bead.string("status") ?? "open")]  \(bead.title)\n"
        var facts: [String] = []
        if let assignee = bead.assignee { facts.append("assignee: \(assignee)") }
        if !bead.labels.isEmpty { facts.append("labels: \(bead.labels.joined(separator: ", "))") }
        if let created = bead.createdAt {
            facts.append("created: \(created)" + (bead.string("created_by").map { " by \($0)" } ?? ""))
        }
        if let updated = bead.updatedAt { facts.append("updated: \(updated)") }
        if let closed = bead.string("closed_at") {
            facts.append("closed: \(closed)" + (bead.string("close_reason").map { " (\($0))" } ?? ""))
        }
        for key in ["external_ref", "defer_until", "due_at", "deleted_at", "deleted_by", "delete_reason"] {
            if let value = bead.string(key) { facts.append("\(key): \(value)") }
        }
        out += facts.map { "  \($0)\n" }.joined()
        for (heading, key) in [
            ("Description", "description"), ("Design", "design"), ("Acceptance criteria", "acceptance_criteria"),
            ("Notes", "notes"),
        ] {
            if let text = bead.string(key), !text.isEmpty {
                out +=
                    "\n\(heading):\n"
                    + text.split(separator: "\n", omittingEmptySubsequences: false).map { "  \($0)\n" }.joined()
            }
        }
        if let metadata = bead.fields["metadata"] { out += "\nMetadata: \(metadata.compactText())\n" }
        if !bead.dependencies.isEmpty {
            out += "\nDepends on:\n"
            for dependency in bead.dependencies {
                let target = index.beads[dependency.dependsOn]
                out +=
                    "  \(dependency.type.rawValue) \(dependency.dependsOn) (\(target?.status ?? "missing")) \(target?.title ?? "")\n"
            }
        }
        if !dependents.isEmpty {
            out += "\nDependents:\n"
            for dependent in dependents {
                let types = dependent.dependencies.filter { $0.target == bead.id }.map(\.type).joined(separator: ",")
                out += "  \(types) \(dependent.id) (\(dependent.status)) \(dependent.title)\n"
            }
        }
        if !bead.comments.isEmpty {
            out += "\nComments:\n"
            for comment in bead.comments {
                out += "  [\(comment.id)] \(comment.author) at \(comment.createdAt):\n"
                out += comment.text.split(separator: "\n", omittingEmptySubsequences: false).map { "    \($0)\n" }
                    .joined()
            }
        }
        return out
    }
}
