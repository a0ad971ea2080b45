import Foundation
import TestSupport
import Testing

extension TemporaryRig {
    /// Runs `git mail …` and returns stdout, failing when it exits non-zero.
    func mail(_ arguments: String..., env: [String: String] = [:], input: String? = nil) throws -> String {
        let result = try git(["mail"] + arguments, env: env, input: input)
        guard result.status == 0 else {
            throw TestFailure("git mail \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result.output
    }
}

@Suite struct MailTests {
    @Test func sendReadReplyAndThreadThroughPlainGit() throws {
        let rig = try TemporaryRig(tools: ["bead", "mail"])
        let first = try rig.mail(
            "send", "polecat/nux", "-s", "Implement the parser", "-m", "Bead gw-abc.", "--type", "task", "-q",
            env: ["GT_MAILBOX": "mayor"])
        #expect(first.hasPrefix("m-") && first.count == 10)
        let nux = ["GT_POLECAT": "nux"]
        #expect(try rig.mail("count", env: nux) == "1")
        let inbox = try rig.mail("inbox", env: nux)
        #expect(
            inbox.hasPrefix("* \(first)  mayor") && inbox.contains("[task]") && inbox.contains("Implement the parser"))
        #expect(try rig.mail("peek", first, env: nux).contains("Bead gw-abc."))
        #expect(try rig.mail("count", env: nux) == "1")  // peek does not mark read
        #expect(try rig.mail("read", String(first.prefix(5)), env: nux).contains("Subject: Implement the parser"))
        #expect(try rig.mail("count", env: nux) == "0")

        let answer = try rig.mail("reply", first, "-m", "Done, see the branch.", "-q", env: nux)
        let mayorInbox = try rig.mail("inbox", "--json", env: ["GT_MAILBOX": "mayor"])
        #expect(mayorInbox.contains("\"in_reply_to\":\"\(first)\"") && mayorInbox.contains("\"thread\":\"\(first)\""))
        #expect(mayorInbox.contains("\"subject\":\"Re: Implement the parser\""))
        #expect(try rig.mail("thread", answer, "-q").split(separator: "\n").map(String.init) == [first, answer])

        // The inbox is plain git: one commit per message, trailers included.
        let log = try rig.repository.gitOutput(
            "log", "--format=%an|%s|%(trailers:key=In-Reply-To,valueonly)", "refs/gt/mail/mayor")
        #expect(log.trimmingCharacters(in: .whitespacesAndNewlines) == "polecat/nux|Re: Implement the parser|\(first)")
        #expect(
            try rig.repository.gitOutput("show", "refs/gt/mail/polecat/nux:message.json").contains("\"type\": \"task\"")
        )
    }

    @Test func stateNeverRewritesTheChainAndFoldsInOrder() throws {
        let rig = try TemporaryRig(tools: ["mail"])
        let ids = try (1...3).map { try rig.mail("send", "overseer", "-s", "note \($0)", "-q") }
        let tip = try rig.repository.gitOutput("rev-parse", "refs/gt/mail/overseer")
        _ = try rig.mail("read", ids[0])
        _ = try rig.mail("mark-unread", ids[0])
        _ = try rig.mail("read", ids[0])  // same second: the event counter orders them
        _ = try rig.mail("ack", ids[1])
        _ = try rig.mail("archive", ids[2])
        #expect(try rig.repository.gitOutput("rev-parse", "refs/gt/mail/overseer") == tip)
        let json = try rig.mail("inbox", "--all", "--json")
        #expect(json.contains("\"acked\":true"))
        #expect(
            try rig.mail("inbox", "-q").split(separator: "\n").map(String.init).sorted() == [ids[0], ids[1]].sorted())
        #expect(try rig.mail("inbox", "--all", "-q").split(separator: "\n").count == 3)
        #expect(try rig.mail("count") == "0")
        #expect(try rig.mail("search", "NOTE 2", "-q") == ids[1])
        // State lives in notes on the delivering commits, one event per line.
        let note = try rig.repository.gitOutput("notes", "--ref=refs/notes/gt/mail", "show", "refs/gt/mail/overseer~2")
        #expect(
            note.split(separator: "\n").map { $0.contains("\"event\":\"read\"") || $0.contains("\"event\":\"unread\"") }
                == [true, true, true])
    }

    @Test func eachMailboxKeepsItsOwnStateAndIdsResolveByBarePrefix() throws {
        let rig = try TemporaryRig(tools: ["mail"])
        let id = try rig.mail("send", "witness", "crew/ada", "--cc", "witness", "-s", "review", "-q")
        #expect(try rig.mail("read", String(id.dropFirst(2).prefix(4)), "-b", "witness").contains("Subject: review"))
        #expect(try rig.mail("count", "-b", "witness") == "0")
        #expect(try rig.mail("count", "-b", "crew/ada") == "1")
        _ = try rig.mail("archive", id, "-b", "crew/ada")
        #expect(try rig.mail("inbox", "-b", "crew/ada", "-q").isEmpty)
        _ = try rig.mail("unarchive", id, "-b", "crew/ada")
        #expect(try rig.mail("inbox", "-b", "crew/ada", "-q") == id)
        #expect(try rig.mail("inbox", "-b", "witness", "-n", "0", "-q").isEmpty)
        let sent = try rig.mail("send", "witness", "--cc", "witness,mayor", "-s", "once")
        #expect(sent.hasSuffix(" to witness, mayor"))
        // ack reads and acknowledges in one notes commit.
        let before = try rig.repository.gitOutput("rev-list", "--count", "refs/notes/gt/mail")
        _ = try rig.mail("ack", id, "-b", "crew/ada", "--actor", "ada")
        #expect(try rig.repository.gitOutput("rev-list", "--count", "refs/notes/gt/mail") == String(Int(before)! + 1))
        #expect(try rig.mail("count", "-b", "crew/ada") == "0")
        let ambiguous = try rig.git(["mail", "thread", "m-"])
        #expect(ambiguous.status == 3 && ambiguous.stderr.hasPrefix("fatal: 'm-' is ambiguous"))
    }

    @Test func listsGroupsAndCopies() throws {
        let rig = try TemporaryRig(tools: ["mail"])
        _ = try rig.repository.gitOutput("config", "--add", "gt.list.leads", "mayor")
        _ = try rig.repository.gitOutput("config", "--add", "gt.list.leads", "crew/max")
        _ = try rig.mail("send", "polecat/a", "polecat/b", "-s", "hi", "-q")
        _ = try rig.mail("send", "polecats", "leads", "--cc", "witness", "-s", "all hands", "-q")
        for box in ["polecat/a", "polecat/b", "mayor", "crew/max", "witness"] {
            #expect(try rig.mail("inbox", "-b", box).contains("all hands"), "\(box)")
        }
        #expect(try rig.repository.gitOutput("rev-list", "--count", "refs/gt/mail/polecat/a") == "2")
    }

    @Test func badInputIsOneLineAndWritesNothing() throws {
        let rig = try TemporaryRig(tools: ["mail"])
        _ = try rig.mail("send", "mayor", "-s", "exists", "-q")
        let before = try rig.stateRefs()
        for (args, status, message) in [
            (["send", "nobody", "-s", "x"], Int32(64), "fatal: invalid address 'nobody'"),
            (["send", "polecat/", "-s", "x"], 64, "fatal: invalid address 'polecat/'"),
            (["send", "mayor"], 64, "fatal: empty message"),
            (["send", "mayor", "-s", "x", "--type", "gossip"], 64, "fatal: invalid message type 'gossip'"),
            (["read", "m-nothere", "-b", "mayor"], 2, "fatal: no message 'm-nothere' in mayor"),
            (["reply", "m-nothere", "-m", "x"], 2, "fatal: no message 'm-nothere' in overseer"),
            (["send", "mayor", "-s", "x", "--reply-to", "m-nothere"], 2, "fatal: no message 'm-nothere'"),
            (["send"], 64, "fatal: give at least one recipient"),
        ] {
            let result = try rig.git(["mail"] + args)
            #expect(result.status == status, "\(args): \(result.stderr)")
            #expect(
                result.stderr.hasPrefix(message) && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
        #expect(try rig.stateRefs() == before)
    }

    @Test func thirtySendersOfTwentyMessagesLoseNothing() throws {
        let rig = try TemporaryRig(tools: ["mail"])
        let results = try runWorkers(rig, count: 30) { worker in
            "for i in $(seq 20); do git mail send mayor -s \"w\(worker) m$i\" -q --from polecat/w\(worker) >/dev/null || exit 1; done"
        }
        for result in results { #expect(result.status == 0, "\(result.stderr)") }
        let subjects = try rig.repository.gitOutput("log", "--format=%s", "refs/gt/mail/mayor").split(separator: "\n")
            .map(String.init)
        #expect(subjects.count == 600)
        #expect(Set(subjects).count == 600)
        for worker in 0..<30 {
            // Each sender's messages keep their order in the mailbox.
            let mine = subjects.reversed().filter { $0.hasPrefix("w\(worker) ") }
            #expect(mine == (1...20).map { "w\(worker) m\($0)" })
        }
        let listed = try rig.mail("inbox", "-b", "mayor", "-n", "600", "-q")
        #expect(listed == (try rig.mail("inbox", "-b", "mayor", "-n", "600", "-q")))
        #expect(listed.split(separator: "\n").count == 600)
    }

    @Test func waitSleepsWithoutCPUAndWakesOnASendFromAnotherProcess() throws {
        let rig = try TemporaryRig(tools: ["mail"])
        let waiter = try Child.start(
            ["git", "mail", "wait", "-b", "deacon", "--timeout", "60", "-q"], in: rig.path,
            environment: rig.repository.environment, stdout: .capture)
        usleep(1_500_000)
        #expect(waiter.isRunning)
        // CPU ticks of the whole waiting process tree (git and the mail binary) so far.
        let ticks = cpuTicks(of: waiter.pid)
        #expect(ticks < 20, "waiting used \(ticks) ticks of CPU")
        usleep(1_000_000)
        #expect(cpuTicks(of: waiter.pid) - ticks <= 2, "CPU used while idle")

        let sent = try rig.mail("send", "deacon", "-s", "patrol now", "-q")
        let printed = waiter.readAll()
        #expect(waiter.wait() == 0)
        #expect(printed == sent + "\n")

        let timedOut = try rig.git(["mail", "wait", "-b", "deacon", "--timeout", "0.2"])
        #expect(timedOut.status == 1 && timedOut.stderr == "fatal: no new message in deacon within 0.2 s\n")
    }

    @Test func watchStreamsMessagesAsTheyArrive() throws {
        let rig = try TemporaryRig(tools: ["mail"])
        let watcher = try Child.start(
            ["git", "mail", "watch", "-b", "refinery", "--count", "3", "--timeout", "60", "-q"], in: rig.path,
            environment: rig.repository.environment, stdout: .capture)
        usleep(500_000)
        let ids = try (1...3).map { try rig.mail("send", "refinery", "-s", "merge \($0)", "-q") }
        let streamed = watcher.readAll()
        #expect(watcher.wait() == 0)
        #expect(streamed.split(separator: "\n").map(String.init) == ids)
    }
}

/// utime + stime of a process and its reaped children, from /proc (clock ticks).
func cpuTicks(of pid: Int32) -> Int {
    var total = 0
    for id in [pid] + childPIDs(of: pid) {
        guard let stat = try? String(contentsOfFile: "/proc/\(id)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3; utime 14, stime 15, cutime 16, cstime 17.
        total += [11, 12, 13, 14].compactMap { Int(fields[$0]) }.reduce(0, +)
    }
    return total
}

func childPIDs(of pid: Int32) -> [Int32] {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else {
        return []
    }
    let direct = text.split(separator: " ").compactMap { Int32($0) }
    return direct + direct.flatMap(childPIDs)
}
