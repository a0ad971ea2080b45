import ArgumentParser
import BeadKit
import DeaconKit
import GitKit
import HookKit
import MailKit
import PolecatKit
import RefineryKit

#if canImport(Glibc)
    import Glibc
#endif

/// Everything the overseer looks at, read once: polecats, molecules, the refinery queue,
/// the deacon's open problems and the overseer's unread mail.
struct RigOverview {
    struct Worker {
        var record: PolecatRecord
        var alive: Bool
        var step: String?
        var lastActivity: Int64?
    }
    struct MoleculeProgress {
        var id: String
        var title: String
        var done: Int
        var total: Int
        var status: String
    }

    var name: String
    var target: String
    var tip: String
    var workers: [Worker]
    var molecules: [MoleculeProgress]
    var open: Int
    var ready: Int
    var queue: [MergeRequest]
    var bounced: [MergeRequest]
    var refinery: String
    var patrol: PatrolReport?
    var unread: Int
    /// Why the rig's agents are not sandboxed, or nil when they are.
    var unconfined: String? = nil
    /// What the overview was computed from, for views that need more of it (the report).
    var index: BeadIndex
    var readiness: Readiness
    var now: String

    static func read(_ repository: Repository) throws -> RigOverview {
        let beads = try BeadStore(repository: repository, actor: "overseer")
        let polecats = try Polecats(repository: repository, actor: "overseer")
        let target = try RigConfig.target(repository)
        var tip = "(no \(target) yet)"
        if let id = try repository.referenceTarget("refs/heads/" + target) {
            tip = "\(id.hex.prefix(12)) \(try repository.commit(id).message.firstLine)"
        }
        let index = try beads.index()
        var held: [String: [BeadSummary]] = [:]
        var steps: [String: (done: Int, total: Int)] = [:]
        var open = 0
        for summary in index.beads.values where !summary.deleted {
            if summary.status == BeadStatus.inProgress.rawValue { held[summary.assignee, default: []].append(summary) }
            if summary.status != BeadStatus.closed.rawValue, summary.type != "step", summary.type != "merge-request",
                summary.type != "molecule", summary.type != "message"
            {
                open += 1
            }
            // A molecule's steps are its children `<mol>.<n>`, whatever their type (work, gate, join).
            if let dot = summary.id.lastIndex(of: "."),
                summary.id[summary.id.index(after: dot)...].allSatisfy(\.isNumber)
            {
                let molecule = String(summary.id[..<dot])
                var count = steps[molecule] ?? (0, 0)
                count.total += 1
                if summary.status == BeadStatus.closed.rawValue { count.done += 1 }
                steps[molecule] = count
            }
        }
        // The same index, read once: readiness is computed from it, not from a second read.
        let readiness = Readiness(beads: index.beads, now: ISO8601.parse(beads.now) ?? 0)
        let ready = readiness.ready().count
        let molecules = index.beads.values
            .filter { $0.type == "molecule" && $0.status != BeadStatus.closed.rawValue && !$0.deleted }
            .sorted { $0.id < $1.id }
            .map {
                MoleculeProgress(
                    id: $0.id, title: $0.title, done: steps[$0.id]?.done ?? 0, total: steps[$0.id]?.total ?? 0,
                    status: $0.status)
            }
        let records = (try polecats.store.all() + polecats.crew.all()).filter { $0.state != .nuked }
        let workers = records.map { record -> Worker in
            let step = held[record.address]?.first { $0.type == "step" }
            let heartbeat = polecats.lastHeartbeat(Polecats.key(record)).map(Int64.init)
            return Worker(
                record: record, alive: Polecats.isAlive(record),
                step: step.map { "\($0.id) \($0.title)" }, lastActivity: heartbeat)
        }
        let requests = try MergeRequest.all(in: beads)
        let queue = MergeRequest.queue(of: requests, target: target)
        let bounced = requests.filter { $0.state == .bounced && $0.bead.status != .closed }
        var refinery = "idle"
        if let lease = try Lease.read(repository), let holder = lease.holder {
            refinery =
                holder.isDead(now: Int64(time(nil)), host: Lease.hostName())
                ? "idle (the lease of \(holder.name) has lapsed)" : "running (\(holder.name))"
        }
        let patrol = try? PatrolReport.last(in: repository)?.report
        let overseer = try Address("overseer")
        let unread = try Mailbox(repository: repository).deliveries(of: overseer) {
            !$0.state.archived && !$0.state.read
        }.count
        return RigOverview(
            name: polecats.rigName(), target: target, tip: tip, workers: workers, molecules: molecules, open: open,
            ready: ready, queue: queue, bounced: bounced, refinery: refinery, patrol: patrol, unread: unread,
            unconfined: Sandbox.unconfined(repository, probe: false), index: index, readiness: readiness,
            now: beads.now)
    }

    var json: JSONValue {
        .object([
            "rig": .string(name), "target": .string(target), "tip": .string(tip),
            "beads": .object(["open": .int(Int64(open)), "ready": .int(Int64(ready))]),
            "workers": .array(
                workers.map { worker in
                    var object: [String: JSONValue] = [
                        "name": .string(worker.record.name), "kind": .string(worker.record.kind.rawValue),
                        "state": .string(worker.record.state.rawValue), "alive": .bool(worker.alive),
                    ]
                    if let bead = worker.record.bead { object["bead"] = .string(bead) }
                    if let step = worker.step { object["step"] = .string(step) }
                    if let last = worker.lastActivity { object["last_heartbeat"] = .string(ISO8601.format(last)) }
                    return .object(object)
                }),
            "molecules": .array(
                molecules.map {
                    .object([
                        "id": .string($0.id), "title": .string($0.title), "done": .int(Int64($0.done)),
                        "steps": .int(Int64($0.total)), "status": .string($0.status),
                    ])
                }),
            "refinery": .object([
                "state": .string(refinery), "queue": .array(queue.map { .string($0.id) }),
                "bounced": .array(bounced.map { .string($0.id) }),
            ]),
            "deacon": .object([
                "last_patrol": patrol.map { .string($0.at) } ?? .null,
                "problems": .array(
                    (patrol?.problems ?? []).map {
                        .object(["kind": .string($0.kind), "worker": .string($0.worker), "detail": .string($0.detail)])
                    }),
            ]),
            "overseer_unread": .int(Int64(unread)),
            "unconfined": unconfined.map { .string($0) } ?? .null,
        ])
    }

    /// One screen of text; with `colour`, ANSI bold headings and green/red states.
    func text(colour: Bool) -> String {
        func bold(_ text: String) -> String { colour ? "\u{1B}[1m\(text)\u{1B}[0m" : text }
        func paint(_ text: String, good: Bool) -> String {
            colour ? "\u{1B}[\(good ? "32" : "31")m\(text)\u{1B}[0m" : text
        }
        var out = bold("rig \(name)") + " — \(target) at \(tip)\n"
        out += "beads: \(open) open, \(ready) ready; overseer: \(unread) unread\n"
        if let unconfined { out += paint("warning: \(unconfined)", good: false) + "\n" }
        out += "\n" + bold("workers (\(workers.count))") + "\n"
        if workers.isEmpty { out += "  none\n" }
        let now = Int64(time(nil))
        for worker in workers.sorted(by: { $0.record.address < $1.record.address }) {
            let state =
                worker.record.state.rawValue + (worker.record.state == .running && !worker.alive ? " (dead)" : "")
            let healthy = worker.record.state != .running || worker.alive
            let last = worker.lastActivity.map { "\(max(now - $0, 0)) s ago" } ?? "-"
            out +=
                "  \(worker.record.address.padding(18)) \(paint(state.padding(16), good: healthy)) "
                + "\((worker.record.bead ?? "-").padding(10)) \((worker.step ?? "-").padding(34)) \(last)\n"
        }
        out += "\n" + bold("molecules (\(molecules.count) open)") + "\n"
        if molecules.isEmpty { out += "  none\n" }
        for molecule in molecules.prefix(15) {
            let width = 20
            let filled = molecule.total == 0 ? 0 : molecule.done * width / molecule.total
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            out += "  \(molecule.id.padding(12)) [\(bar)] \(molecule.done)/\(molecule.total)  \(molecule.title)\n"
        }
        if molecules.count > 15 { out += "  … \(molecules.count - 15) more\n" }
        out += "\n" + bold("refinery") + ": \(refinery); \(queue.count) queued, \(bounced.count) bounced\n"
        for request in queue.prefix(5) { out += "  \(request.id) \(request.branch)\n" }
        for request in bounced.prefix(5) {
            out +=
                "  " + paint("bounced", good: false)
                + " \(request.id) \(request.branch): \(request.reason?.firstLine ?? "")\n"
        }
        out += "\n" + bold("deacon") + ": "
        if let patrol {
            out +=
                "last patrol \(patrol.at), \(patrol.problems.count) open problem\(patrol.problems.count == 1 ? "" : "s")\n"
            for problem in patrol.problems.prefix(8) {
                out += "  " + paint(problem.kind, good: false) + " \(problem.worker): \(problem.detail)\n"
            }
        } else {
            out += "no patrol yet\n"
        }
        return out
    }
}

struct RigStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "One screen: workers, molecules, the refinery queue, the deacon's problems, the overseer's mail.")
    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "Redraw every --interval seconds.") var watch = false
    @Option(name: .long, help: "With --watch: seconds between redraws.") var interval: Double = 2
    @Option(name: .long, help: "With --watch: stop after this many redraws.") var count: Int?

    func validate() throws {
        if interval <= 0 || interval > 3600 { throw ValidationError("--interval must be between 0 and 3600 seconds") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let repository = try common.openRepository()
            let terminal = isatty(1) == 1
            var shown = 0
            while true {
                let overview = try RigOverview.read(repository)
                if common.json {
                    Console.out(overview.json.compactText() + "\n")
                } else {
                    // On a terminal a watch redraws in place.
                    if watch, terminal { Console.out("\u{1B}[H\u{1B}[2J") }
                    Console.out(overview.text(colour: terminal))
                }
                shown += 1
                if !watch || shown >= (count ?? .max) { return }
                MonotonicClock.sleep(interval)
            }
        }
    }
}
