import BeadKit
import GitKit
import HookKit
import MailKit
import MoleculeKit
import RigKit

#if canImport(Glibc)
    import Glibc
#endif

/// Disposable workers: each a claimed bead, a branch and worktree of its own, and an agent
/// process told who it is through its environment.
public final class Polecats {
    /// Names handed out in order; a name whose record is nuked (or absent) is free.
    public static let names = [
        "furiosa", "nux", "slit", "rictus", "capable", "toast", "dag", "cheedo", "angharad", "ace", "max", "morsov",
        "keeper", "valkyrie", "corpus", "scrotus", "warboy", "glory", "splendid", "giddy", "bullet", "organic",
        "immortan", "vuvalini", "joe", "miss", "coma", "doof", "buzzard", "rock",
    ]

    public let repository: Repository
    public let store: PolecatStore
    /// Who slings (the mayor or the overseer).
    public let actor: String

    public init(repository: Repository, actor: String) throws {
        self.repository = repository
        self.actor = actor
        store = try PolecatStore(repository: repository, actor: actor)
    }

    /// `<common dir>/gt/polecats/<name>/`: the prompt and agent logs (never state).
    public func directory(_ name: String) -> String { repository.commonDir + "gt/polecats/" + name }

    /// The main checkout (or bare repository), from the common git dir, so every worktree of
    /// the rig names the same one.
    var mainCheckout: String {
        var parts = repository.commonDir.split(separator: "/").map(String.init)
        if parts.last == ".git" { parts.removeLast() }
        return "/" + parts.joined(separator: "/")
    }

    /// Where worktrees go: `gt.polecat.root`, else `<repo>-polecats/` beside the main checkout.
    public func worktreeRoot() throws -> String {
        if let configured = try repository.config("gt.polecat.root"), !configured.isEmpty { return configured }
        return mainCheckout + "-polecats"
    }

    /// Reserves a name: the requested one, else the first free one in `names`. The record is
    /// published with compare-and-swap, so two slings never get the same name.
    func reserve(_ requested: String?, bead: String) throws -> PolecatRecord {
        let candidates = requested.map { [$0] } ?? Self.names + (1...999).map { "polecat\($0)" }
        for name in candidates {
            guard Self.isValidName(name), !name.hasPrefix("crew-") else {
                throw GasworksError(.usage, "invalid polecat name '\(name)'")
            }
            // A kept branch (nuke --force) of this name and bead would collide: another name.
            if requested == nil, try repository.referenceTarget("refs/heads/polecat/\(name)/\(bead)") != nil {
                continue
            }
            let existing = try store.load(name)
            if let existing, existing.record.state != .nuked {
                if requested != nil {
                    throw GasworksError(.refused, "polecat '\(name)' exists (\(existing.record.state.rawValue))")
                }
                continue
            }
            var record = PolecatRecord(name: name, kind: .polecat)
            // Not counted as running until its agent starts (see `launch`).
            record.state = .queued
            record.bead = bead
            record.generation = Self.newGeneration()
            record.fields["started_at"] = .string(store.now)
            record.fields["slung_by"] = .string(actor)
            do {
                try store.publish(record, op: "reserve", expected: existing?.commit)
                return record
            } catch let error as GitError where error.isRetryableConflict {
                if requested != nil { throw GasworksError(.refused, "polecat '\(name)' was taken meanwhile") }
                continue  // Another sling took it first.
            }
        }
        throw GasworksError(.refused, "no free polecat name")
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 40 && name.first != "-"
            && name.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" }
    }

    /// A fresh generation id: a later start of the same polecat gets another, so a stale
    /// process of an earlier generation can be told apart.
    static func newGeneration() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<8).map { _ in String(Int.random(in: 0..<36, using: &generator), radix: 36) }.joined()
    }

    public struct Sling: Sendable {
        public var bead: String
        public var name: String?
        /// A command template: `{prompt_file}`, `{worktree}`, `{bead}` are filled in.
        public var agent: String
        /// A molecule already poured on the bead, to record with the polecat.
        public var molecule: String?
        /// Run the agent in a tmux session (interactive agents; `git polecat attach`).
        public var tmux: Bool

        public init(bead: String, name: String?, agent: String, molecule: String?, tmux: Bool = false) {
            self.bead = bead
            self.name = name
            self.agent = agent
            self.molecule = molecule
            self.tmux = tmux
        }
    }

    /// Claims the bead for a new polecat, makes its branch and worktree, writes its prompt
    /// and starts its agent. On a failure after the name is reserved, the record is nuked
    /// and the claim released, so nothing is left half made.
    public func sling(_ request: Sling, prompt: (PolecatRecord) throws -> String) throws -> PolecatRecord {
        try refuseUnsandboxable()
        let beads = try BeadStore(repository: repository, actor: actor)
        let bead = try beads.resolve(request.bead)
        let status = try beads.load(bead).bead.status
        guard status == .open else {
            throw GasworksError(.refused, "cannot sling '\(bead)': it is \(status.rawValue)")
        }
        let reserved = try reserve(request.name, bead: bead)
        let worker = try BeadStore(repository: repository, actor: reserved.address)
        var record: PolecatRecord
        do {
            try worker.claim(bead)
            // What the launch needs, on the record itself (a queued one starts later, elsewhere).
            record = try store.update(reserved.name, op: "claim") { current in
                guard current.generation == reserved.generation, current.state == .queued else {
                    throw GasworksError(.refused, "\(current.address) changed while it was being slung")
                }
                current.molecule = request.molecule
                current.fields["agent_template"] = .string(request.agent)
                if request.tmux { current.fields["session"] = .string("tmux") }
            }
        } catch {
            _ = try? store.update(reserved.name, op: "nuke") { current in
                if current.generation == reserved.generation { current.state = .nuked }
            }
            try? release(bead, heldBy: reserved.address)
            throw error
        }
        // Beyond gt.polecat.max, launch puts it in the queue: the bead is held for it, and it
        // starts in its turn.
        return try launch(record, prompt: prompt)
    }

    /// Where the decision "one more polecat may start" is serialised (host-local, like the
    /// records): a parentless commit listing the slots' holders, moved by compare-and-swap.
    public static let slotsRef = "refs/gt/polecat-slots"

    /// A launch marker older than this belongs to a launcher that died: it holds no slot.
    static let launchingSeconds: Int64 = 300

    /// Takes one of the `gt.polecat.max` slots for `name`, whose record already carries its
    /// `launching` marker. Holders are counted from the records (running, or launching with a
    /// fresh marker), so a slot frees itself when its polecat is done, stopped or nuked; the
    /// count and the claim are one compare-and-swap on `slotsRef`, so two launches can never
    /// both take the last slot: the later one recounts, and sees the earlier one's marker.
    func takeSlot(for name: String) throws -> Bool {
        guard let limit = try repository.config("gt.polecat.max").flatMap({ Int($0) }), limit > 0 else { return true }
        let signature = try Signature.committer(in: repository)
        let now = Int64(time(nil))
        return try repository.updateReference(Self.slotsRef, message: "polecat: slot for \(name)") {
            _ -> (ReferenceChange, Bool) in
            // Holders: running polecats, done ones whose agent still lives (it may be sent back
            // to work by a bounce), and launches under way.
            let holders = try store.all().filter { record in
                guard record.kind == .polecat, record.name != name else { return false }
                switch record.state {
                case .running: return true
                case .done: return Self.isAlive(record)
                case .queued: return Self.isLaunching(record, now: now)
                default: return false
                }
            }.map(\.name)
            guard holders.count < limit else { return (.keep, false) }
            let list = (holders + [name]).sorted().joined(separator: "\n") + "\n"
            let tree = try repository.writeTree([
                TreeEntry(name: "slots", id: try repository.writeBlob(list), kind: .blob)
            ])
            let commit = try repository.writeCommit(
                tree: tree, parents: [], message: "\(holders.count + 1) of \(limit) slots: \(name) starts\n",
                author: signature)
            return (.set(commit), true)
        }
    }

    /// The queued polecats in the order they start: by queue time, then name.
    public func queue() throws -> [PolecatRecord] {
        try store.all().filter { $0.state == .queued }
            .sorted { ($0.string("queued_at") ?? "", $0.name) < ($1.string("queued_at") ?? "", $1.name) }
    }

    /// True while a launch of `record` is under way: its marker names a live launcher (the
    /// process and its start time), or, without one, is younger than `launchingSeconds`.
    static func isLaunching(_ record: PolecatRecord, now: Int64 = Int64(time(nil))) -> Bool {
        guard let marker = record.string("launching") else { return false }
        if let launcher = record.string("launcher") {
            let parts = launcher.split(separator: ":")
            guard parts.count == 2, let pid = pid_t(parts[0]), let start = UInt64(parts[1]) else { return false }
            return ChildProcess.startTime(of: pid) == start
        }
        guard let since = ISO8601.parse(marker) else { return false }
        return now - since < launchingSeconds
    }

    /// Starts queued polecats, oldest first, while there is capacity; returns those started.
    /// A queued polecat whose launcher died mid-launch (its marker names a dead process) is
    /// started again, after what that launch left is cleared.
    @discardableResult
    public func startQueued(prompt: (PolecatRecord) throws -> String) throws -> [PolecatRecord] {
        var started: [PolecatRecord] = []
        while true {
            let queued = try queue().filter { $0.string("queued_at") != nil && !Self.isLaunching($0) }
            guard let next = queued.first else { break }
            do {
                let record = try launch(next, prompt: prompt)
                guard record.state != .queued else { break }  // No slot free.
                started.append(record)
            } catch let error as GasworksError where error.kind == .refused {
                continue  // launch gave the bead back and nuked the record; the next one.
            }
        }
        return started
    }

    /// Makes a reserved polecat's branch and worktree and starts its agent. On a failure
    /// nothing is left half made: no worktree, branch, claim or live record.
    func launch(_ reserved: PolecatRecord, prompt: (PolecatRecord) throws -> String) throws -> PolecatRecord {
        let name = reserved.name
        guard let bead = reserved.bead, let template = reserved.string("agent_template") else {
            throw GasworksError(.badData, "record of \(reserved.address) has no bead or agent")
        }
        // Take the record from queued to launching by compare-and-swap: of two processes that
        // would start the same queued polecat, one does.
        let generation = reserved.generation
        let me = getpid()
        var takenOver = false
        var record = try store.update(name, op: "launch") { current in
            guard current.state == .queued, current.generation == generation, !Self.isLaunching(current) else {
                throw GasworksError(
                    .refused, "\(current.address) is being started elsewhere, or is \(current.state.rawValue)")
            }
            takenOver = current.string("launching") != nil
            // Wall-clock time (not the pinned commit date): it ages a marker without a launcher.
            current.fields["launching"] = .string(ISO8601.format(Int64(time(nil))))
            current.fields["launcher"] = .string("\(me):\(ChildProcess.startTime(of: me) ?? 0)")
        }
        let slot: Bool
        do {
            if takenOver { try clearDeadLaunch(record) }
            slot = try takeSlot(for: name)
        } catch {
            _ = try? store.update(name, op: "queue") { current in
                guard current.generation == generation else { return }
                current.fields["launching"] = nil
                current.fields["launcher"] = nil
            }
            throw error
        }
        guard slot else {
            // At capacity: back in the queue (its place kept), to start when a slot frees.
            return try store.update(name, op: "queue") { current in
                guard current.generation == generation else { return }
                current.fields["launching"] = nil
                current.fields["launcher"] = nil
                if current.string("queued_at") == nil { current.fields["queued_at"] = .string(store.now) }
            }
        }
        var madeWorktree = false
        do {
            let target = try RigConfig.target(repository)
            let base = try repository.revparse("refs/heads/" + target)
            let root = try worktreeRoot()
            let path = root + "/" + name
            let branch = "polecat/\(name)/\(bead)"
            LocalFile.makeDirectories(root)
            // The branch first, by compare-and-swap (a name nobody has); then the worktree on it.
            do {
                try repository.setReference("refs/heads/" + branch, to: base, expecting: nil, message: "polecat: sling")
            } catch let error as GitError where error.code == .exists {
                throw GasworksError(.refused, "branch \(branch) exists already")
            }
            record.branch = branch
            guard !LocalFile.isDirectory(path) else {
                throw GasworksError(.refused, "\(path) exists already: remove it or set gt.polecat.root")
            }
            record.worktree = path
            madeWorktree = true
            try addWorktree(path, branch: branch)
            let checkout = try Repository.open(path)
            try Rig.setWorker(record.address, in: checkout)
            record.fields["base"] = .string(base.hex)
            record.fields["queued_at"] = nil
            record.fields["launching"] = nil
            record.fields["launcher"] = nil
            let promptFile = directory(name) + "/prompt.md"
            record.agent = template.replacing("{prompt_file}", with: Self.quoted(promptFile))
                .replacing("{worktree}", with: Self.quoted(path)).replacing("{bead}", with: bead)
            try startAgent(&record, prompt: try prompt(record))
            let started = record
            return try store.update(name, op: "start") { current in
                guard current.generation == generation, current.state == .queued else {
                    throw GasworksError(.refused, "\(current.address) changed while it was being started")
                }
                current = started
            }
        } catch {
            terminate(record)
            if madeWorktree, let path = record.worktree {
                _ = try? ChildProcess.run(
                    ["git", "--git-dir=" + repository.commonDir, "worktree", "remove", "--force", path],
                    environment: ChildProcess.environment())
            }
            if let branch = record.branch, let head = try? repository.referenceTarget("refs/heads/" + branch) {
                try? repository.deleteReference("refs/heads/" + branch, expecting: head)
            }
            // Nuked only while it is still this launch's to undo.
            _ = try? store.update(name, op: "nuke") { current in
                if current.generation == generation, current.state == .queued { current.state = .nuked }
            }
            try? release(bead, heldBy: record.address)
            throw error
        }
    }

    /// Clears what a launcher that died mid-launch left for `record`: its worktree (git's own,
    /// at the polecat's path) and its branch while the branch holds no commit of its own.
    /// An agent it may have started is in a process group of its own and is not found here;
    /// its worktree going away ends its work.
    func clearDeadLaunch(_ record: PolecatRecord) throws {
        guard let bead = record.bead else { return }
        let path = try worktreeRoot() + "/" + record.name
        let branch = "refs/heads/polecat/\(record.name)/\(bead)"
        if LocalFile.isDirectory(path) { try removeWorktree(path) }
        if let head = try repository.referenceTarget(branch) {
            let target = try repository.revparse("refs/heads/" + (try RigConfig.target(repository)))
            guard try repository.isAncestor(head, of: target) else {
                throw GasworksError(
                    .refused, "\(branch) left by a dead launch of \(record.address) has commits: not touched")
            }
            try repository.deleteReference(branch, expecting: head)
        }
    }

    /// `git worktree add` of an existing branch (retried while git trips over another add's
    /// half-written admin files: `Repository.addWorktree`).
    func addWorktree(_ path: String, branch: String) throws {
        let added = try repository.addWorktree(at: path, ["--quiet", path, branch])
        guard added.status == 0 else {
            throw GasworksError(.repository, "cannot add the worktree \(path): \(added.text.firstLine)")
        }
    }

    /// Writes the prompt and starts `record.agent` for `record.generation` in the worktree,
    /// detached, with the environment that tells it who it is; records pid and start time.
    func startAgent(_ record: inout PolecatRecord, prompt: String) throws {
        guard let worktree = record.worktree, let command = record.agent, let generation = record.generation else {
            throw GasworksError(.badData, "record of \(record.address) has no worktree, agent or generation")
        }
        let key = Self.key(record)
        LocalFile.makeDirectories(directory(key))
        let promptFile = directory(key) + "/prompt.md"
        do {
            try LocalFile.write(prompt, to: promptFile)
        } catch {
            throw GasworksError(.repository, "cannot write \(promptFile): \(error.reason)")
        }
        var environment = [
            record.kind == .crew ? "GT_CREW" : "GT_POLECAT": record.name, "GT_GENERATION": generation,
            "GT_RIG": rigName(), "GT_PROMPT": promptFile,
        ]
        if let bead = record.bead { environment["GT_BEAD"] = bead }
        if let molecule = record.molecule { environment["GT_MOLECULE"] = molecule }
        // The agent acts as the polecat: no inherited actor or mailbox of whoever started it.
        // Nothing of whoever started it: every GT_ variable is set afresh.
        let log = directory(key) + "/agent-\(generation).log"
        // Confined unless the overseer turned the sandbox off: the agent runs in bubblewrap
        // under its broker, which carries out its state changes.
        let argv =
            try Sandbox.isOff(repository) ? ["/bin/sh", "-c", command] : try confined(record, command, environment)
        record.fields["sandbox"] = argv.first == "/bin/sh" ? nil : .string("bwrap")
        let pid: pid_t
        if record.string("session") == "tmux" {
            let session = tmuxSession(record)
            record.fields["tmux_session"] = .string(session)
            pid = try Tmux.start(
                session, command: argv.first == "/bin/sh" ? command : argv.map(Self.quoted).joined(separator: " "),
                in: worktree, variables: environment, log: log,
                environment: ChildProcess.environment(removingPrefixes: ["GT_"]))
        } else {
            pid = try ChildProcess.spawnDetached(
                argv, in: worktree,
                environment: ChildProcess.environment(removingPrefixes: ["GT_"], adding: environment), log: log)
        }
        record.pid = pid
        record.pidStart = ChildProcess.startTime(of: pid)
        record.state = .running
    }

    /// Refuses, before anything is written, to start an agent that cannot be confined:
    /// bubblewrap missing or failing here, unless the overseer set `gt.sandbox=off`.
    public func refuseUnsandboxable() throws {
        if try !Sandbox.isOff(repository), let reason = Sandbox.unavailable(repository) {
            throw GasworksError(.refused, "cannot sandbox the agent: \(reason)")
        }
    }

    /// The command line that runs `command` for `record` in a sandbox under its broker
    /// (`gasworks __broker`): writable are its worktree and the worktree's admin directory,
    /// the object store, its branch's ref directory, a private home and the paths
    /// `gt.sandbox.bind` names (and its preset's CLI state, such as `~/.claude`).
    func confined(_ record: PolecatRecord, _ command: String, _ environment: [String: String]) throws -> [String] {
        try refuseUnsandboxable()
        guard let worktree = record.worktree, let generation = record.generation else {
            throw GasworksError(.badData, "record of \(record.address) has no worktree or generation")
        }
        let common = repository.commonDir
        let home = directory(Self.key(record)) + "/home"
        let branchDirectory = record.kind == .crew ? "crew" : "polecat/\(record.name)"
        for path in [home, common + "refs/heads/" + branchDirectory, common + "logs/refs/heads/" + branchDirectory] {
            LocalFile.makeDirectories(path)
        }
        var sandbox = try Sandbox(repository: repository)
        sandbox.writable += [worktree] + (Sandbox.adminDirectory(ofWorktree: worktree).map { [$0] } ?? [])
        sandbox.writable += [
            common + "objects", common + "refs/heads/" + branchDirectory, common + "logs/refs/heads/" + branchDirectory,
        ]
        sandbox.writable += Self.presetState(command).map(LocalFile.expandingHome)
        sandbox.home = home
        sandbox.directory = worktree
        // Absolute paths the command names (a script of its own) stay visible.
        sandbox.readable = command.split(whereSeparator: { " \t\n'\"=;&|()".contains($0) }).map(String.init)
            .filter { $0.hasPrefix("/") }
        sandbox.environment = environment
        // The socket's directory lies outside anything the sandbox shows (its /tmp is private).
        let sockets = Sandbox.runtimeDirectory
        LocalFile.makeDirectories(sockets)
        chmod(sockets, 0o700)
        let socket = sockets + "/\(record.name)-\(generation.prefix(12)).sock"
        sandbox.socket = socket
        let executable = LocalFile.currentExecutable() ?? "gasworks"
        let broker = [
            executable, "__broker", "--rig", common, "--worker", record.address, "--generation", generation,
            "--socket", socket, "--worktree", worktree, "--",
        ]
        // The broker must be listening before bwrap binds its socket in: it starts the agent itself.
        return broker + sandbox.command(["/bin/sh", "-c", command])
    }

    /// What agent CLIs keep in the home directory and must be able to write.
    static func presetState(_ command: String) -> [String] {
        let word = command.split(separator: " ").first.map { String($0.split(separator: "/").last ?? "") } ?? ""
        switch word {
        case "claude": return ["~/.claude", "~/.claude.json"]
        case "codex": return ["~/.codex"]
        case "gemini": return ["~/.gemini"]
        case "aider": return ["~/.aider", "~/.aider.chat.history.md"]
        default: return []
        }
    }

    /// A fresh agent in the same worktree with a new generation: the old process (if it still
    /// runs) is ended first, and from now on its commands are refused as stale.
    /// With `expecting`, only that generation is restarted (the deacon's restart of a dead
    /// agent never touches a newer one).
    public func restart(
        _ name: String, expecting: String? = nil, prompt: (PolecatRecord) throws -> String
    ) throws -> PolecatRecord {
        let current = try store.require(name)
        guard current.state == .running || current.state == .stopped else {
            throw GasworksError(.refused, "cannot restart \(current.address): it is \(current.state.rawValue)")
        }
        if let expecting, current.generation != expecting {
            throw GasworksError(.refused, "\(current.address) runs generation \(current.generation ?? "-") now")
        }
        // A stopped polecat gave its slot up; running again takes one (gt.polecat.max).
        if current.state == .stopped, current.kind == .polecat, try !takeSlot(for: name) {
            throw GasworksError(.refused, "cannot restart \(current.address): every slot (gt.polecat.max) is taken")
        }
        terminate(current)
        var next = current
        next.generation = Self.newGeneration()
        // The new generation is recorded before its agent starts, so the old one is refused
        // from the first moment the new one could act.
        next.pid = nil
        next.pidStart = nil
        let reserved = next
        try store.update(name, op: "restart") { record in
            guard record.generation == current.generation, record.state == current.state else {
                throw GasworksError(.refused, "\(record.address) changed meanwhile (restarted or stopped elsewhere)")
            }
            record = reserved
        }
        try startAgent(&next, prompt: try prompt(next))
        let started = next
        do {
            return try store.update(name, op: "start") { record in
                guard record.generation == reserved.generation else {
                    throw GasworksError(.refused, "\(record.address) was restarted again meanwhile")
                }
                record = started
            }
        } catch {
            // Someone else took over meanwhile: the agent just started must not run beside theirs.
            terminate(started)
            throw error
        }
    }

    /// The rig's name: its main checkout's directory name.
    public func rigName() -> String {
        let name = mainCheckout.split(separator: "/").last.map(String.init) ?? "rig"
        return name.hasSuffix(".git") ? String(name.dropLast(4)) : name
    }

    /// Gives `bead` back to ready if `address` still holds it (a sling or launch undone, work
    /// not finished).
    public func release(_ bead: String, heldBy address: String) throws {
        let beads = try BeadStore(repository: repository, actor: actor)
        try beads.update(bead, op: "release") { bead in
            guard bead.status == .inProgress, bead.assignee == address else { return }
            bead.status = .open
            bead.assignee = nil
        }
    }

    /// Whether a worktree holds changes not committed (`git status --porcelain`).
    public func hasUncommittedChanges(_ worktree: String) throws -> Bool {
        let status = try ChildProcess.run(
            ["git", "status", "--porcelain"], in: worktree, environment: ChildProcess.environment())
        guard status.status == 0 else {
            throw GasworksError(.repository, "cannot read the state of \(worktree): \(status.text.firstLine)")
        }
        return !status.text.isEmpty
    }

    /// The tmux session of a record: one tmux server serves every rig, so the name carries
    /// the rig's name and a digest of its git dir as well as the worker's.
    public func tmuxSession(_ record: PolecatRecord) -> String {
        if let recorded = record.string("tmux_session") { return recorded }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in repository.commonDir.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Tmux.sessionName(rig: rigName(), name: String(hash % 46_656, radix: 36) + "-" + Self.key(record))
    }

    /// The name files and tmux sessions use: `<name>` for a polecat, `crew-<name>` for crew.
    public static func key(_ record: PolecatRecord) -> String {
        record.kind == .crew ? "crew-" + record.name : record.name
    }

    static func quoted(_ text: String) -> String { ShellQuoting.quote(text, in: .plain) }

    /// Whether the record's agent process is alive: its pid runs and started when recorded.
    public static func isAlive(_ record: PolecatRecord) -> Bool {
        guard let pid = record.pid, let recorded = record.pidStart else { return false }
        return ChildProcess.startTime(of: pid) == recorded
    }
}
