import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The mailbox for the whole-process `gasworks mail …` figures, built once per run (untimed).
final class MailFixture {
    static let inboxMessages = 10_000
    static let inboxLimit = 50
    static let inboxMailbox = "mayor"

    let directory: String
    init(directory: String) { self.directory = directory }

    // MARK: one message of the generated mailbox

    /// Message `index` (0 is the oldest) of the generated mailbox, exactly as `gasworks mail send`
    /// would have stored it: the fields of `message.json` and the commit around it.
    struct GeneratedMessage {
        var id: String
        var from: String
        var subject: String
        var body: String
        var type: String
        var priority: String
        var seconds: Int

        init(_ index: Int) {
            id = Self.id(index)
            let senders = ["polecat/nux", "polecat/furiosa", "witness", "refinery", "deacon", "crew/max", "overseer"]
            let types = ["done", "help", "question", "task", "escalation", "notification", "message"]
            from = senders[index % senders.count]
            type = types[(index / 3) % types.count]
            priority = index % 50 == 0 ? "urgent" : index % 10 == 0 ? "high" : "normal"
            subject = "Generated message \(index)"
            body = "Message \(index) of the 10,000-message benchmark mailbox, from \(from)."
            seconds = 1_700_000_000 + 60 * index
        }

        /// `m-` and 8 base-36 digits, as gasworks makes them; index × an odd multiplier not
        /// divisible by 3 is a bijection modulo 36^8, so the ids are distinct and look random.
        static func id(_ index: Int) -> String {
            let modulus: Int64 = 2_821_109_907_456  // 36^8
            var value = (Int64(index) * 2_654_435_761 + 12_345) % modulus
            let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz")
            var out = "m-"
            for _ in 0..<8 {
                out.append(digits[Int(value % 36)])
                value /= 36
            }
            return out
        }

        var time: String { iso8601(seconds) }

        /// `message.json`: canonical JSON, keys sorted, two-space indentation, a final newline.
        /// Written out here by hand; the set-up checks it against gasworks' own canonical form.
        var json: String {
            "{\n  \"body\": \"\(body)\",\n  \"from\": \"\(from)\",\n  \"id\": \"\(id)\",\n"
                + "  \"priority\": \"\(priority)\",\n  \"subject\": \"\(subject)\",\n  \"thread\": \"\(id)\",\n"
                + "  \"time\": \"\(time)\",\n  \"to\": [\n    \"\(MailFixture.inboxMailbox)\"\n  ],\n"
                + "  \"type\": \"\(type)\"\n}\n"
        }

        /// What `gasworks mail inbox --json` must print for it (no state notes: unread).
        var inboxJSON: JSONValue {
            .object([
                "id": .string(id), "from": .string(from), "to": .array([.string(MailFixture.inboxMailbox)]),
                "subject": .string(subject), "body": .string(body), "type": .string(type),
                "priority": .string(priority), "thread": .string(id), "time": .string(time),
                "mailbox": .string(MailFixture.inboxMailbox), "read": .bool(false), "acked": .bool(false),
                "archived": .bool(false),
            ])
        }

        var commitMessage: String {
            "\(subject)\n\n\(body)\n\nGt-Message-Id: \(id)\nGt-From: \(from)\nGt-To: \(MailFixture.inboxMailbox)\n"
                + "Gt-Type: \(type)\nGt-Priority: \(priority)\nGt-Thread: \(id)\nGt-Mailbox: \(MailFixture.inboxMailbox)\n"
        }
    }

    // MARK: a mailbox of 10,000 messages

    struct InboxRig {
        var path: String
        /// The ids `inbox -n 50 -q` must print: the 50 newest, newest first, one a line.
        var expected: String
        /// How the objects ended up stored (the pack's delta chains), for the report.
        var layout: String
    }

    private var cachedInboxRig: InboxRig?

    func inboxRig() throws -> InboxRig {
        if let cachedInboxRig { return cachedInboxRig }
        let count = Self.inboxMessages
        let ref = "refs/gt/mail/" + Self.inboxMailbox
        var stream = ""
        stream.reserveCapacity(count * 800)
        for index in 0..<count {
            let message = GeneratedMessage(index)
            let json = message.json
            let text = message.commitMessage
            // No `from`: each commit continues the branch, so the chain is one message per
            // commit, newest at the tip, as `gasworks mail send` leaves it.
            stream +=
                "commit \(ref)\nauthor \(message.from) <bench@localhost> \(message.seconds) +0000\n"
                + "committer bench <bench@localhost> \(message.seconds) +0000\n"
                + "data \(text.utf8.count)\n\(text)\nM 100644 inline message.json\ndata \(json.utf8.count)\n\(json)\n"
        }
        let streamPath = directory + "/mail-10k.fast-import"
        try writeFile(streamPath, stream)
        let path = directory + "/mail-10k"
        try Spawn.output(["git", "init", "-q", "-b", "main", path])
        try Spawn.output(["git", "fast-import", "--quiet"], in: path, stdinPath: streamPath)
        let before = try packLayout(path, ref: ref)
        // -f: without it repack reuses fast-import's deltas as they are (tried: the chains come
        // out identical), and fast-import deltifies each message.json against the one before,
        // which leaves the newest objects at the ends of the chains. A gc over the loose objects
        // a real mailbox accumulates computes fresh deltas, against the newest objects.
        try Spawn.output(["git", "repack", "-adfq"], in: path)
        let after = try packLayout(path, ref: ref)

        // Untimed checks that the mailbox is what gasworks itself would have written and reads.
        let commits = trimmed(try Spawn.output(["git", "rev-list", "--count", ref], in: path))
        guard commits == String(count) else { throw BenchError("the mailbox has \(commits) commits, not \(count)") }
        let newest = GeneratedMessage(count - 1)
        let stored = try Spawn.output(["git", "cat-file", "blob", ref + ":message.json"], in: path)
        guard stored == newest.json, try JSONValue.parse(stored).canonicalText == stored else {
            throw BenchError("the generated message.json is not gasworks' canonical JSON:\n\(stored)")
        }
        let shown = try Spawn.output(
            [try gasworksBinary(), "mail", "inbox", "-b", Self.inboxMailbox, "-n", "1", "--json"], in: path)
        guard try JSONValue.parse(shown) == .array([newest.inboxJSON]) else {
            throw BenchError("gasworks mail inbox --json shows the newest message as \(shown)")
        }
        let counts = try Spawn.output(["git", "count-objects", "-v"], in: path)
        guard counts.contains("\ncount: 0\n") || counts.hasPrefix("count: 0\n"), counts.contains("\npacks: 1\n") else {
            throw BenchError("after git repack -adf the objects are not in one pack:\n\(counts)")
        }

        let expected = (0..<Self.inboxLimit).map { GeneratedMessage(count - 1 - $0).id + "\n" }.joined()
        let rig = InboxRig(
            path: path, expected: expected,
            layout: "\(counted(after.objects, "object")) in one pack, none loose (after `git repack -adf`); "
                + "the 50 newest messages' objects at delta depth \(after.newestDepths), longest chain "
                + "\(after.longestChain). As fast-import left them: depth \(before.newestDepths), longest chain "
                + "\(before.longestChain)")
        cachedInboxRig = rig
        return rig
    }

    /// Delta depths in the single pack of `repository`: of the commits, trees and `message.json`
    /// blobs of the 50 newest messages (as "min–max, mean"), and the longest chain.
    private func packLayout(_ repository: String, ref: String) throws -> (
        objects: Int, newestDepths: String, longestChain: Int
    ) {
        let packs = try Spawn.output(["sh", "-c", "ls .git/objects/pack/*.idx"], in: repository)
            .split(separator: "\n").map(String.init)
        guard packs.count == 1 else { throw BenchError("\(packs.count) packs in \(repository)") }
        var depth: [Substring: Int] = [:]
        var objects = 0
        var longest = 0
        for line in try Spawn.output(["git", "verify-pack", "-v", packs[0]], in: repository).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 5, fields[0].count == 40 {
                objects += 1
                let value = fields.count >= 7 ? Int(fields[5]) ?? 0 : 0
                depth[fields[0]] = value
                longest = max(longest, value)
            }
        }
        let names = (0..<Self.inboxLimit).flatMap { back in
            ["\(ref)~\(back)", "\(ref)~\(back)^{tree}", "\(ref)~\(back):message.json"]
        }
        let ids = try Spawn.output(["git", "rev-parse"] + names, in: repository).split(separator: "\n")
        guard ids.count == names.count else {
            throw BenchError("git rev-parse resolved \(ids.count) of \(names.count)")
        }
        let depths = try ids.map { id -> Int in
            guard let value = depth[id] else { throw BenchError("\(id) is not in the pack") }
            return value
        }
        let mean = Double(depths.reduce(0, +)) / Double(depths.count)
        return (objects, "\(depths.min()!)–\(depths.max()!) (mean \(formatDecimal(mean, places: 1)))", longest)
    }
}

// MARK: a child left running while the harness does other work

/// A child process started with posix_spawn and reaped later, its output in files:
/// `Spawn.run` waits for its child, which a waiter must not do.
final class BackgroundProcess {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String
    private var status: Int32?

    init(_ argv: [String], in directory: String, stdoutPath: String, stderrPath: String) throws {
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer {
            for argument in cArgs { free(argument) }
        }
        // As in Spawn.run: the harness is single-threaded, so it changes its own directory.
        let previous = open(".", O_RDONLY | O_DIRECTORY)
        defer { close(previous) }
        guard chdir(directory) == 0 else { throw BenchError("cannot enter \(directory)") }
        var child = pid_t()
        let rc = cArgs.withUnsafeBufferPointer {
            posix_spawnp(&child, argv[0], &actions, nil, $0.baseAddress!, environ)
        }
        _ = fchdir(previous)
        guard rc == 0 else { throw BenchError("cannot run \(argv[0]): \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// Waits for the child to exit and returns its exit status (128 + signal when killed).
    @discardableResult
    func wait() throws -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 {
            guard errno == EINTR else { throw BenchError("waitpid failed for \(pid)") }
        }
        let exitStatus: Int32 = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        status = exitStatus
        return exitStatus
    }

    /// Kills the child if it has not been reaped yet (after a failed check), then reaps it.
    func stop() {
        guard status == nil else { return }
        kill(pid, SIGKILL)
        _ = try? wait()
    }

    /// The child's scheduling state and CPU time so far, from `/proc/<pid>/stat`.
    func sample() throws -> (state: String, cpuTicks: Int) {
        let text = try readFile("/proc/\(pid)/stat")
        // Fields after the command name, which is in parentheses and may hold spaces:
        // state is field 3, utime 14 and stime 15.
        guard let close = text.lastIndex(of: ")") else { throw BenchError("cannot parse /proc/\(pid)/stat") }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let utime = Int(fields[11]), let stime = Int(fields[12]) else {
            throw BenchError("cannot parse /proc/\(pid)/stat: \(text)")
        }
        return (String(fields[0]), utime + stime)
    }

    /// The system call the child is blocked in, from `/proc/<pid>/syscall` (x86-64 numbers).
    func blockedIn() -> String {
        guard let text = try? readFile("/proc/\(pid)/syscall"),
            let number = text.split(separator: " ").first.flatMap({ Int($0) })
        else { return "an unknown system call" }
        #if arch(x86_64)
            let names = [7: "poll(2)", 271: "ppoll(2)", 232: "epoll_wait(2)", 281: "epoll_pwait(2)", 0: "read(2)"]
            return names[number].map { "\($0) (syscall \(number))" } ?? "syscall \(number)"
        #else
            return "syscall \(number)"
        #endif
    }
}

func mailFigures(_ mail: @escaping () -> MailFixture) -> [Figure] {
    var figures: [Figure] = []

    let inboxArguments = ["mail", "inbox", "-b", MailFixture.inboxMailbox, "-n", "\(MailFixture.inboxLimit)", "-q"]
    let logFormat = "--format=%(trailers:key=Gt-Message-Id,valueonly)"
    let logArguments = ["log", "-\(MailFixture.inboxLimit)", logFormat, "refs/gt/mail/" + MailFixture.inboxMailbox]
    figures.append(
        Figure(
            name: "mail-inbox-50-of-10k", title: "git mail inbox -n 50 of a 10,000-message mailbox",
            measures: "A mailbox `mayor` of 10,000 messages, built once per run with `git fast-import`: one "
                + "commit per message, commit times increasing, each tree holding the message's canonical "
                + "`message.json` and each commit message carrying its `Gt-…` trailers, exactly as `gasworks mail "
                + "send` writes them (checked: the newest `message.json` is gasworks' canonical JSON and `gasworks "
                + "mail inbox --json` reads it back field for field). The objects are then repacked with `git "
                + "repack -adf`, as a gc over a real mailbox's loose objects would pack them: a fast-import pack "
                + "deltifies each `message.json` against the one before, which puts the newest objects at the "
                + "ends of the delta chains — unrepresentative, and a plain `git repack -ad` keeps those chains "
                + "as they are (tried), hence `-f`. The ours side's observation gives the delta depths both ways. "
                + "Whole-process `gasworks mail inbox -b mayor -n 50 -q` (no state notes: every message unread) "
                + "must print exactly the 50 newest ids, newest first. The baseline prints the same 50 ids with "
                + "one `git log` reading the `Gt-Message-Id` trailers of the same commits (its blank separator "
                + "lines dropped before comparing).",
            ours: Side("`gasworks \(inboxArguments.joined(separator: " "))`", .wholeProcess) { trial in
                let fixture = mail()
                let rig = try fixture.inboxRig()
                let result = try trial.time { try Spawn.run([try gasworksBinary()] + inboxArguments, in: rig.path) }
                try trial.expect(
                    result.status == 0 && result.stderr.isEmpty, "inbox exited \(result.status): \(result.stderr)")
                try trial.expect(result.stdout == rig.expected, "inbox printed other ids than the 50 newest")
                trial.fingerprint = digest(result.stdout)
                trial.observation = rig.layout
            },
            baseline: Side("`git \(logArguments.joined(separator: " "))`", .wholeProcess) { trial in
                let rig = try mail().inboxRig()
                let result = try trial.time { try Spawn.run(["git"] + logArguments, in: rig.path) }
                try trial.expect(result.status == 0, "git log failed: \(result.stderr)")
                let ids = result.stdout.split(separator: "\n").map { $0 + "\n" }.joined()
                try trial.expect(ids == rig.expected, "git log printed other ids than the 50 newest")
                trial.fingerprint = digest(ids)
            },
            targetSeconds: 0.050, sameOutput: true, repetitions: 21))

    let sendArguments = ["mail", "send", "deacon", "-s", "wake", "-q"]
    let waitArguments = ["mail", "wait", "-b", "deacon", "--timeout", "30", "-q"]
    /// Checks that `send` delivered exactly one message, `id`, to deacon in `repository`.
    func checkSent(_ send: ChildResult, in repository: String, trial: Trial) throws -> String {
        let id = String(send.stdout.dropLast())
        try trial.expect(
            send.status == 0 && send.stderr.isEmpty && send.stdout.hasSuffix("\n") && id.count == 10
                && id.hasPrefix("m-"), "send exited \(send.status) printing \(send.stdout)\(send.stderr)")
        let count = trimmed(try trial.git("rev-list", "--count", "refs/gt/mail/deacon", in: repository))
        try trial.expect(count == "1", "deacon's mailbox holds \(count) messages after one send")
        let trailer = try trial.git(
            "log", "-1", "--format=%(trailers:key=Gt-Message-Id,valueonly)", "refs/gt/mail/deacon", in: repository)
        try trial.expect(trimmed(trailer) == id, "the delivered commit carries \(trailer), not \(id)")
        return id
    }
    figures.append(
        Figure(
            name: "mail-wait-wake", title: "git mail wait: from a send by another process to the waiter's exit",
            measures: "In a fresh repository, `gasworks mail wait -b deacon --timeout 30 -q` is started "
                + "(posix_spawn) and left 300 ms to fall asleep; the harness reads its `/proc/<pid>/stat` 100 ms "
                + "and 300 ms after the start (untimed) and checks it is sleeping. Then the clock starts, "
                + "`gasworks mail send deacon -s wake -q` runs to completion, and the clock stops when the waiter "
                + "has exited (waitpid): the send-to-wake interval, nothing subtracted. The waiter must have "
                + "printed exactly the id the sender printed and exited 0, and the mailbox must hold that one "
                + "message. The baseline is the same send alone, whole process, in a fresh repository with "
                + "nobody waiting (its `.git/refs/gt/mail/` created beforehand, as the waiter creates it), so "
                + "the ratio is what waking adds beyond the send itself. The parts: the send until the sender "
                + "exits, then until the waiter exits. Most of the second part, and its scatter, was (by hand, "
                + "2026-11-27, `strace -T` and `perf record` of the waiter) the waiter's `close` of its inotify "
                + "descriptor when the wait returns: the kernel then waits for fsnotify's mark reaper, an SRCU "
                + "grace period, 0.1–16 ms; reading and printing the message took about 1 ms. The observation is "
                + "the waiter's state and the CPU time (utime + stime, in clock ticks) it used between the two "
                + "readings, while it should be asleep.",
            ours: Side(
                "`gasworks \(sendArguments.joined(separator: " "))` while `gasworks \(waitArguments.joined(separator: " "))` "
                    + "sleeps, until the waiter exits", .wholeProcess
            ) { trial in
                let gasworks = try gasworksBinary()
                let repository = try trial.initRepository()
                let waiter = try BackgroundProcess(
                    [gasworks] + waitArguments, in: repository, stdoutPath: trial.directory + "/wait.out",
                    stderrPath: trial.directory + "/wait.err")
                defer { waiter.stop() }
                usleep(100_000)
                let early = try waiter.sample()
                usleep(200_000)
                let late = try waiter.sample()
                let blockedIn = waiter.blockedIn()
                try trial.expect(late.state == "S", "the waiter is in state \(late.state) after 300 ms, not asleep")
                let (sent, status) = try trial.time { () -> (ChildResult, Int32) in
                    let sent = try trial.section("send") {
                        try Spawn.run([gasworks] + sendArguments, in: repository)
                    }
                    let status = try trial.section("then until the waiter exits") { try waiter.wait() }
                    return (sent, status)
                }
                let id = try checkSent(sent, in: repository, trial: trial)
                let printed = try readFile(waiter.stdoutPath)
                let errors = try readFile(waiter.stderrPath)
                try trial.expect(
                    status == 0 && printed == id + "\n" && errors.isEmpty,
                    "the waiter exited \(status) printing \(printed)\(errors), not the sent \(id)")
                trial.fingerprint = "the waiter printed the one message sent"
                let ticksPerSecond = Int(sysconf(Int32(_SC_CLK_TCK)))
                let ticks = late.cpuTicks - early.cpuTicks
                trial.observation =
                    "the waiter 300 ms after its start: asleep (state S) in \(blockedIn); CPU time used from 100 to "
                    + "300 ms after its start: \(ticks) tick\(ticks == 1 ? "" : "s") of 1/\(ticksPerSecond) s"
            },
            baseline: Side("`gasworks \(sendArguments.joined(separator: " "))` alone", .wholeProcess) { trial in
                let gasworks = try gasworksBinary()
                let repository = try trial.initRepository()
                try Spawn.output(["mkdir", "-p", repository + "/.git/refs/gt/mail"])
                let sent = try trial.time { try Spawn.run([gasworks] + sendArguments, in: repository) }
                _ = try checkSent(sent, in: repository, trial: trial)
                trial.fingerprint = "one message delivered"
            },
            targetSeconds: 1.0, repetitions: 21))
    return figures
}
