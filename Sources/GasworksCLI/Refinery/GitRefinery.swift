import ArgumentParser
import BeadKit
import GitKit
import HookKit
import PolecatKit
import RefineryKit

#if canImport(Glibc)
    import Glibc
#endif

struct GitRefinery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refinery",
        abstract:
            "The merge queue: lands verified merge requests on the target branch, one gate-tested commit at a time.",
        discussion: """
            Exit status: 0 success (a run that bounced requests succeeded too; so does a run that \
            found another refinery holding the lease); 1 refused (the target itself fails the gate, \
            a request that cannot be retried or rejected); 2 unknown request or branch; 3 ambiguous \
            id prefix; 64 invalid arguments or configuration; 65 corrupt stored data; 128 not a git \
            repository or git failed.
            """,
        subcommands: [
            RefineryRun.self, RefineryQueueCommand.self, RefineryStatus.self, RefineryEnqueue.self,
            RefineryRetry.self, RefineryReject.self, RefineryTrigger.self,
        ])
}

extension CommonOptions {
    func openQueue() throws -> RefineryQueue {
        RefineryQueue(beads: try BeadStore(repository: try openRepository(), actor: actor ?? "refinery"))
    }
}

enum RefineryOutput {
    static func json(_ request: MergeRequest, position: Int? = nil) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(request.id), "title": .string(request.bead.title), "branch": .string(request.branch),
            "head": .string(request.head?.hex ?? ""), "state": .string(request.state.rawValue),
            "status": .string(request.bead.status.rawValue), "priority": .int(Int64(request.bead.priority)),
            "created_at": .string(request.bead.createdAt ?? ""),
        ]
        if let position { object["position"] = .int(Int64(position)) }
        for (key, value) in [
            ("polecat", request.polecat), ("bead", request.workBead), ("molecule", request.molecule),
            ("reason", request.reason), ("merged_as", request.string("merged_as")),
        ] {
            if let value { object[key] = .string(value) }
        }
        return .object(object)
    }

    static func line(_ request: MergeRequest, position: Int?) -> String {
        let head = request.head.map { String($0.hex.prefix(12)) } ?? "?"
        let place = position.map { "\($0). " } ?? ""
        let owner = request.polecat.map { " polecat/\($0)" } ?? ""
        var text =
            "\(place)\(request.id) P\(request.bead.priority) \(request.state.rawValue) \(request.branch) \(head)\(owner)"
        if let reason = request.reason, request.state != .queued { text += " — " + reason.firstLine }
        return text + "\n"
    }

    static func event(_ event: RefineryEvent) -> JSONValue {
        var object: [String: JSONValue] = [
            "kind": .string(event.kind.rawValue), "request": .string(event.request), "reason": .string(event.reason),
        ]
        if let commit = event.commit { object["commit"] = .string(commit.hex) }
        if !event.paths.isEmpty { object["paths"] = .array(event.paths.map { .string($0) }) }
        if !event.detail.isEmpty { object["detail"] = .string(event.detail) }
        return .object(object)
    }
}

struct RefineryRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Take the lease and land the queue: verify, merge-tree, gate, compare-and-swap the target.")
    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "Drain the queue once and exit (the default).") var once = false
    @Flag(name: .long, help: "Keep running: take new merge requests as they arrive.") var watch = false
    @Option(name: .long, help: "With --watch: seconds between looks at the queue.") var interval: Double = 2
    @Option(name: .long, help: "With --watch: stop after this many seconds.") var timeout: Double?

    func validate() throws {
        if once && watch { throw ValidationError("give --once or --watch, not both") }
        if interval <= 0 || interval > 3600 { throw ValidationError("--interval must be between 0 and 3600 seconds") }
        if let timeout, timeout < 0 { throw ValidationError("--timeout must not be negative") }
    }

    func run() throws {
        try reportingErrors {
            let refinery = try Refinery(repository: try common.openRepository())
            let printing = !common.quiet && !common.json
            if printing { refinery.log = { Console.out($0) } }
            let result = try refinery.run(watch: watch, interval: interval, timeout: timeout)
            if case .busy(let holder) = result {
                if printing {
                    Console.out(
                        "another refinery (\(holder.name)) holds the lease until "
                            + "\(ISO8601.format(holder.expires)); it takes the queue\n")
                }
                if common.json { Console.out("{\"busy\":\"\(holder.name)\",\"events\":[]}\n") }
                return
            }
            let events = refinery.events
            if common.json {
                Console.out(
                    JSONValue.object([
                        "gate_runs": .int(Int64(refinery.gateRuns)),
                        "events": .array(events.map(RefineryOutput.event)),
                    ]).compactText() + "\n")
            } else if common.quiet {
                Console.out(events.map { "\($0.kind.rawValue) \($0.request)\n" }.joined())
            } else {
                let merged = events.filter { $0.kind == .merged || $0.kind == .recovered }.count
                let bounced = events.filter { $0.kind == .bounced }.count
                Console.out(
                    events.isEmpty
                        ? "nothing to land\n"
                        : "\(merged) merged, \(bounced) bounced, \(refinery.gateRuns) gate run\(refinery.gateRuns == 1 ? "" : "s")\n"
                )
            }
            if events.contains(where: { $0.kind == .targetRed }) {
                throw GasworksError(.refused, "the gate fails on \(refinery.target) itself; the overseer is mailed")
            }
        }
    }
}

struct RefineryQueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "List queued merge requests in the order the refinery takes them.")
    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "Every merge request, with its state (merged, bounced, rejected, …).") var all = false

    func run() throws {
        try reportingErrors {
            let queue = try common.openQueue()
            let target = try RigConfig.target(queue.repository)
            let requests = try MergeRequest.all(in: queue.beads)
            let queued = MergeRequest.queue(of: requests, target: target)
            var rows: [(MergeRequest, Int?)] = queued.enumerated().map { ($1, $0 + 1) }
            if all {
                let ids = Set(queued.map(\.id))
                rows += requests.filter { !ids.contains($0.id) }.map { ($0, nil) }
            }
            if common.json {
                Console.out(
                    JSONValue.array(rows.map { RefineryOutput.json($0.0, position: $0.1) }).compactText() + "\n")
            } else if common.quiet {
                Console.out(rows.map { $0.0.id + "\n" }.joined())
            } else if rows.isEmpty {
                Console.out("the queue is empty\n")
            } else {
                Console.out(rows.map { RefineryOutput.line($0.0, position: $0.1) }.joined())
            }
        }
    }
}

struct RefineryStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Who holds the lease, the settings, the queue and what was landed or bounced.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let queue = try common.openQueue()
            let repository = queue.repository
            let settings = try RefinerySettings.read(repository)
            let target = try RigConfig.target(repository)
            let lease = try Lease.read(repository)
            let now = Int64(time(nil))
            let holder = lease?.holder
            let live = holder.map { !$0.isDead(now: now, host: Lease.hostName()) } ?? false
            let all = try MergeRequest.all(in: queue.beads)
            let queued = MergeRequest.queue(of: all, target: target)
            let merged = all.filter { $0.state == .merged }
            let bounced = all.filter { $0.state == .bounced && $0.bead.status != .closed }
            if common.json {
                var object: [String: JSONValue] = [
                    "target": .string(target), "gate": settings.gate.map { .string($0) } ?? .null,
                    "batch": .int(Int64(settings.batch)), "retries": .int(Int64(settings.retries)),
                    "mode": .string(settings.mode.rawValue), "auto": .bool(settings.auto),
                    "queue": .array(queued.enumerated().map { RefineryOutput.json($1, position: $0 + 1) }),
                    "bounced": .array(bounced.map { RefineryOutput.json($0) }),
                    "merged": .int(Int64(merged.count)),
                ]
                if let holder {
                    object["lease"] = .object([
                        "holder": .string(holder.name), "expires": .int(holder.expires), "live": .bool(live),
                        "current": .array(holder.current.map { .string($0) }),
                    ])
                }
                Console.out(JSONValue.object(object).compactText() + "\n")
                return
            }
            var out = "target \(target); gate \(settings.gate.map { "'\($0)'" } ?? "none")"
            out += "; batch \(settings.batch); retries \(settings.retries); mode \(settings.mode.rawValue)\n"
            if let holder, live {
                out += "running: \(holder.name), lease until \(ISO8601.format(holder.expires))"
                out += holder.current.isEmpty ? "\n" : ", on \(holder.current.joined(separator: " "))\n"
            } else if let holder {
                out += "idle (the lease of \(holder.name) has lapsed; the next run takes over)\n"
            } else {
                out += "idle\n"
            }
            out += "queue: \(queued.count)\n"
            out += queued.enumerated().map { "  " + RefineryOutput.line($1, position: $0 + 1) }.joined()
            if !bounced.isEmpty {
                out += "bounced: \(bounced.count)\n"
                out += bounced.map { "  " + RefineryOutput.line($0, position: nil) }.joined()
            }
            let recent = merged.sorted { ($0.bead.string("closed_at") ?? "") > ($1.bead.string("closed_at") ?? "") }
            out += "merged: \(merged.count)\n"
            out += recent.prefix(5).map { "  " + RefineryOutput.line($0, position: nil) }.joined()
            if !common.quiet { Console.out(out) }
        }
    }
}

struct RefineryEnqueue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue", abstract: "Queue a branch (its current head) as a merge request for the target.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The branch to land.") var branch: String
    @Option(name: .long, help: "The bead the branch works on (closed when it lands).") var bead: String?
    @Option(name: .long, help: "The molecule whose steps must verify (git witness verify).") var molecule: String?
    @Option(name: [.short, .long], help: "Priority 0 (first) to 4.") var priority: String?
    @Option(name: .long, help: "A title (default: Merge <branch>).") var title: String?

    func run() throws {
        try reportingErrors {
            let queue = try common.openQueue()
            let stored = try queue.enqueue(
                branch: branch, bead: bead, molecule: molecule,
                priority: try priority.map { try BeadStore.parsePriority($0) }, title: title)
            BeadOutput.emitChange(stored, verb: "queued", common)
            RefineryTrigger.startQuietly(queue.repository, common)
        }
    }
}

struct RefineryRetry: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Queue a bounced merge request again, with its branch's current head.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The merge request.") var request: String

    func run() throws {
        try reportingErrors {
            let queue = try common.openQueue()
            BeadOutput.emitChange(try queue.retry(request), verb: "queued again", common)
            RefineryTrigger.startQuietly(queue.repository, common)
        }
    }
}

struct RefineryReject: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject", abstract: "Close a merge request without merging it; its polecat is told.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The merge request.") var request: String
    @Option(name: [.short, .long], help: "Why (kept and mailed).") var reason: String?

    func run() throws {
        try reportingErrors {
            BeadOutput.emitChange(try common.openQueue().reject(request, reason: reason), verb: "rejected", common)
        }
    }
}

struct RefineryTrigger: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger",
        abstract: "Start `git refinery run --once` in the background unless a refinery holds the lease.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let repository = try common.openRepository()
            switch try RefineryTrigger.start(repository, force: true) {
            case .started(let pid): if !common.quiet { Console.out("started a refinery run (pid \(pid))\n") }
            case .running: if !common.quiet { Console.out("a refinery is running; it takes the queue\n") }
            case .off: break
            }
        }
    }

    enum Started {
        case started(pid_t)
        case running
        case off
    }

    /// After a command that queued work: starts a run unless one holds the lease or
    /// `gt.refinery.auto` is false; trouble starting it is a warning, not the command's failure.
    static func startQuietly(_ repository: Repository, _ common: CommonOptions, announce: Bool = true) {
        do {
            if case .started = try start(repository), announce, !common.quiet, !common.json {
                Console.out("started the refinery\n")
            }
        } catch let error as GasworksError {
            Console.error("warning: the refinery was not started: \(error.message)\n")
        } catch {
            Console.error("warning: the refinery was not started: \(error)\n")
        }
    }

    /// Starts a detached refinery run (log: `<common dir>/gt/refinery/run.log`) unless one
    /// holds the lease, or (unless `force`) `gt.refinery.auto` is false.
    static func start(_ repository: Repository, force: Bool = false) throws -> Started {
        if !force, try !RefinerySettings.read(repository).auto { return .off }
        if Lease.isHeld(repository) { return .running }
        let directory = repository.commonDir + "gt/refinery"
        LocalFile.makeDirectories(directory)
        let executable = LocalFile.currentExecutable() ?? "gasworks"
        let pid = try ChildProcess.spawnDetached(
            [executable, "refinery", "run", "--once", "-C", repository.commonDir],
            in: repository.commonDir,
            environment: ChildProcess.environment(
                removing: ChildProcess.repositoryVariables, removingPrefixes: ["GT_"]),
            log: directory + "/run.log")
        return .started(pid)
    }
}
