import ArgumentParser
import BeadKit
import GitKit
import MoleculeKit
import PolecatKit

struct GitPolecat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "polecat",
        abstract: "Disposable workers: a claimed bead, a branch and worktree, and an agent process.",
        discussion: """
            Exit status: 0 success; 1 refused (the bead is not open, the name is taken, no free \
            name); 2 unknown bead or polecat; 3 ambiguous id prefix; 64 invalid arguments; 65 corrupt \
            stored data; 128 not a git repository, or git or the agent could not be started.
            """,
        subcommands: [
            PolecatSling.self, PolecatPrime.self, PolecatDone.self, PolecatList.self, PolecatStatus.self,
            PolecatHeartbeat.self, PolecatLogs.self, PolecatStop.self, PolecatRestart.self, PolecatNuke.self,
            PolecatGC.self, PolecatQueue.self, PolecatAttach.self, PolecatCrew.self,
        ])
}

extension CommonOptions {
    func openPolecats() throws -> Polecats {
        let store = try openStore()
        return try Polecats(repository: store.repository, actor: store.actor)
    }
}

extension Polecats {
    /// Runs `git polecat queue --start` detached (its own process group, log
    /// `<common dir>/gt/polecat-queue.log`) when anything is queued.
    func startQueuedDetached(_ common: CommonOptions) {
        guard let queued = try? store.all().contains(where: { $0.state == .queued }), queued else { return }
        let directory = repository.commonDir + "gt"
        LocalFile.makeDirectories(directory)
        do {
            _ = try ChildProcess.spawnDetached(
                [
                    LocalFile.currentExecutable() ?? "gasworks", "polecat", "queue", "--start", "-q", "-C",
                    repository.commonDir,
                ],
                in: repository.commonDir,
                environment: ChildProcess.environment(
                    removing: ChildProcess.repositoryVariables, removingPrefixes: ["GT_"]),
                log: directory + "/polecat-queue.log")
        } catch {
            Console.error("warning: queued polecats not started: \(error)\n")
        }
    }

    /// Starts queued polecats after a slot freed up (done, stop, nuke, gc), and says so.
    func startQueuedAndReport(_ common: CommonOptions) throws {
        let rig = rigName()
        // The command itself succeeded: trouble starting the queue is a warning, not its failure.
        do {
            for record in try startQueued(prompt: { try Prime.polecat($0, rig: rig, repository: repository) })
            where !common.quiet && !common.json {
                Console.out("started queued \(record.address) on \(record.bead ?? "?")\n")
            }
        } catch let error as GasworksError {
            Console.error("warning: queued polecats not started: \(error.message)\n")
        }
    }
}

/// Agent command templates for the CLIs Gasworks knows; any other command works too.
enum AgentPreset {
    static let templates = [
        "claude": "claude --dangerously-skip-permissions -p \"$(cat {prompt_file})\"",
        "codex": "codex exec --full-auto \"$(cat {prompt_file})\"",
        "gemini": "gemini --yolo -p \"$(cat {prompt_file})\"",
        "aider": "aider --yes-always --message-file {prompt_file}",
    ]

    static func command(_ given: String?, repository: Repository) throws -> String {
        guard let chosen = try given ?? repository.config("gt.agent"), !chosen.isEmpty else {
            throw GasworksError(
                .usage,
                "no agent: give --agent (\(templates.keys.sorted().joined(separator: ", ")) or a command) or set gt.agent"
            )
        }
        return templates[chosen] ?? chosen
    }
}

struct PolecatSling: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sling",
        abstract: "Give a bead to a new polecat: claim, branch, worktree, formula, prompt, agent.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The bead to work on.") var bead: String
    @Option(name: .long, help: "Pour this formula onto the bead first.") var formula: String?
    @Option(name: .long, help: ArgumentHelp("A formula variable (repeatable).", valueName: "name=value"))
    var `var`: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "claude, codex, gemini, aider, or a command ({prompt_file}, {worktree}, {bead}); default gt.agent.",
            valueName: "agent"))
    var agent: String?
    @Option(name: .long, help: "The polecat's name (default: the next free one).") var name: String?
    @Option(
        name: .long,
        help: ArgumentHelp("detached (default) or tmux (attach with git polecat attach).", valueName: "kind"))
    var session: String = "detached"

    func validate() throws {
        guard ["detached", "tmux"].contains(session) else {
            throw ValidationError("unknown session '\(session)' (detached or tmux)")
        }
    }

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let command = try AgentPreset.command(agent, repository: polecats.repository)
            var molecule: String?
            let molecules = try common.openMolecules()
            if let formula {
                // Only on a bead that can be slung; undone if the sling fails.
                let target = try molecules.beads.resolve(bead)
                let status = try molecules.beads.load(target).bead.status
                guard status == .open else {
                    throw GasworksError(.refused, "cannot sling '\(target)': it is \(status.rawValue)")
                }
                let cooked = try Cook(library: common.library()).cook(named: formula, vars: try parseVars(`var`))
                molecule = try molecules.pour(cooked, on: target).id
            }
            let rig = polecats.rigName()
            let record: PolecatRecord
            do {
                record = try polecats.sling(
                    Polecats.Sling(bead: bead, name: name, agent: command, molecule: molecule, tmux: session == "tmux")
                ) { record in
                    try Prime.polecat(record, rig: rig, repository: polecats.repository)
                }
            } catch {
                if let molecule { _ = try? molecules.burn(molecule, reason: "sling failed") }
                throw error
            }
            if common.json {
                Console.out(record.json.compactText() + "\n")
            } else if common.quiet {
                Console.out(record.name + "\n")
            } else if record.state == .queued {
                Console.out("queued \(record.bead ?? "?") for \(record.address): gt.polecat.max polecats are running\n")
            } else {
                Console.out(
                    "slung \(record.bead ?? "?") to \(record.address): branch \(record.branch ?? "?"), "
                        + "worktree \(record.worktree ?? "?"), agent pid \(record.pid.map(String.init) ?? "?")\n")
            }
        }
    }
}

struct PolecatPrime: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prime", abstract: "Everything an agent needs to (re)start: role, bead, current step, rules, mail."
    )
    @OptionGroup var common: CommonOptions
    @Option(name: .long, help: "The polecat (default: $GT_POLECAT, or this checkout's worker).") var name: String?
    @Option(name: .long, help: "polecat (default), crew or mayor.") var role: String = "polecat"

    func validate() throws {
        guard ["polecat", "crew", "mayor"].contains(role) else {
            throw ValidationError("unknown role '\(role)' (polecat, crew or mayor)")
        }
    }

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            if role == "mayor" {
                Console.out(
                    try Prime.mayor(rig: polecats.rigName(), repository: polecats.repository, polecats: polecats))
                return
            }
            if role == "crew" {
                guard let chosen = name ?? ProcessEnvironment["GT_CREW"].flatMap({ $0.isEmpty ? nil : $0 }) else {
                    throw GasworksError(.usage, "which crew member? give --name, or set GT_CREW")
                }
                let record = try polecats.crew.require(chosen)
                Console.out(try Prime.crew(record, rig: polecats.rigName(), repository: polecats.repository))
                return
            }
            let record = try polecats.current(name)
            Console.out(try Prime.polecat(record, rig: polecats.rigName(), repository: polecats.repository))
        }
    }
}

enum PolecatOutput {
    static func line(_ record: PolecatRecord) -> String {
        let alive = Polecats.isAlive(record) ? "alive" : "not running"
        return
            "\(record.name.padding(10)) \(record.state.rawValue.padding(8)) \((record.bead ?? "-").padding(12)) "
            + "\(record.state == .running ? alive : "-")  \(record.branch ?? "-")\n"
    }

    static func emit(_ records: [PolecatRecord], _ common: CommonOptions) {
        if common.json {
            Console.out(JSONValue.array(records.map(json)).compactText() + "\n")
        } else if common.quiet {
            Console.out(records.map { $0.name + "\n" }.joined())
        } else {
            Console.out(records.map(line).joined())
        }
    }

    static func json(_ record: PolecatRecord) -> JSONValue {
        var fields = record.json.objectValue ?? [:]
        fields["alive"] = .bool(Polecats.isAlive(record))
        return .object(fields)
    }
}

struct PolecatList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Polecats and crew, with state.")
    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "Include nuked records.") var all = false

    func run() throws {
        try reportingErrors {
            let records = try common.openPolecats().store.all().filter { all || $0.state != .nuked }
            PolecatOutput.emit(records, common)
        }
    }
}

struct PolecatStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "One polecat: bead, step, branch head, process, record.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The polecat's name.") var name: String

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let record = try polecats.store.require(name)
            let facts = try polecats.facts(record)
            if common.json {
                var object = PolecatOutput.json(record).objectValue ?? [:]
                if let step = facts.step { object["step"] = .string(step) }
                if let beat = facts.heartbeat { object["last_heartbeat"] = .string(beat) }
                object["unread_mail"] = .int(Int64(facts.unread))
                Console.out(JSONValue.object(object).compactText() + "\n")
                return
            }
            var out = "\(record.address)  \(record.state.rawValue), generation \(record.generation ?? "?")\n"
            out += "  bead:      \(record.bead ?? "-")\n"
            if let molecule = record.molecule { out += "  molecule:  \(molecule)\n" }
            out += "  branch:    \(record.branch ?? "-")"
            if let branch = record.branch, let head = try? polecats.repository.revparse("refs/heads/" + branch) {
                out += " at \(head.hex.prefix(12)) \(try polecats.repository.commit(head).message.firstLine)"
            }
            out += "\n  step:      \(facts.step ?? "-")\n"
            out += "  heartbeat: \(facts.heartbeat ?? "none")\n"
            out += "  mail:      \(facts.unread) unread\n"
            out += "  worktree:  \(record.worktree ?? "-")\n"
            out +=
                "  agent:     pid \(record.pid.map(String.init) ?? "-") (\(Polecats.isAlive(record) ? "alive" : "not running"))\n"
            Console.out(out)
        }
    }
}

struct PolecatDone: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "done", abstract: "Finish: a merge request for the branch head, mail to the refinery and witness.")
    @OptionGroup var common: CommonOptions
    @Option(name: .long, help: "The polecat (default: $GT_POLECAT, or this checkout's worker).") var name: String?

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let request = try polecats.done(try polecats.current(name))
            BeadOutput.emitChange(request, verb: "merge request", common)
            // The refinery takes it from here, unless one already runs (gt.refinery.auto).
            RefineryTrigger.startQuietly(polecats.repository, common)
            // This runs inside the agent, which the refinery may stop (nuke) any moment now:
            // queued polecats are started by a process of its own, not killed with it.
            polecats.startQueuedDetached(common)
        }
    }
}

struct PolecatHeartbeat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heartbeat", abstract: "Say this polecat is alive (a file's time; no commit).")
    @OptionGroup var common: CommonOptions
    @Option(name: .long, help: "The polecat (default: $GT_POLECAT, or this checkout's worker).") var name: String?

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            try polecats.heartbeat(try polecats.current(name))
        }
    }
}

struct PolecatLogs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "What the polecat's agent printed (its current generation).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The polecat's name.") var name: String

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let record = try polecats.store.require(name)
            let path = polecats.directory(name) + "/agent-\(record.generation ?? "").log"
            Console.out(try Console.readFile(path))
        }
    }
}

struct PolecatStop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop the polecat's agent; its worktree and branch stay.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The polecat's name.") var name: String

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let record = try polecats.stop(name)
            if !common.quiet { Console.out("stopped \(record.address)\n") }
            try polecats.startQueuedAndReport(common)
        }
    }
}

struct PolecatRestart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart", abstract: "A fresh agent in the same worktree, with a new generation.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The polecat's name.") var name: String

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let rig = polecats.rigName()
            let record = try polecats.restart(name) { try Prime.polecat($0, rig: rig, repository: polecats.repository) }
            if common.json {
                Console.out(PolecatOutput.json(record).compactText() + "\n")
            } else if !common.quiet {
                Console.out(
                    "restarted \(record.address): generation \(record.generation ?? "?"), pid \(record.pid.map(String.init) ?? "?")\n"
                )
            }
        }
    }
}

struct PolecatNuke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nuke", abstract: "Remove a polecat: agent, worktree, and its branch once merged.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The polecat's name.") var name: String
    @Flag(name: .long, help: "Also when its work is unmerged or uncommitted (the branch is kept).") var force = false
    @Flag(name: .long, help: "With --force: delete the unmerged branch too (its commits are lost).") var discard = false

    func validate() throws {
        if discard, !force { throw ValidationError("--discard needs --force") }
    }

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let done = try polecats.nuke(name, force: force, discard: discard)
            if !common.quiet { Console.out(done.map { $0 + "\n" }.joined()) }
            try polecats.startQueuedAndReport(common)
        }
    }
}

struct PolecatGC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Nuke every polecat whose work is merged and whose agent is gone.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let done = try polecats.gc()
            if !common.quiet { Console.out(done.isEmpty ? "nothing to collect\n" : done.map { $0 + "\n" }.joined()) }
            try polecats.startQueuedAndReport(common)
        }
    }
}

struct PolecatQueue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "The polecats waiting for a slot (gt.polecat.max), oldest first; --start starts what fits.")
    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "Start queued polecats while slots are free.") var start = false

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            if start { try polecats.startQueuedAndReport(common) }
            let queued = try polecats.queue()
            if common.json {
                Console.out(JSONValue.array(queued.map { PolecatOutput.json($0) }).compactText() + "\n")
            } else if !common.quiet || !start {
                for record in queued {
                    Console.out(
                        "\(record.address) \(record.bead ?? "-") queued \(record.string("queued_at") ?? "-")"
                            + (record.string("launching") != nil ? " (starting)" : "") + "\n")
                }
            }
        }
    }
}

struct PolecatAttach: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach", abstract: "Attach to a polecat's tmux session (slung with --session tmux).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The polecat's name.") var name: String

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let record = try polecats.store.require(name)
            guard record.string("session") == "tmux" else {
                throw GasworksError(
                    .refused, "\(record.address) runs detached: read its output with git polecat logs \(name)")
            }
            try Tmux.attach(polecats.tmuxSession(record))
        }
    }
}

struct PolecatCrew: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crew", abstract: "Long-lived workers (agents or humans) with persistent worktrees.",
        subcommands: [CrewAdd.self, CrewList.self, CrewAttach.self, CrewRemove.self])
}

struct CrewAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a crew member: branch crew/<name>, worktree, hooks, and its agent if given.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The crew member's name (mayor: the agent the overseer talks to).") var name: String
    @Option(name: .long, help: "claude, codex, gemini, aider, or a command; none for a human.") var agent: String?
    @Flag(name: .long, help: "Run the agent detached instead of in a tmux session.") var detached = false

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let command = try agent.map { try AgentPreset.command($0, repository: polecats.repository) }
            let rig = polecats.rigName()
            let record = try polecats.addCrew(name, agent: command, tmux: !detached) { record in
                record.name == "mayor"
                    ? try Prime.mayor(rig: rig, repository: polecats.repository, polecats: polecats)
                    : try Prime.crew(record, rig: rig, repository: polecats.repository)
            }
            if common.json {
                Console.out(PolecatOutput.json(record).compactText() + "\n")
            } else if !common.quiet {
                Console.out(
                    "added \(record.address): worktree \(record.worktree ?? "?") on \(record.branch ?? "?")"
                        + (record.pid.map { ", agent pid \($0)" } ?? "") + "\n")
            }
        }
    }
}

struct CrewList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Crew members.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let records = try common.openPolecats().crew.all().filter { $0.state != .nuked }
            PolecatOutput.emit(records, common)
        }
    }
}

struct CrewAttach: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach", abstract: "Attach to a crew member's tmux session.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The crew member's name.") var name: String

    func run() throws {
        try reportingErrors {
            let polecats = try common.openPolecats()
            let record = try polecats.crew.require(name)
            guard record.string("session") == "tmux" else {
                throw GasworksError(.refused, "\(record.address) has no tmux session")
            }
            try Tmux.attach(polecats.tmuxSession(record))
        }
    }
}

struct CrewRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a crew member: agent, worktree, and its branch once merged.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The crew member's name.") var name: String
    @Flag(name: .long, help: "Also with unmerged commits (the branch is kept).") var force = false

    func run() throws {
        try reportingErrors {
            let done = try common.openPolecats().removeCrew(name, force: force)
            if !common.quiet { Console.out(done.map { $0 + "\n" }.joined()) }
        }
    }
}
