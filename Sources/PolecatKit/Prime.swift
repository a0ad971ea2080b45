import BeadKit
import GitKit
import MailKit
import MoleculeKit

/// What an agent reads to (re)start: who it is, its bead, the step it is on with full
/// instructions, the rules, and its unread mail. A restarted agent that reads it again
/// continues where the last one stopped, because all of it comes from the refs.
public enum Prime {
    public static func polecat(_ record: PolecatRecord, rig: String, repository: Repository) throws -> String {
        let beads = try BeadStore(repository: repository, actor: record.address)
        var out = "# You are \(record.address), a polecat of the rig \(rig)\n\n"
        out += "Generation \(record.generation ?? "?"). Work only in your worktree"
        out += record.worktree.map { " \($0)" } ?? ""
        out += record.branch.map { " (branch \($0))" } ?? ""
        out += ". Nobody else commits there.\n"
        if let id = record.bead, let bead = try? beads.load(id).bead {
            out += "\n## Your bead: \(id) — \(bead.title)\n\n"
            if let description = bead.description, !description.isEmpty { out += description + "\n" }
            if let acceptance = bead.string("acceptance_criteria"), !acceptance.isEmpty {
                out += "\nAcceptance: \(acceptance)\n"
            }
        }
        if let moleculeID = record.molecule {
            let molecules = MoleculeStore(beads: beads)
            let molecule = try molecules.load(moleculeID)
            out += "\n## Molecule \(molecule.id) (\(molecule.formula)): "
            out += "\(molecule.steps.filter { $0.state.isClosed }.count) of \(molecule.steps.count) steps done\n\n"
            if let next = try molecules.next(in: molecule) {
                let info = next.bead.fields[BeadStore.stepField]
                out += "Current step: \(next.step.id) (\(next.step.key)) — \(next.bead.title)"
                out += next.reason == .holding ? ", which you hold.\n" : ". Claim it: git molecule next --claim\n"
                if let description = next.bead.description, !description.isEmpty { out += "\n" + description + "\n" }
                if let acceptance = next.bead.string("acceptance_criteria"), !acceptance.isEmpty {
                    out += "\nAcceptance: \(acceptance)\n"
                }
                let checks = info?["checks"]?.arrayValue?.compactMap { $0["run"]?.stringValue } ?? []
                if !checks.isEmpty {
                    out += "\nThe witness runs these on the commit you submit:\n"
                    out += checks.map { "    \($0)\n" }.joined()
                }
                let attempts = info?["attempts"]?.intValue ?? 0
                if attempts > 0 { out += "\nFailed attempts so far: \(attempts) (see your mail for the output).\n" }
            } else if molecule.finished {
                out += "Every step is done: finish with git polecat done.\n"
            } else {
                out += "No step is workable now: a submitted step waits for the witness, or a gate for the overseer. "
                out += "Wait for mail: git mail wait\n"
            }
        }
        let unread = try Mailbox(repository: repository).deliveries(of: try Address(record.address)) {
            !$0.state.read && !$0.state.archived
        }
        out += "\n## Rules\n\n"
        out += "- Commit in your worktree; the hooks add the Gt-Bead:/Gt-Step: trailers and refuse work on a step "
        out += "that is not yet unlocked.\n"
        out += "- A step is done when its checks pass: commit with a `Gt-Step-Done: <step>` trailer (or run "
        out += "git molecule done <step>); the witness runs the checks and mails you the verdict.\n"
        out += "- Then take the next step: git molecule next --claim\n"
        out += "- Questions go to the mayor: git mail send mayor -s \"…\" -m \"…\"\n"
        out += "- When the bead is finished: git polecat done (it opens the merge request; the refinery merges).\n"
        out += "- Restarted, or lost track? Run git polecat prime again: it says where you are.\n"
        out += "\n## Mail: \(unread.count) unread\n"
        for delivery in unread.prefix(10) {
            out += "- \(delivery.message.id) from \(delivery.message.from): \(delivery.message.subject)\n"
        }
        if !unread.isEmpty { out += "Read them with git mail read <id>.\n" }
        return out
    }
}
