import Foundation
import TestSupport
import Testing

/// `git rig sync`: clones that worked apart converge through an ordinary git remote.
@Suite struct RigSyncTests {
    /// A rig with a bare hub beside it and clones of the hub, each set up as a rig.
    final class Town {
        let rig: TemporaryRig
        let hub: String
        var clones: [String] = []

        init() throws {
            rig = try TemporaryRig(tools: ["bead", "mail", "rig"])
            try rig.repository.commitFile("README", "sample\n", message: "initial")
            hub = rig.root + "/hub.git"
            _ = try checked(["init", "-q", "--bare", "-b", "main", hub], in: rig.root)
            _ = try checked(["remote", "add", "hub", hub])
            _ = try checked(["rig", "init", "--prefix", "gw"])
            _ = try checked(["push", "-q", "hub", "main"])
        }

        /// Clones the hub (from `url`, default its path) and sets the clone up as a rig.
        func addClone(_ name: String, url: String? = nil) throws -> String {
            let path = rig.root + "/" + name
            _ = try checked(["clone", "-q", url ?? hub, path], in: rig.root)
            _ = try checked(["rig", "init", "-q"], in: path)
            _ = try checked(["rig", "sync", "-q"], in: path)
            clones.append(path)
            return path
        }

        @discardableResult
        func checked(_ arguments: [String], in directory: String? = nil, at time: String? = nil) throws -> String {
            let env = time.map { ["GIT_COMMITTER_DATE": $0, "GIT_AUTHOR_DATE": $0] } ?? [:]
            let result = try rig.git(arguments, env: env, in: directory)
            guard result.status == 0 else {
                throw TestFailure("git \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
            }
            return result.output
        }

        func json(_ arguments: [String], in directory: String) throws -> Any {
            try JSONSerialization.jsonObject(with: Data(try checked(arguments, in: directory).utf8))
        }

        func bead(_ id: String, in directory: String) throws -> [String: Any] {
            try json(["bead", "show", id, "--json"], in: directory) as? [String: Any] ?? [:]
        }

        /// Every state ref that travels, with its target, as git itself lists them.
        func state(_ directory: String) throws -> String {
            try checked(
                ["for-each-ref", "--format=%(refname) %(objectname)", "refs/gt/", "refs/notes/gt/"], in: directory
            ).split(separator: "\n").filter { line in
                !["refs/gt/polecats/", "refs/gt/crew/", "refs/gt/deacon/", "refs/gt/refinery/lease"].contains {
                    line.hasPrefix($0)
                }
            }.joined(separator: "\n")
        }

        func fsckClean(_ directory: String) throws -> Bool {
            try rig.git(["fsck", "--strict", "--no-progress"], in: directory).status == 0
        }
    }

    @Test func threeClonesEditingApartConvergeOnTheHubWithNothingLostAndOneClaimWinner() throws {
        let town = try Town()
        let shared = try town.checked(["bead", "create", "Shared work", "-l", "base", "-q"])
        let labelled = try town.checked(["bead", "create", "Labelled", "-l", "base", "-q"])
        let contested = try town.checked(["bead", "create", "Contested", "-q"])
        let doomed = try town.checked(["bead", "create", "Doomed", "-q"])
        let first = try town.checked(["mail", "send", "mayor", "-s", "Kick-off", "-q"])
        _ = try town.checked(["rig", "sync", "hub", "-q"])
        let one = try town.addClone("one")
        let two = try town.addClone("two")
        let three = try town.addClone("three")
        let start = try town.state(one)
        #expect(try town.state(two) == start && town.state(three) == start)
        #expect(start.contains("refs/gt/beads/\(shared)"))

        // Cut off from each other, the three clones work on the same beads.
        _ = try town.checked(["bead", "update", shared, "-p", "0"], in: one, at: "2026-01-02T04:00:00Z")
        _ = try town.checked(["bead", "comment", shared, "from one"], in: one, at: "2026-01-02T04:01:00Z")
        _ = try town.checked(["bead", "label", "add", labelled, "one"], in: one, at: "2026-01-02T04:02:00Z")
        _ = try town.checked(
            ["bead", "claim", contested, "--actor", "polecat/ace"], in: one, at: "2026-01-02T04:10:00Z")
        _ = try town.checked(["bead", "delete", doomed, "-r", "not needed"], in: one, at: "2026-01-02T04:03:00Z")
        _ = try town.checked(["mail", "send", "mayor", "-s", "From one", "-q"], in: one)
        _ = try town.checked(["mail", "read", first, "-b", "mayor", "--actor", "mayor"], in: one)
        let new1 = try town.checked(["bead", "create", "Found on one", "-q"], in: one, at: "2026-01-02T04:04:00Z")

        _ = try town.checked(
            ["bead", "update", shared, "--title", "Shared work, renamed"], in: two, at: "2026-01-02T05:00:00Z")
        _ = try town.checked(["bead", "comment", shared, "from two"], in: two, at: "2026-01-02T05:01:00Z")
        _ = try town.checked(["bead", "label", "add", labelled, "two"], in: two, at: "2026-01-02T05:02:00Z")
        _ = try town.checked(
            ["bead", "claim", contested, "--actor", "polecat/bolt"], in: two, at: "2026-01-02T04:05:00Z")
        _ = try town.checked(["bead", "update", doomed, "-d", "edited after all"], in: two, at: "2026-01-02T06:00:00Z")
        _ = try town.checked(["mail", "send", "mayor", "-s", "From two", "-q"], in: two)
        _ = try town.checked(["mail", "ack", first, "-b", "mayor", "--actor", "mayor"], in: two)

        _ = try town.checked(["bead", "update", shared, "-p", "3"], in: three, at: "2026-01-02T07:00:00Z")
        _ = try town.checked(["bead", "label", "remove", labelled, "base"], in: three, at: "2026-01-02T07:01:00Z")
        _ = try town.checked(["mail", "send", "overseer", "-s", "From three", "-q"], in: three)
        let new3 = try town.checked(["bead", "create", "Found on three", "-q"], in: three, at: "2026-01-02T07:02:00Z")
        // What describes one machine's workers stays there.
        for ref in ["refs/gt/polecats/ace", "refs/gt/crew/alice", "refs/gt/deacon/patrol", "refs/gt/refinery/lease"] {
            _ = try town.checked(["update-ref", ref, "HEAD"], in: one)
        }

        // Every clone syncs twice, in a random order each round.
        var order: [String] = []
        for _ in 0..<2 {
            for clone in [one, two, three].shuffled() {
                order.append(String(clone.split(separator: "/").last!))
                _ = try town.checked(["rig", "sync"], in: clone)
            }
        }
        let final = try town.state(town.hub)
        for clone in [one, two, three] {
            #expect(try town.state(clone) == final, "order \(order): \(clone) differs from the hub")
            #expect(try town.fsckClean(clone))
        }
        #expect(try town.fsckClean(town.hub))
        #expect(
            try town.checked(
                ["for-each-ref", "refs/gt/polecats/", "refs/gt/crew/", "refs/gt/deacon/", "refs/gt/refinery/"],
                in: town.hub
            ).isEmpty)
        #expect(try town.checked(["for-each-ref", "refs/gt/polecats/"], in: two).isEmpty)

        // Nothing lost: every field any clone changed, every comment, label, bead and message.
        let merged = try town.bead(shared, in: one)
        #expect(merged["title"] as? String == "Shared work, renamed")
        #expect(merged["priority"] as? Int == 3, "the later of two priorities wins: \(merged)")
        let comments = (merged["comments"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(comments.sorted() == ["from one", "from two"], "\(comments)")
        let labels = try town.bead(labelled, in: two)["labels"] as? [String] ?? []
        #expect(Set(labels) == ["one", "two"], "\(labels)")
        #expect(try town.bead(new1, in: three)["title"] as? String == "Found on one")
        #expect(try town.bead(new3, in: one)["title"] as? String == "Found on three")
        // A deletion stands against a later edit elsewhere.
        let tomb = try town.bead(doomed, in: three)
        #expect(tomb["status"] as? String == "tombstone" && tomb["deleted_at"] != nil, "\(tomb)")

        // One claim wins (the earlier one, made on clone two); the loser is told.
        let claim = try town.bead(contested, in: three)
        #expect(claim["assignee"] as? String == "polecat/bolt" && claim["status"] as? String == "in_progress")
        let note = (claim["comments"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(note.contains { $0.contains("Claim conflict") && $0.contains("polecat/ace") }, "\(note)")
        let told = try town.json(["mail", "inbox", "-b", "polecat/ace", "--json"], in: one) as? [[String: Any]] ?? []
        #expect(told.count == 1 && (told.first?["subject"] as? String ?? "").contains("Claim lost: \(contested)"))

        // Mail from every clone, and the read and ack made on different clones both kept.
        let mayor = try town.json(["mail", "inbox", "-b", "mayor", "--json"], in: three) as? [[String: Any]] ?? []
        #expect(mayor.compactMap { $0["subject"] as? String }.sorted() == ["From one", "From two", "Kick-off"])
        let kickoff = mayor.first { $0["id"] as? String == first }
        #expect(kickoff?["read"] as? Bool == true && kickoff?["acked"] as? Bool == true, "\(mayor)")
        let overseer = try town.json(["mail", "inbox", "-b", "overseer", "--json"], in: two) as? [[String: Any]] ?? []
        #expect(overseer.filter { $0["subject"] as? String == "From three" }.count == 1)
        #expect(overseer.filter { ($0["subject"] as? String ?? "").hasPrefix("Claim lost") }.count == 1, "\(overseer)")

        // The original rig syncs too and ends with the same state.
        _ = try town.checked(["rig", "sync", "hub", "-q"])
        #expect(try town.state(town.rig.path) == final)
    }

    @Test func syncWorksThroughGitDaemonAndClonesMergingAloneWriteTheSameCommits() throws {
        let town = try Town()
        // git daemon serves the hub the origin rig pushes to over file://; a port that is
        // taken makes it exit, and another is tried.
        // git-daemon itself, not `git daemon` (a wrapper that would outlive a kill of itself).
        let daemonProgram = try town.checked(["--exec-path"]) + "/git-daemon"
        var daemon: Child?
        var port = 0
        for _ in 0..<5 where daemon == nil {
            port = Int.random(in: 20_000..<40_000)
            let started = try Child.start(
                [
                    daemonProgram, "--export-all", "--enable=receive-pack", "--reuseaddr", "--listen=127.0.0.1",
                    "--port=\(port)", "--base-path=" + town.rig.root, town.rig.root,
                ], in: town.rig.root, environment: town.rig.repository.environment)
            for _ in 0..<50 where started.isRunning {
                if try town.rig.git(["ls-remote", "git://127.0.0.1:\(port)/hub.git"]).status == 0 {
                    daemon = started
                    break
                }
                usleep(100_000)
            }
            if daemon == nil {
                started.signal(SIGKILL)
                _ = started.wait()
            }
        }
        guard let daemon else { throw TestFailure("git daemon did not come up") }
        defer {
            daemon.signal(SIGKILL)
            _ = daemon.wait()
        }
        let url = { (hub: String) in "git://127.0.0.1:\(port)/hub.git" }
        let bead = try town.checked(["bead", "create", "Over the wire", "-q"])
        _ = try town.checked(["rig", "sync", "hub", "-q"])
        let a = try town.addClone("a", url: url(town.hub))
        let b = try town.addClone("b", url: url(town.hub))
        #expect(try town.bead(bead, in: b)["title"] as? String == "Over the wire")

        _ = try town.checked(["bead", "update", bead, "-p", "1"], in: a, at: "2026-01-03T00:00:00Z")
        _ = try town.checked(["bead", "comment", bead, "from a"], in: a, at: "2026-01-03T00:01:00Z")
        _ = try town.checked(["bead", "label", "add", bead, "b"], in: b, at: "2026-01-03T00:02:00Z")
        _ = try town.checked(["mail", "send", "mayor", "-s", "From b", "-q"], in: b)

        // Peer to peer, without pushing: a merges a snapshot of b's work, b one of a's, so
        // each writes its own merge of the same two tips.
        _ = try town.checked(["clone", "-q", "--mirror", a, a + "0"], in: town.rig.root)
        _ = try town.checked(["clone", "-q", "--mirror", b, b + "0"], in: town.rig.root)
        _ = try town.checked(["remote", "add", "peer", b + "0"], in: a)
        _ = try town.checked(["remote", "add", "peer", a + "0"], in: b)
        _ = try town.checked(["rig", "sync", "peer", "--no-push"], in: a)
        _ = try town.checked(["rig", "sync", "peer", "--no-push"], in: b)
        let beadRef = "refs/gt/beads/" + bead
        let mergedA = try town.checked(["rev-parse", beadRef], in: a)
        #expect(try town.checked(["rev-parse", beadRef], in: b) == mergedA, "the two merges are one commit")
        #expect(
            try town.checked(["rev-list", "--parents", "-n", "1", beadRef], in: a).split(separator: " ").count == 3)
        #expect(try town.state(a) == town.state(b))

        // Then both through the daemon: the hub ends with the same state.
        _ = try town.checked(["rig", "sync", "origin"], in: a)
        _ = try town.checked(["rig", "sync", "origin"], in: b)
        _ = try town.checked(["rig", "sync", "hub"])
        let final = try town.state(town.hub)
        #expect(try town.state(a) == final && town.state(b) == final && town.state(town.rig.path) == final)
        let merged = try town.bead(bead, in: town.rig.path)
        #expect(merged["priority"] as? Int == 1 && merged["labels"] as? [String] == ["b"])
        #expect((merged["comments"] as? [[String: Any]])?.count == 1)
    }

    @Test func concurrentSyncsRetryUntilEveryPushLands() throws {
        let town = try Town()
        _ = try town.checked(["rig", "sync", "hub", "-q"])
        var clones: [String] = []
        for index in 0..<4 { clones.append(try town.addClone("c\(index)")) }
        for (index, clone) in clones.enumerated() {
            for n in 0..<3 { _ = try town.checked(["bead", "create", "c\(index) bead \(n)", "-q"], in: clone) }
            _ = try town.checked(["mail", "send", "mayor", "-s", "from c\(index)", "-q"], in: clone)
        }
        let children = try clones.map { clone in
            try Child.start(
                ["git", "rig", "sync"], in: clone, environment: town.rig.repository.environment,
                stderr: .file(clone + ".err"))
        }
        for (child, clone) in zip(children, clones) {
            #expect(child.wait() == 0, "\((try? String(contentsOfFile: clone + ".err", encoding: .utf8)) ?? "")")
        }
        for clone in clones { _ = try town.checked(["rig", "sync", "-q"], in: clone) }
        let final = try town.state(town.hub)
        for clone in clones { #expect(try town.state(clone) == final) }
        let beads = try town.json(["bead", "list", "--json"], in: clones[0]) as? [[String: Any]] ?? []
        #expect(beads.count == 12)
        let mayor = try town.json(["mail", "inbox", "-b", "mayor", "--json"], in: clones[3]) as? [[String: Any]] ?? []
        #expect(mayor.count == 4)
    }

    @Test func badRemotesGetOneLineAndChangeNothing() throws {
        let town = try Town()
        let bead = try town.checked(["bead", "create", "Stays", "-q"])
        let before = try town.state(town.rig.path)
        // A hub that refuses every push: one line naming why, status 128.
        let strict = town.rig.root + "/strict.git"
        _ = try town.checked(["init", "-q", "--bare", strict], in: town.rig.root)
        try "#!/bin/sh\nexit 1\n".write(toFile: strict + "/hooks/pre-receive", atomically: true, encoding: .utf8)
        chmod(strict + "/hooks/pre-receive", 0o755)
        _ = try town.checked(["remote", "add", "strict", strict])
        let refused = try town.rig.git(["rig", "sync", "strict"])
        #expect(refused.status == 128 && refused.stderr.contains("pre-receive hook declined"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1)
        _ = try town.checked(["remote", "remove", "strict"])
        let unknown = try town.rig.git(["rig", "sync", "nowhere"])
        #expect(unknown.status == 2 && unknown.stderr == "fatal: no remote 'nowhere' (git remote add nowhere <url>)\n")
        _ = try town.checked(["remote", "add", "gone", town.rig.root + "/missing.git"])
        let gone = try town.rig.git(["rig", "sync", "gone"])
        #expect(gone.status == 128 && gone.stderr.hasPrefix("fatal: cannot fetch from gone: "), "\(gone.stderr)")
        #expect(gone.stderr.split(separator: "\n").count == 1)
        let several = try town.rig.git(["rig", "sync"])
        #expect(several.status == 64 && several.stderr.contains("several remotes"), "\(several.stderr)")
        let attempts = try town.rig.git(["rig", "sync", "hub", "--attempts", "0"])
        #expect(attempts.status == 64)
        #expect(try town.state(town.rig.path) == before)
        #expect(try town.bead(bead, in: town.rig.path)["title"] as? String == "Stays")
    }

    @Test func aBeadIdCreatedOnTwoClonesIsKeptApartAndReported() throws {
        let town = try Town()
        let epic = try town.checked(["bead", "create", "Epic", "-t", "epic", "-q"])
        _ = try town.checked(["rig", "sync", "hub", "-q"])
        let one = try town.addClone("one")
        let two = try town.addClone("two")
        // Children are numbered from what each clone sees: both make <epic>.1.
        let child1 = try town.checked(["bead", "create", "Child on one", "--parent", epic, "-q"], in: one)
        let child2 = try town.checked(["bead", "create", "Child on two", "--parent", epic, "-q"], in: two)
        #expect(child1 == child2)
        _ = try town.checked(["rig", "sync", "-q"], in: one)
        let clash = try town.rig.git(["rig", "sync"], in: two)
        #expect(clash.status == 1, "\(clash.stdout)\(clash.stderr)")
        #expect(clash.stderr.hasPrefix("fatal: \(child2) created separately here and on origin"), "\(clash.stderr)")
        #expect(try town.bead(child2, in: two)["title"] as? String == "Child on two")
        #expect(try town.bead(child1, in: one)["title"] as? String == "Child on one")
        let hub = try town.checked(["cat-file", "-p", "refs/gt/beads/\(child1):bead.json"], in: town.hub)
        #expect(hub.contains("Child on one"))
        // Everything else still travelled: the epic's update from two reaches the hub.
        #expect(
            try town.checked(["rev-parse", "refs/gt/beads/\(epic)"], in: town.hub)
                == town.checked(["rev-parse", "refs/gt/beads/\(epic)"], in: two))
    }
}
