import Foundation
import TestSupport
import Testing

@Suite struct BeadCommandTests {
    @Test func createShowAndTheAuditLogIsPlainGit() throws {
        let rig = try TemporaryRig()
        let id = try rig.bead(
            "create", "Design the ledger", "-p", "1", "-t", "feature", "-l", "core,design", "-d", "Line one\nline two",
            "-q")
        #expect(id.hasPrefix("gw-") && id.count == 6)
        // Pinned committer date: the bead's times and commit id are reproducible.
        let json = try rig.bead("show", id, "--json")
        #expect(json.contains("\"created_at\":\"2026-01-02T03:04:05Z\""))
        #expect(json.contains("\"labels\":[\"core\",\"design\"]"))
        #expect(json.contains("\"issue_type\":\"feature\"") && json.contains("\"priority\":1"))

        let stored = try rig.repository.gitOutput("show", "refs/gt/beads/\(id):bead.json")
        #expect(stored.hasPrefix("{\n  \"created_at\": \"2026-01-02T03:04:05Z\",\n"))
        _ = try rig.bead("claim", id, env: ["GT_ACTOR": "alice"])
        _ = try rig.bead("close", id, "-r", "shipped")
        let log = try rig.repository.gitOutput("log", "-p", "--format=%s", "refs/gt/beads/\(id)")
        #expect(log.contains("close \(id): close_reason, closed_at, status"))
        #expect(log.contains("-  \"status\": \"in_progress\",\n+  \"status\": \"closed\","))
        #expect(log.contains("claim \(id): assignee, status"))
        let trailers = try rig.repository.gitOutput(
            "log", "--format=%(trailers:key=Gt-Op,valueonly)%(trailers:key=Gt-Actor,valueonly)", "refs/gt/beads/\(id)")
        #expect(
            trailers.split(separator: "\n").map(String.init) == [
                "close", "Test Committer", "claim", "alice", "create", "Test Committer",
            ])
        let history = try rig.bead("history", id)
        #expect(history.contains("alice  claim \(id): assignee, status"))
        #expect(history.contains("status: \"in_progress\" → \"closed\""))
    }

    @Test func readyFollowsBeadsSemantics() throws {
        let rig = try TemporaryRig()
        let blocker = try rig.bead("create", "Blocker", "-p", "1", "-q")
        let blocked = try rig.bead("create", "Blocked", "--deps", "blocks:\(blocker)", "-q")
        let epic = try rig.bead("create", "Epic", "-t", "epic", "--deps", "blocks:\(blocker)", "-q")
        let child = try rig.bead("create", "Child of a blocked epic", "--parent", epic, "-q")
        let deferred = try rig.bead("create", "Later", "--defer-until", "2099-01-01T00:00:00Z", "-q")
        let gate = try rig.bead("create", "Internal", "-t", "gate", "-q")
        let waiter = try rig.bead("create", "Waits for the epic's children", "-q")
        _ = try rig.bead("dep", "add", waiter, epic, "-t", "waits-for")
        let free = try rig.bead("create", "Free", "-p", "3", "-q")
        #expect(child == epic + ".1")

        #expect(try rig.bead("ready", "-q").split(separator: "\n").map(String.init) == [blocker, free])
        let explain = try rig.bead("ready", "--explain", child)
        #expect(explain.contains("parent \(epic) is blocked"))
        #expect(try rig.bead("ready", "--explain", deferred).contains("deferred until 2099-01-01T00:00:00Z"))
        #expect(try rig.bead("ready", "--explain", gate).contains("type gate is internal"))
        #expect(try rig.bead("ready", "--explain", waiter).contains("blocked by \(epic)"))
        #expect(
            try rig.bead("blocked", "-q").split(separator: "\n").map(String.init).sorted()
                == [blocked, epic, waiter].sorted())

        _ = try rig.bead("close", blocker)
        #expect(
            try rig.bead("ready", "-q").split(separator: "\n").map(String.init)
                == [blocked, child, free].sortedByPriorityOf(rig))
        #expect(try rig.bead("ready", "--explain", epic).contains("has open children: \(child)"))
        _ = try rig.bead("close", child)
        #expect(try rig.bead("ready", "--explain", waiter) == "\(waiter) is ready")

        let claimed = try rig.bead("ready", "--claim", "-q", env: ["GT_ACTOR": "bob"])
        #expect(try rig.bead("show", claimed, "--json").contains("\"assignee\":\"bob\""))
    }

    @Test func claimIsOnlyForOpenBeadsThatAreUnassignedOrMine() throws {
        let rig = try TemporaryRig()
        let id = try rig.bead("create", "Work", "-q")
        _ = try rig.bead("claim", id, env: ["GT_ACTOR": "alice"])
        _ = try rig.bead("claim", id, env: ["GT_ACTOR": "alice"])  // already mine: fine, no new commit
        #expect(try rig.repository.gitOutput("rev-list", "--count", "refs/gt/beads/\(id)") == "2")
        let lost = try rig.beadFailing("claim", id, env: ["GT_ACTOR": "bob"])
        #expect(lost.status == 1)
        #expect(lost.stderr == "fatal: cannot claim '\(id)': it is in_progress (assignee alice)\n")
        let assigned = try rig.bead("create", "Assigned", "-a", "carol", "-q")
        #expect(try rig.beadFailing("claim", assigned, env: ["GT_ACTOR": "bob"]).stderr.contains("assigned to carol"))
    }

    @Test func listFiltersSortsAndLimits() throws {
        let rig = try TemporaryRig()
        let a = try rig.bead("create", "Alpha bug", "-t", "bug", "-p", "0", "-l", "ui", "-q")
        let b = try rig.bead("create", "Beta feature", "-t", "feature", "-p", "2", "-a", "dan", "-q")
        let c = try rig.bead(
            "create", "Gamma chore", "-t", "chore", "-p", "4", "-l", "ui,docs", "-d", "mentions zebra", "-q")
        _ = try rig.bead("close", b)
        func ids(_ args: String...) throws -> [String] {
            try rig.git(["bead", "list", "-q"] + args).output.split(separator: "\n").map(String.init)
        }
        #expect(try ids() == [a, c])
        #expect(try ids("--all") == [a, b, c])
        #expect(try ids("--status", "closed") == [b])
        #expect(try ids("-l", "ui") == [a, c])
        #expect(try ids("-l", "ui,docs") == [c])
        #expect(try ids("--all", "-a", "dan") == [b])
        #expect(try ids("--priority-min", "1", "--all") == [b, c])
        #expect(try ids("-t", "bug,chore", "--sort", "title") == [a, c])
        #expect(try ids("--text", "ZEBRA") == [c])
        #expect(try ids("-n", "1") == [a])
        #expect(try rig.bead("search", "zebra", "-q") == c)
        let stats = try rig.bead("stats", "--json")
        #expect(stats.contains("\"total\":3") && stats.contains("\"by_status\":{\"closed\":1,\"open\":2}"))
    }

    @Test func depsCyclesTreesLabelsCommentsReopenAndDelete() throws {
        let rig = try TemporaryRig()
        let a = try rig.bead("create", "A", "-q")
        let b = try rig.bead("create", "B", "--deps", a, "-q")
        let c = try rig.bead("create", "C", "--deps", "blocks:\(b)", "-q")
        let cycle = try rig.beadFailing("dep", "add", a, c)
        #expect(cycle.status == 1)
        #expect(cycle.stderr == "fatal: cannot add blocks dependency \(a) → \(c): it would create a cycle\n")
        _ = try rig.bead("dep", "add", a, c, "-t", "related")  // non-blocking edges may loop
        #expect(try rig.bead("dep", "cycles") == "no dependency cycles")
        let tree = try rig.bead("dep", "tree", c)
        #expect(tree.contains("[blocks] \(b) (open) B") && tree.contains("    [blocks] \(a) (open) A"))
        _ = try rig.bead("dep", "rm", b, a)
        #expect(try rig.bead("ready", "-q").contains(b))

        _ = try rig.bead("label", "add", a, "x", "y")
        _ = try rig.bead("label", "rm", a, "x")
        _ = try rig.bead("comment", a, "first note")
        _ = try rig.bead("comment", a, "--stdin", input: "second\nnote\n")
        let shown = try rig.bead("show", a)
        #expect(
            shown.contains("labels: y")
                && shown.contains("[2] Test Committer at 2026-01-02T03:04:05Z:\n    second\n    note"))

        _ = try rig.bead("close", a)
        _ = try rig.bead("reopen", a)
        #expect(try rig.bead("show", a, "--json").contains("\"status\":\"open\""))
        _ = try rig.bead("delete", a, "-r", "duplicate")
        #expect(try !rig.bead("list", "--all", "-q").contains(a))
        let tombstone = try rig.bead("show", a, "--json")
        #expect(
            tombstone.contains("\"deleted_at\"") && tombstone.contains("\"status\":\"tombstone\"")
                && tombstone.contains("\"original_type\":\"task\""))
        #expect(try rig.beadFailing("claim", a).status == 1)
    }

    @Test func createFromMarkdownJSONAndStdin() throws {
        let rig = try TemporaryRig()
        let markdown = """
            # Sprint

            ## Fix the parser
            It crashes on empty input.

            ### Priority
            1
            ### Type
            bug
            ### Labels
            parser, crash
            ### Acceptance Criteria
            Empty input is an error, not a crash.

            ## Document the parser
            ### Type
            chore
            """
        try markdown.write(toFile: rig.root + "/plan.md", atomically: true, encoding: .utf8)
        let created = try rig.bead("create", "-f", rig.root + "/plan.md", "-q").split(separator: "\n").map(String.init)
        #expect(created.count == 2)
        let first = try rig.bead("show", created[0], "--json")
        #expect(
            first.contains("\"description\":\"It crashes on empty input.\"")
                && first.contains("\"acceptance_criteria\":\"Empty input is an error, not a crash.\""))
        #expect(first.contains("\"labels\":[\"parser\",\"crash\"]") && first.contains("\"issue_type\":\"bug\""))

        try #"[{"title":"From JSON","priority":0,"design":"d"}]"#.write(
            toFile: rig.root + "/b.json", atomically: true, encoding: .utf8)
        let fromJSON = try rig.bead("create", "-f", rig.root + "/b.json", "--parent", created[0], "-q")
        #expect(fromJSON == created[0] + ".1")

        let many = try rig.bead(
            "create", "--stdin", "-q", input: "one\ntwo\n{\"title\":\"three\",\"issue_type\":\"spike\"}\n")
        #expect(many.split(separator: "\n").count == 3)
        #expect(try rig.bead("list", "-t", "spike", "-q").count > 0)
    }

    @Test func aTakenIdMovesOnToTheNextCandidateAtOnce() throws {
        let rig = try TemporaryRig()
        // Same title, actor and pinned time: the same first candidate id every time.
        let first = try rig.bead("create", "Same", "-q")
        let second = try rig.bead("create", "Same", "-q")
        #expect(first != second)
        let batch = try rig.bead("create", "--stdin", "-q", input: "Same\nSame\n").split(separator: "\n").map(
            String.init)
        #expect(Set(batch + [first, second]).count == 4)
        let again = try rig.bead("create", "--stdin", "-q", input: "Same\nSame\n").split(separator: "\n").map(
            String.init)
        #expect(Set(batch + again + [first, second]).count == 6)
    }

    @Test func anyUniquePrefixIsAcceptedAndIdsGrowWithTheRig() throws {
        let rig = try TemporaryRig()
        let input = (1...150).map { "bead \($0)" }.joined(separator: "\n")
        let ids = try rig.bead("create", "--stdin", "-q", input: input).split(separator: "\n").map(String.init)
        #expect(Set(ids).count == 150)
        // 150 beads: past ~100 the hash part grows from 3 to 4 characters.
        #expect(ids.allSatisfy { $0.count == 6 || $0.count == 7 })
        let next = try rig.bead("create", "one more", "-q")
        #expect(next.count == 7)
        let unique = try #require(ids.first { id in ids.filter { $0.hasPrefix(String(id.prefix(5))) }.count == 1 })
        #expect(try rig.bead("show", String(unique.prefix(5)), "-q", "--json").contains("\"id\":\"\(unique)\""))
        #expect(try rig.bead("show", String(unique.dropFirst(3)), "--json").contains(unique))  // without "gw-"
        let ambiguous = try rig.beadFailing("show", "gw-")
        #expect(ambiguous.status == 3 && ambiguous.stderr.hasPrefix("fatal: 'gw-' is ambiguous: "))
    }
}

extension Array where Element == String {
    /// Orders ids the way `ready` does (priority, then creation time, then id).
    func sortedByPriorityOf(_ rig: TemporaryRig) throws -> [String] {
        let listed = try rig.bead("list", "--all", "-q")
        let order = listed.split(separator: "\n").map(String.init)
        return sorted { (order.firstIndex(of: $0) ?? 0) < (order.firstIndex(of: $1) ?? 0) }
    }
}
