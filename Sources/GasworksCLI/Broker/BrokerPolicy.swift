import BeadKit
import GitKit
import MailKit

/// What a worker may do through its broker. Three layers, all in the broker's process:
/// commands that are the overseer's are refused by name; every reference the command
/// writes must be the worker's (`ReferenceGuard`); every bead state it writes must be a
/// change a worker may make to its own beads (`BeadStore.writeGuard`); mail marks go only
/// into its own mailbox (`Mailbox.stateGuard`).
enum BrokerPolicy {
    /// `<tool> <subcommand>` pairs only the overseer runs (a tool alone: all of it).
    static let overseerOnly: [String: Set<String>] = [
        "bead": ["import", "delete", "dep", "reopen", "close", "compact", "init"],
        "molecule": ["approve", "skip", "retry", "burn", "pour", "squash", "wisp", "formula"],
        "witness": ["approve", "retry", "watch"],
        "refinery": ["enqueue", "reject", "retry", "run", "start", "watch"],
        "rig": [
            "init", "sync", "worker", "convoy", "doctor", "report", "serve", "town", "install-hooks", "hooks",
        ],
        "polecat": ["sling", "nuke", "stop", "restart", "crew", "queue", "gc", "attach"],
        "deacon": [],
    ]

    /// Why `arguments` (argv of a Gasworks tool) is refused for a worker, or nil.
    static func refusal(_ arguments: [String], worker: String) -> String? {
        let (tool, words) = GasworksCommandLine.toolAndWords(arguments)
        let subcommand = words.first { !$0.hasPrefix("-") } ?? ""
        if ["-C", "--git-dir", "--work-tree"].contains(where: { flag in
            words.contains { $0 == flag || $0.hasPrefix(flag + "=") }
        }) {
            return "\(worker) runs Gasworks only in its own worktree (no -C)"
        }
        guard let refused = overseerOnly[tool] else { return nil }
        if refused.isEmpty || refused.contains(subcommand) {
            return "'git \(tool) \(subcommand)' is the overseer's: refused for \(worker)"
        }
        return nil
    }

    /// `git witness check`: an agent may ask the witness to judge now (as a commit's hook
    /// does); the witness's own code decides, as the witness, outside the worker's guards.
    static func runsAsSupervisor(_ arguments: [String]) -> Bool {
        let (tool, words) = GasworksCommandLine.toolAndWords(arguments)
        return tool == "witness" && words.first { !$0.hasPrefix("-") } == "check"
            && !words.contains { $0 == "--actor" || $0.hasPrefix("--actor=") }
    }

    /// Puts the guards in place for one brokered command of `scope`'s worker.
    static func install(_ scope: Principal.WorkerScope) {
        Principal.brokered = scope
        ReferenceGuard.check = { name, deleting in try checkReference(name, deleting: deleting, scope) }
        BeadStore.writeGuard = { old, new, authority in try checkBead(old: old, new: new, authority: authority, scope) }
        Mailbox.stateGuard = { box in
            guard box.value == scope.address else {
                throw GasworksError(
                    .refused, "\(scope.address) may mark mail only in its own mailbox, not \(box.value)'s")
            }
        }
    }

    static func checkReference(_ name: String, deleting: Bool, _ scope: Principal.WorkerScope) throws {
        let name = String(name)
        var allowed: Bool
        if name.hasPrefix(BeadStore.refPrefix) {
            allowed = !deleting  // Beads are checked by content; none is deleted by a worker.
        } else if name.hasPrefix(Mailbox.refPrefix) || name == Mailbox.stateRef || name == "refs/notes/gt/beads" {
            allowed = !deleting
        } else if scope.address.hasPrefix("polecat/") {
            let polecat = String(scope.address.dropFirst("polecat/".count))
            allowed = name == "refs/gt/polecats/" + polecat && !deleting
        } else {
            let crew = String(scope.address.dropFirst("crew/".count))
            allowed = name == "refs/gt/crew/" + crew && !deleting
        }
        if let branch = scope.branch, name == "refs/heads/" + branch { allowed = true }
        guard allowed else {
            throw GasworksError(.refused, "\(scope.address) may not \(deleting ? "delete" : "change") \(name)")
        }
    }

    /// The bead fields a worker may change on its own beads, and the step fields.
    static let workerFields: Set<String> = [
        "status", "assignee", "notes", "comments", "updated_at", "closed_at", "close_reason", "labels",
        BeadStore.stepField, "merge_request", "started_at",
    ]
    static let workerStepFields: Set<String> = ["submitted", "gate_mail", "outputs", "skipped"]

    static func checkBead(old: Bead?, new: Bead, authority: Bool, _ scope: Principal.WorkerScope) throws {
        let who = scope.address
        let id = new.id
        func refuse(_ what: String) -> GasworksError { GasworksError(.refused, "\(who) may not \(what)") }
        let request = new.fields["merge_request"]
        let ownRequest =
            new.issueType == "merge-request" && request?["branch"]?.stringValue == scope.branch
            && request?["molecule"]?.stringValue == scope.molecule
        guard let old else {
            if new.fields[BeadStore.stepField] != nil || new.issueType == "molecule" {
                throw refuse("create steps or molecules (\(id)): pouring is the overseer's")
            }
            if new.issueType == "merge-request", !ownRequest {
                throw refuse("queue a merge request for another branch or molecule than its own")
            }
            if new.status == .closed || new.isDeleted { throw refuse("create a closed bead (\(id))") }
            return
        }
        guard scope.owns(bead: id) || ownRequest else { throw refuse("change \(id): it is not its own") }
        if new.isDeleted { throw refuse("delete \(id)") }
        for key in Set(old.fields.keys).union(new.fields.keys) where old.fields[key] != new.fields[key] {
            guard workerFields.contains(key) else { throw refuse("change \(key) of \(id)") }
        }
        let before = old.fields[BeadStore.stepField]?.objectValue ?? [:]
        let after = new.fields[BeadStore.stepField]?.objectValue ?? [:]
        for key in Set(before.keys).union(after.keys) where before[key] != after[key] {
            guard workerStepFields.contains(key) else { throw refuse("change step.\(key) of \(id)") }
            if key == "skipped", after[key]?["by"]?.stringValue != "molecule" { throw refuse("skip \(id)") }
        }
        if old.fields["merge_request"] != new.fields["merge_request"], !ownRequest {
            throw refuse("change the merge request \(id)")
        }
        if let assignee = new.assignee, assignee != old.assignee, assignee != who {
            throw refuse("assign \(id) to \(assignee)")
        }
        if old.status != new.status {
            if old.status == .blocked { throw refuse("unblock \(id): a retry is the overseer's") }
            if new.status == .closed {
                // Only the molecule's own settling closes steps in a worker's command (joins,
                // timer and mail gates, false conditions); its request it may withdraw.
                let settles =
                    authority && old.fields[BeadStore.stepField] != nil && before["checks"] == nil
                    && before["gate"]?["type"]?.stringValue != "human"
                let molecule = authority && id == scope.molecule
                guard settles || molecule || ownRequest else { throw refuse("close \(id)") }
            }
        }
    }
}
