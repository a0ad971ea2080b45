import Foundation
import GitKit
import TestSupport
import Testing

@Suite struct RepositoryTests {
    @Test func discoversTheCommonGitDirFromInsideALinkedWorktree() throws {
        let repo = try TemporaryRepository()
        try repo.commitFile("a.txt", "a")
        let linked = repo.root + "/linked"
        _ = try repo.gitOutput("worktree", "add", "-q", "-b", "side", linked)
        try FileManager.default.createDirectory(atPath: linked + "/sub", withIntermediateDirectories: true)

        let opened = try Repository.discover(from: linked + "/sub")

        #expect(opened.isLinkedWorktree)
        #expect(opened.workdir == linked + "/")
        #expect(URL(fileURLWithPath: opened.commonDir).standardized.path == repo.path + "/.git")
        #expect(opened.gitDir.hasPrefix(repo.path + "/.git/worktrees/"))
    }

    @Test func openingADirectoryThatIsNotARepositoryIsNotFound() throws {
        let repo = try TemporaryRepository()
        let plain = repo.root + "/plain"
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        let error = #expect(throws: GitError.self) { try Repository.open(plain) }
        #expect(error?.code == .notFound)
        #expect(error?.function == "git_repository_open_ext")
        #expect(error?.message.contains("could not find repository") == true)
    }

    @Test func configReadsWritesAndListsValues() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        #expect(try opened.config("gt.prefix") == nil)
        try opened.setConfig("gt.prefix", "gw")
        try opened.addConfigValue("remote.hub.fetch", "+refs/gt/*:refs/gt/*")
        try opened.addConfigValue("remote.hub.fetch", "+refs/notes/gt/*:refs/notes/gt/*")
        try opened.addConfigValue("remote.hub.fetch", "+refs/gt/*:refs/gt/*")
        #expect(try opened.config("gt.prefix") == "gw")
        #expect(try repo.gitOutput("config", "gt.prefix") == "gw")
        #expect(
            try opened.configValues("remote.hub.fetch") == ["+refs/gt/*:refs/gt/*", "+refs/notes/gt/*:refs/notes/gt/*"])
        _ = try repo.gitOutput("config", "gt.flag", "yes")
        #expect(try Repository.open(repo.path).configBool("gt.flag") == true)
    }
}

@Suite struct ObjectTests {
    @Test func blobsTreesAndCommitsRoundTripAndGitAgrees() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let blob = try opened.writeBlob("{\"id\":\"gw-1\"}\n")
        let tree = try opened.writeTree([
            TreeEntry(name: "bead.json", id: blob, kind: .blob),
            TreeEntry(name: "a.sh", id: blob, kind: .executable),
        ])
        let who = Signature(name: "Ann", email: "ann@example.com", time: 1_767_225_600, offsetMinutes: 60)
        let commit = try opened.writeCommit(tree: tree, parents: [], message: "create gw-1\n", author: who)

        #expect(try opened.readBlobText(blob) == "{\"id\":\"gw-1\"}\n")
        #expect(try opened.treeEntries(tree).map(\.name) == ["a.sh", "bead.json"])
        #expect(try opened.treeEntry(tree, path: "a.sh")?.kind == .executable)
        #expect(try opened.treeEntry(tree, path: "missing") == nil)
        let read = try opened.commit(commit)
        #expect(read.tree == tree && read.parents.isEmpty && read.message == "create gw-1\n")
        #expect(read.author == who)
        #expect(try repo.gitOutput("cat-file", "-p", commit.hex + ":bead.json") == "{\"id\":\"gw-1\"}")
        #expect(
            try repo.gitOutput("log", "-1", "--format=%an %ae %ad", "--date=raw", commit.hex)
                == "Ann ann@example.com 1767225600 +0100")
        #expect(try repo.git("fsck", "--strict").status == 0)
    }

    @Test func mergeBaseAndAncestry() throws {
        let repo = try TemporaryRepository()
        let base = try repo.commitFile("a", "1")
        _ = try repo.gitOutput("checkout", "-q", "-b", "side")
        let side = try repo.commitFile("b", "2")
        _ = try repo.gitOutput("checkout", "-q", "main")
        let main = try repo.commitFile("c", "3")
        let opened = try Repository.open(repo.path)
        let sideID = try #require(OID(hex: side))
        let mainID = try #require(OID(hex: main))
        #expect(try opened.mergeBase(sideID, mainID)?.hex == base)
        #expect(try opened.isAncestor(try #require(OID(hex: base)), of: mainID))
        #expect(try !opened.isAncestor(sideID, of: mainID))
        #expect(try opened.revparse("main~1").hex == base)
    }

    @Test func batchedObjectsLandInOnePackBeforeTheCallReturns() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let ids = try opened.withObjectBatch { batch in
            try (0..<300).map { try batch.writeBlob("object \($0)\n") }
        }
        #expect(try repo.gitOutput("count-objects", "-v").contains("in-pack: 300"))
        #expect(try repo.gitOutput("count-objects").hasPrefix("0 objects"))
        for (index, id) in ids.enumerated() { #expect(try opened.readBlobText(id) == "object \(index)\n") }
        #expect(try repo.git("fsck", "--strict").status == 0)
    }

    @Test func datesParseLikeGit() {
        #expect(Signature.parseGitDate("@1700000000 +0130")! == (1_700_000_000, 90))
        #expect(Signature.parseGitDate("2026-01-02T03:04:05Z")! == (1_767_323_045, 0))
        #expect(ISO8601.parse("2025-11-02T21:58:07.295058-08:00") == ISO8601.parse("2025-11-03T05:58:07Z"))
        #expect(ISO8601.format(1_767_323_045) == "2026-01-02T03:04:05Z")
        #expect(ISO8601.parse("2025-13-02T00:00:00Z") == nil)
        #expect(ISO8601.parse("yesterday") == nil)
    }
}

@Suite struct WalkTests {
    @Test func walksNewestFirstLazilyAndHidesAncestors() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        // A chain of 20 commits sharing one pinned time: order must follow the chain.
        var chain: [OID] = []
        for index in 0..<20 { chain.append(try makeCommit(opened, "c\(index)", parent: chain.last)) }
        #expect(try opened.walk(from: [chain.last!]) == chain.reversed())
        #expect(try opened.walk(from: [chain.last!], limit: 3) == Array(chain.reversed().prefix(3)))
        #expect(try opened.walk(from: [chain.last!], hiding: [chain[16]]) == Array(chain.reversed().prefix(3)))
        var visited = 0
        try opened.walk(from: [chain.last!]) { _ in
            visited += 1
            return visited < 5
        }
        #expect(visited == 5)
        // git agrees on the set and on the order of a linear chain.
        _ = try repo.gitOutput("update-ref", "refs/gt/chain", chain.last!.hex)
        #expect(
            try repo.gitOutput("rev-list", "refs/gt/chain").split(separator: "\n").map(String.init)
                == chain.reversed().map(\.hex))
    }
}

@Suite struct StartupTests {
    /// libgit2's start-up asks for the CA bundle and gets the no-op loaders: if that
    /// replacement stopped taking effect, every command would again parse ~140 certificates.
    @Test func libgit2StartupLoadsNoCABundle() throws {
        let repo = try TemporaryRepository()
        _ = try Repository.open(repo.path)
        #expect(Libgit2.caBundleRequests > 0)
    }
}
