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
        out += "\n## Rules\n\n"
        out += "- Commit in your worktree; the hooks add the Gt-Bead:/Gt-Step: trailers and refuse work on a step "
        out += "that is not yet unlocked.\n"
        out += "- A step is done when its checks pass: commit with a `Gt-Step-Done: <step>` trailer (or run "
        out += "git molecule done <step>); the witness runs the checks and mails you the verdict.\n"
        out += "- Wait for that verdict before going on (git mail wait): the next step stays locked until then, "
        out += "and a failed check comes back to you with its output to fix.\n"
        out += "- Then take the next step: git molecule next --claim\n"
        out += "- Questions go to the mayor: git mail send mayor -s \"…\" -m \"…\"\n"
        out += "- When the bead is finished: git polecat done (it opens the merge request; the refinery merges).\n"
        out += "- Then wait for the refinery's answer (git mail wait): MERGED ends your work; Bounced means the "
        out += "target moved under you: merge it, resolve, commit, and git polecat done again.\n"
        out += "- Restarted, or lost track? Run git polecat prime again: it says where you are.\n"
        return out + unreadMail(record.address, repository: repository)
    }
}

extension Prime {
    /// The mayor's view: the rig's open and ready work, who is working, free capacity, its
    /// unread mail, and how to file beads, pour formulas and sling.
    public static func mayor(rig: String, repository: Repository, polecats: Polecats) throws -> String {
        let beads = try BeadStore(repository: repository, actor: "mayor")
        var out = "# You are the mayor of the rig \(rig)\n\n"
        out += "You talk with the overseer, file work as beads, pour formulas and sling work to polecats. "
        out += "You do not write code yourself.\n"
        let index = try beads.index()
        let open = index.beads.values.filter {
            !$0.deleted && $0.status != BeadStatus.closed.rawValue
                && !["step", "molecule", "merge-request"].contains($0.type)
        }
        let ready = try beads.readiness().ready().filter { !["step", "gate", "molecule"].contains($0.type) }
        out += "\n## Work: \(open.count) open, \(ready.count) ready\n\n"
        for bead in ready.prefix(15) { out += "- \(bead.id) [P\(bead.priority)] \(bead.title)\n" }
        let records = try polecats.store.all()
        let running = records.filter { $0.kind == .polecat && $0.state == .running }
        let queued = records.filter { $0.state == .queued }
        let limit = try repository.config("gt.polecat.max").flatMap { Int($0) }
        out += "\n## Polecats: \(running.count) running"
        out += limit.map { ", \(max(0, $0 - running.count)) free of \($0)" } ?? ""
        out += queued.isEmpty ? "\n\n" : ", \(queued.count) queued\n\n"
        for record in running {
            out += "- \(record.name): \(record.bead ?? "-")\(Polecats.isAlive(record) ? "" : " (agent not running)")\n"
        }
        out += "\n## How\n\n"
        out += "- File work: git bead create \"Title\" -d \"…\" [-p 1] [--parent <epic>] [--deps blocks:<id>]\n"
        out += "- Choose a workflow: git molecule formula list; git molecule formula show <formula>\n"
        out += "- Give work to a polecat: git polecat sling <bead> --formula <formula> --var name=value\n"
        out += "- Watch: git polecat list; git molecule progress <molecule>; git mail inbox\n"
        out += "- Tell the overseer when input is needed or work is done: git mail send overseer -s \"…\"\n"
        return out + unreadMail("mayor", repository: repository)
    }

    /// A crew member's view: a long-lived worker with a worktree of its own.
    public static func crew(_ record: PolecatRecord, rig: String, repository: Repository) throws -> String {
        var out = "# You are \(record.address), crew of the rig \(rig)\n\n"
        out += "Your worktree: \(record.worktree ?? "-") (branch \(record.branch ?? "-")). "
        out += "Claim work with git bead ready --claim; commit there; the hooks keep the step order.\n"
        let beads = try BeadStore(repository: repository, actor: record.address)
        let held = try beads.index().beads.values.filter {
            $0.status == BeadStatus.inProgress.rawValue && $0.assignee == record.address
        }
        out += "\n## Held: \(held.count)\n\n"
        for bead in held.sorted(by: { $0.id < $1.id }) { out += "- \(bead.id) \(bead.title)\n" }
        return out + unreadMail(record.address, repository: repository)
    }

    static func unreadMail(_ address: String, repository: Repository) -> String {
        guard let box = try? Address(address), let mailbox = try? Mailbox(repository: repository),
            let unread = try? mailbox.deliveries(of: box, include: { !$0.state.read && !$0.state.archived })
        else { return "" }
        var out = "\n## Mail: \(unread.count) unread\n"
        for delivery in unread.prefix(10) {
            out += "- \(delivery.message.id) from \(delivery.message.from): \(delivery.message.subject)\n"
        }
        if !unread.isEmpty { out += "Read them with git mail read <id>.\n" }
        return out
    }
}
