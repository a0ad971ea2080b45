import BeadKit
import GitKit
import HookKit
import MailKit
import MoleculeKit
import PolecatKit
import RigKit

#if canImport(Glibc)
    import Glibc
#endif

/// Patrols every polecat and crew member: alive (pid and process start time, tmux
/// session), progressing (heartbeat, commits, bead and step changes), drifting (commits
/// without trailers or outside the bead's scope, a step far slower than its siblings),
/// and orphans (worktrees without a record, records without a worktree, beads held by
/// workers that are gone). Deterministic code: it nudges, escalates, restarts, releases and
/// repairs, and records every action with its reason.
public final class Deacon {
    public static let actor = "deacon"

    public let repository: Repository
    public let settings: DeaconSettings
    let beads: BeadStore
    let polecats: Polecats
    let molecules: MoleculeStore
    /// Builds a restarted agent's prompt (the CLI passes `git polecat prime`'s).
    let prompt: (PolecatRecord) throws -> String
    /// Progress lines as they happen.
    public var log: (String) -> Void = { _ in }

    var actions: [PatrolReport.Action] = []
    var problems: [PatrolReport.Problem] = []
    var memory: [String: JSONValue] = [:]
    /// Findings for the mayor, sent as one mail at the end of a patrol.
    var findings: [String] = []
    /// Finding keys seen in this patrol: memory keeps only these.
    var activeFindings: Set<String> = []
    var healthy = 0
    var checked = 0

    public init(repository: Repository, prompt: @escaping (PolecatRecord) throws -> String) throws {
        self.repository = repository
        settings = try DeaconSettings.read(repository)
        beads = try BeadStore(repository: repository, actor: Self.actor)
        polecats = try Polecats(repository: repository, actor: Self.actor)
        molecules = MoleculeStore(beads: beads)
        self.prompt = prompt
    }

    // MARK: clocks

    /// Wall-clock seconds: process start times, heartbeats and the progress cache use it.
    static func wallClock() -> Int64 { Int64(time(nil)) }

    /// The boot time (`btime` in /proc/stat) and clock ticks per second, to turn a process's
    /// start time into wall-clock seconds.
    static let boot: (seconds: Int64, ticks: Int64) = {
        var seconds: Int64 = 0
        if let file = fopen("/proc/stat", "r") {
            defer { fclose(file) }
            var buffer = [CChar](repeating: 0, count: 512)
            while fgets(&buffer, Int32(buffer.count), file) != nil {
                let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if line.hasPrefix("btime ") {
                    seconds = Int64(String(line.dropFirst(6)).trimmingCharacters(in: "\n")) ?? 0
                    break
                }
            }
        }
        return (seconds, Int64(sysconf(Int32(_SC_CLK_TCK))))
    }()

    static func modified(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_mtim.tv_sec)
    }

    /// When the record's current generation started: its process's start time while it
    /// runs, else when its prompt was written.
    func generationStart(_ record: PolecatRecord) -> Int64 {
        if Polecats.isAlive(record), let ticks = record.pidStart {
            return Self.boot.seconds + Int64(ticks) / max(Self.boot.ticks, 1)
        }
        return Self.modified(polecats.directory(Polecats.key(record)) + "/prompt.md") ?? 0
    }

    // MARK: the patrol

    /// One patrol over every worker. Writes a report commit when it acted or its findings
    /// changed; returns the report. One patrol runs at a time per repository (an flock on
    /// `<common dir>/gt/deacon/lock`, which the kernel releases when the process ends, so it
    /// never goes stale); `nil` when another holds it.
    public func patrol() throws -> PatrolReport? {
        let directory = repository.commonDir + "gt/deacon"
        LocalFile.makeDirectories(directory)
        let lock = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw GasworksError(.repository, "cannot open \(directory)/lock") }
        defer { close(lock) }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { return nil }
        actions = []
        problems = []
        findings = []
        activeFindings = []
        healthy = 0
        checked = 0
        var previous: (report: PatrolReport, commit: OID)?
        do {
            previous = try PatrolReport.last(in: repository)
        } catch let error as GasworksError where error.kind == .badData {
            // A report that cannot be read is kept in history, not trusted: memory starts afresh.
            log("warning: \(error.message); starting without the deacon's memory\n")
            previous = try repository.referenceTarget(PatrolReport.ref).map {
                (PatrolReport(json: .object([:])), $0)
            }
        }
        memory = previous?.report.memory ?? [:]
        var progress = ProgressCache(repository: repository)
        let now = Self.wallClock()
        let index = try beads.index()
        var held: [String: [BeadSummary]] = [:]
        for summary in index.beads.values where summary.status == BeadStatus.inProgress.rawValue {
            held[summary.assignee, default: []].append(summary)
        }
        let records = try polecats.store.all() + polecats.crew.all()
        let target = try RigConfig.target(repository)
        let targetTip = try repository.referenceTarget("refs/heads/" + target)
        for record in records where record.state == .running {
            checked += 1
            // One worker's trouble is reported; it does not stop the patrol of the others.
            do {
                try check(
                    record, now: now, held: held[record.address] ?? [], progress: &progress, targetTip: targetTip)
            } catch {
                problems.append(.init(kind: "error", worker: record.address, detail: Self.describe(error)))
                log("error \(record.address): \(Self.describe(error))\n")
            }
        }
        do {
            try orphans(records: records, index: index, now: now, progress: &progress)
        } catch {
            problems.append(.init(kind: "error", worker: "orphans", detail: Self.describe(error)))
        }
        do {
            try audit(index: index, target: target, targetTip: targetTip)
        } catch {
            problems.append(.init(kind: "error", worker: "audit", detail: Self.describe(error)))
        }
        // Queued polecats whose slot freed with no one there to start them (a release by this
        // patrol, a launch that lost its race, a launcher that died) start on the patrol.
        do {
            for record in try polecats.startQueued(prompt: prompt) {
                act("start", record.address, "a slot (gt.polecat.max) is free; started from the queue")
            }
        } catch {
            problems.append(.init(kind: "error", worker: "queue", detail: Self.describe(error)))
        }
        // Convoys whose beads have all closed land on the patrol (they span rigs, so no single
        // close can tell).
        do {
            for id in try Convoys(beads: beads).settle() { act("land", id, "every bead of convoy \(id) is closed") }
        } catch {
            problems.append(.init(kind: "error", worker: "convoys", detail: Self.describe(error)))
        }
        do {
            try sendFindings()
        } catch {
            problems.append(.init(kind: "error", worker: "mayor", detail: Self.describe(error)))
        }
        forgetStale(records: records)
        progress.save()
        let report = PatrolReport(
            at: beads.now, checked: checked, healthy: healthy, actions: actions, problems: problems, memory: memory)
        let changed =
            previous == nil || !actions.isEmpty || previous?.report.problems != problems
            || previous?.report.memory != memory
        if changed { try write(report, after: previous?.commit) }
        return report
    }

    static func describe(_ error: Error) -> String {
        (error as? GasworksError)?.message ?? (error as? GitError)?.message ?? "\(error)"
    }

    /// Memory keeps only what is still true: findings still present, respawn counts of
    /// beads a live record still holds.
    func forgetStale(records: [PolecatRecord]) {
        let reported = memory["reported"]?.arrayValue?.compactMap(\.stringValue) ?? []
        memory["reported"] = .array(reported.filter { activeFindings.contains($0) }.map { .string($0) })
        let beadsInUse = Set(records.filter { $0.state != .nuked }.compactMap(\.bead))
        if let respawns = memory["respawns"]?.objectValue {
            memory["respawns"] = .object(respawns.filter { beadsInUse.contains($0.key) })
        }
        for (key, _) in memory where key.hasPrefix("worker:") {
            let address = String(key.dropFirst(7))
            if !records.contains(where: { $0.address == address && $0.state == .running }) { memory[key] = nil }
        }
    }

    func act(_ kind: String, _ worker: String, _ reason: String) {
        actions.append(.init(kind: kind, worker: worker, reason: reason))
        log("\(kind) \(worker): \(reason)\n")
    }

    func mail(_ recipients: [String], type: String, subject: String, body: String) throws {
        _ = try Mailbox(repository: repository).send(
            MessageDraft(from: Self.actor, subject: subject, body: body, type: type),
            to: try recipients.map { try Address($0) }, cc: [])
    }

    /// One memory entry (a JSON object) by key.
    func remembered(_ key: String) -> [String: JSONValue] { memory[key]?.objectValue ?? [:] }

    /// A finding is reported once while it lasts: its key is remembered until it is gone.
    func isNew(_ finding: String) -> Bool {
        activeFindings.insert(finding)
        var seen = memory["reported"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard !seen.contains(finding) else { return false }
        seen.append(finding)
        memory["reported"] = .array(seen.map { .string($0) })
        return true
    }

    // MARK: one worker

    func check(
        _ record: PolecatRecord, now: Int64, held: [BeadSummary], progress: inout ProgressCache, targetTip: OID?
    ) throws {
        let address = record.address
        let generation = record.generation ?? ""
        try drift(record, held: held, targetTip: targetTip)
        // Being started, restarted or removed by someone else right now: left alone, unless
        // it has stayed that way for longer than any start takes (a crash mid-way).
        if record.pid == nil || record.string("stopping") != nil {
            let waiting = progress.firstSeen(
                "transition:" + address, as: "\(generation) \(record.string("stopping") ?? "starting")", now: now)
            if now - waiting < Int64(settings.graceSeconds) + 60 {
                healthy += 1
                return
            }
        }
        let started = generationStart(record)
        if now - started < Int64(settings.graceSeconds) {
            // A fresh agent is never touched: it may still be starting up.
            healthy += 1
            return
        }
        guard Polecats.isAlive(record) else {
            // Without its worktree there is nothing to restart into: the orphan repair retires it.
            if let worktree = record.worktree, !LocalFile.isDirectory(worktree) { return }
            try dead(record)
            return
        }
        if record.string("session") == "tmux", !Tmux.exists(polecats.tmuxSession(record)) {
            // The process is the one started: alive, whatever tmux says.
            problems.append(.init(kind: "tmux", worker: address, detail: "its tmux session is not found"))
        }
        // Progress: anything the worker changed (its branch, its record, a bead it holds)
        // since the last patrol, its heartbeat, or the start of its generation.
        let branchTip = try record.branch.flatMap { try repository.referenceTarget("refs/heads/" + $0) }
        let recordTip = try repository.referenceTarget(
            (record.kind == .crew ? PolecatStore.crewPrefix : PolecatStore.refPrefix) + record.name)
        let fingerprint =
            [branchTip?.hex ?? "-", recordTip?.hex ?? "-"].joined(separator: " ") + " "
            + held.map { $0.id + "@" + $0.commit.hex }.sorted().joined(separator: " ")
        // Seen for the first time: the newest of its commits counts too (a cache lost on a
        // busy worker must not make it look stalled).
        var evidence = started
        for commit in [branchTip, recordTip].compactMap({ $0 }) + held.map(\.commit) {
            evidence = max(evidence, try repository.commit(commit).committer.time)
        }
        let since = progress.observe(
            address, generation: generation, fingerprint: fingerprint, now: now, started: min(evidence, now))
        let heartbeat = Int64(polecats.lastHeartbeat(Polecats.key(record)) ?? 0)
        let lastProgress = max(since, heartbeat, started)
        let key = "worker:" + address
        var state = remembered(key)
        if state["generation"]?.stringValue != generation {
            // Nudges belong to one generation: a restarted agent starts with none.
            state = ["generation": .string(generation)]
        }
        let quiet = now - lastProgress
        // Waiting for the witness on a submitted step is not a stall.
        let waiting = held.contains { $0.type == "step" && $0.json.contains("\"submitted\":{") }
        guard quiet > Int64(settings.stallSeconds), !waiting else {
            healthy += 1
            if state["nudges"] != nil || state["escalated"] != nil { log("\(address) is progressing again\n") }
            memory[key] = nil
            return
        }
        // Stable while nothing changes, so an unchanged stall writes no new report.
        let stalledSince = "no progress since \(ISO8601.format(lastProgress))"
        let nudges = Int(state["nudges"]?.intValue ?? 0)
        // One nudge per stall period: the worker gets time to answer the last one.
        let lastNudge = state["nudged_at"]?.intValue ?? 0
        let due = now - lastNudge >= Int64(max(settings.stallSeconds, 1))
        if nudges < settings.nudges {
            if due, try stillTheSame(record) {
                try nudge(record, generation: generation, quiet: quiet, count: nudges + 1)
                state["nudges"] = .int(Int64(nudges + 1))
                state["nudged_at"] = .int(now)
            }
            problems.append(.init(kind: "stalled", worker: address, detail: stalledSince))
        } else if state["escalated"] == nil {
            if due {
                let body =
                    "\(address) (generation \(generation)) has shown no progress for \(quiet) s, "
                    + "and \(nudges) nudge\(nudges == 1 ? "" : "s") did not help.\n"
                    + "Bead: \(record.bead ?? "-"); branch: \(record.branch ?? "-"); worktree: \(record.worktree ?? "-").\n"
                    + "Look at it (git polecat status \(record.name), git polecat logs \(record.name)), "
                    + "restart it (git polecat restart \(record.name)) or stop it.\n"
                try mail(["mayor", "overseer"], type: "escalation", subject: "Stalled: \(address)", body: body)
                act(
                    "escalate", address,
                    "no progress for \(quiet) s after \(nudges) nudge\(nudges == 1 ? "" : "s"); mayor and overseer mailed"
                )
                state["escalated"] = .bool(true)
            }
            problems.append(
                .init(kind: state["escalated"] == nil ? "stalled" : "escalated", worker: address, detail: stalledSince))
        } else {
            problems.append(.init(kind: "escalated", worker: address, detail: stalledSince))
        }
        memory[key] = .object(state)
    }

    /// Whether the worker still runs the generation and process this patrol looked at.
    func stillTheSame(_ record: PolecatRecord) throws -> Bool {
        let store = record.kind == .crew ? try polecats.crew : polecats.store
        guard let current = try store.load(record.name)?.record else { return false }
        return current.generation == record.generation && current.pid == record.pid && current.state == .running
            && current.string("stopping") == nil
    }

    /// A nudge: mail (of this generation) and, in a tmux session, a line typed into its pane.
    func nudge(_ record: PolecatRecord, generation: String, quiet: Int64, count: Int) throws {
        let body =
            "No progress from you for \(quiet) s (nudge \(count) of \(settings.nudges), generation \(generation)).\n"
            + "Run git polecat prime to see where you are, then carry on: commit, git molecule done, "
            + "git polecat heartbeat while you think. Stuck? Mail the mayor (git mail send mayor).\n"
        try mail(
            [record.address], type: "nudge", subject: "Nudge \(count): no progress for \(quiet) s (\(generation))",
            body: body)
        var how = "mail"
        if record.string("session") == "tmux" {
            try? Tmux.type(
                "Gasworks deacon: no progress for \(quiet) s. Run git polecat prime and carry on.",
                into: polecats.tmuxSession(record))
            how = "mail and tmux"
        }
        act("nudge", record.address, "no progress for \(quiet) s (nudge \(count) of \(settings.nudges), \(how))")
    }

    /// A worker whose agent is gone with its work unfinished: restarted with a new generation
    /// (it resumes from `prime`) while restarts of its bead stay under the limit; then its
    /// bead goes back to ready (the branch is kept) and the overseer is told.
    func dead(_ record: PolecatRecord) throws {
        let address = record.address
        guard record.kind == .polecat else {
            if isNew("dead:\(address):\(record.generation ?? "")") {
                try mail(
                    ["overseer"], type: "escalation", subject: "Crew agent gone: \(address)",
                    body: "The agent of \(address) (generation \(record.generation ?? "-")) is not running. "
                        + "Crew are not restarted by the deacon: git polecat crew attach \(record.name), or add it again.\n"
                )
                act("report", address, "its agent is not running; overseer mailed")
            }
            problems.append(.init(kind: "dead", worker: address, detail: "agent not running"))
            return
        }
        let bead = record.bead ?? record.name
        var respawns = memory["respawns"]?.objectValue ?? [:]
        let done = Int(respawns[bead]?.intValue ?? 0)
        // Only the generation this patrol saw: a newer one is someone else's restart.
        guard try stillTheSame(record) else { return }
        if done < settings.respawns {
            let restarted = try polecats.restart(record.name, expecting: record.generation, prompt: prompt)
            respawns[bead] = .int(Int64(done + 1))
            memory["respawns"] = .object(respawns)
            act(
                "restart", address,
                "its agent (generation \(record.generation ?? "-")) is gone; restarted as generation "
                    + "\(restarted.generation ?? "-") (respawn \(done + 1) of \(settings.respawns) for \(bead))")
            return
        }
        // Past the limit: the bead goes back to ready first (a crash after that heals on the
        // next patrol), then the polecat stops; its branch stays for whoever takes the bead.
        if let held = record.bead { try polecats.release(held, heldBy: address) }
        try releaseSteps(heldBy: address)
        _ = try polecats.store.update(record.name, op: "stop") { current in
            guard current.generation == record.generation, current.state == .running else {
                throw GasworksError(.refused, "\(address) changed meanwhile")
            }
            current.state = .stopped
        }
        respawns[bead] = nil
        memory["respawns"] = .object(respawns)
        try mail(
            ["overseer", "mayor"], type: "escalation", subject: "Released \(bead): \(address) kept dying",
            body: "The agent of \(address) died \(done + 1) times on \(bead); it was restarted \(done) "
                + "time\(done == 1 ? "" : "s") (gt.deacon.respawns = \(settings.respawns)).\n"
                + "\(bead) is ready again; the branch \(record.branch ?? "-") keeps its commits.\n"
                + "See git polecat logs \(record.name).\n")
        act("release", address, "dead again after \(done) restarts of \(bead); bead released, overseer mailed")
        problems.append(.init(kind: "dead", worker: address, detail: "respawn limit reached; \(bead) released"))
    }

    /// Step beads a gone worker held go back to their molecule's ready steps.
    func releaseSteps(heldBy address: String) throws {
        for summary in try beads.index().beads.values
        where summary.status == BeadStatus.inProgress.rawValue && summary.assignee == address
            && summary.type == "step" && !summary.json.contains("\"submitted\":{")
        {
            try molecules.withStepAuthority {
                _ = try beads.update(summary.id, op: "release") { bead in
                    guard bead.status == .inProgress, bead.assignee == address else { return }
                    bead.status = .open
                    bead.assignee = nil
                }
            }
        }
    }

    func write(_ report: PatrolReport, after previous: OID?) throws {
        let blob = try repository.writeBlob(report.json.canonicalText + "\n")
        let tree = try repository.writeTree([TreeEntry(name: PatrolReport.fileName, id: blob, kind: .blob)])
        let commit = try repository.writeCommit(
            tree: tree, parents: previous.map { [$0] } ?? [], message: report.message,
            author: try Signature.committer(in: repository))
        do {
            try repository.withRetry(touching: [PatrolReport.ref], onlyLocks: true) {
                try repository.setReference(PatrolReport.ref, to: commit, expecting: previous, message: "deacon patrol")
            }
        } catch let error as GitError where error.isRetryableConflict {
            // Another patrol wrote meanwhile: its report stands; this one's actions are in mail.
            log("another patrol recorded its report at the same time; this one's is not kept\n")
        }
    }
}

/// When each worker's observable state last changed, in wall-clock seconds:
/// `<common dir>/gt/deacon/progress.json`. A cache: lost, every worker counts from its
/// agent's start (or its last heartbeat) again.
struct ProgressCache {
    let path: String
    var entries: [String: JSONValue]
    var dirty = false

    init(repository: Repository) {
        path = repository.commonDir + "gt/deacon/progress.json"
        let text = (try? LocalFile.read(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        entries = (try? JSONValue.parse(text))?.objectValue ?? [:]
    }

    /// When `fingerprint` was first seen for this worker generation (now, if it is new).
    /// A generation seen for the first time counts from `started` (its agent's start).
    mutating func observe(
        _ worker: String, generation: String, fingerprint: String, now: Int64, started: Int64
    ) -> Int64 {
        let entry = entries[worker]
        let sameGeneration = entry?["generation"]?.stringValue == generation
        if sameGeneration, entry?["fingerprint"]?.stringValue == fingerprint, let since = entry?["since"]?.intValue {
            return since
        }
        let since = sameGeneration ? now : started
        entries[worker] = .object([
            "generation": .string(generation), "fingerprint": .string(fingerprint), "since": .int(since),
        ])
        dirty = true
        return since
    }

    /// When `value` was first seen under `key` (now, if it is new or changed).
    mutating func firstSeen(_ key: String, as value: String, now: Int64) -> Int64 {
        if let entry = entries[key], entry["value"]?.stringValue == value, let since = entry["since"]?.intValue {
            return since
        }
        entries[key] = .object(["value": .string(value), "since": .int(now)])
        dirty = true
        return now
    }

    func save() {
        guard dirty else { return }
        LocalFile.makeDirectories(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]))
        try? LocalFile.write(JSONValue.object(entries).canonicalText + "\n", to: path)
    }
}
