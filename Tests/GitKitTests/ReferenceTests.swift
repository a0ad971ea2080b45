import Foundation
import GitKit
import TestSupport
import Testing

/// A commit with a one-file tree, enough to point refs at.
func makeCommit(_ repository: Repository, _ text: String, parent: OID? = nil) throws -> OID {
    let blob = try repository.writeBlob(text)
    let tree = try repository.writeTree([TreeEntry(name: "state.json", id: blob, kind: .blob)])
    return try repository.writeCommit(
        tree: tree, parents: parent.map { [$0] } ?? [], message: text + "\n",
        author: try Signature.committer(in: repository))
}

@Suite struct ReferenceTests {
    @Test func compareAndSwapIsRefusedWhenTheRefMovedAndNothingIsWritten() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let first = try makeCommit(opened, "first")
        let second = try makeCommit(opened, "second", parent: first)
        let third = try makeCommit(opened, "third", parent: second)
        try opened.setReference("refs/gt/beads/gw-1", to: first, expecting: nil, message: "create")
        // Another writer moves it.
        _ = try repo.gitOutput("update-ref", "refs/gt/beads/gw-1", second.hex)

        let error = #expect(throws: GitError.self) {
            try opened.setReference("refs/gt/beads/gw-1", to: third, expecting: first, message: "update")
        }
        #expect(error?.code == .modified)
        #expect(try repo.gitOutput("rev-parse", "refs/gt/beads/gw-1") == second.hex)

        let exists = #expect(throws: GitError.self) {
            try opened.setReference("refs/gt/beads/gw-1", to: third, expecting: nil, message: "create again")
        }
        #expect(exists?.code == .exists)
        #expect(try repo.gitOutput("rev-parse", "refs/gt/beads/gw-1") == second.hex)
    }

    @Test func deleteIsCompareAndSwapToo() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let first = try makeCommit(opened, "first")
        let second = try makeCommit(opened, "second")
        try opened.setReference("refs/gt/x", to: second, expecting: nil, message: "create")
        #expect(throws: GitError.self) { try opened.deleteReference("refs/gt/x", expecting: first) }
        #expect(try opened.referenceTarget("refs/gt/x") == second)
        try opened.deleteReference("refs/gt/x", expecting: second)
        #expect(try opened.referenceTarget("refs/gt/x") == nil)
    }

    @Test func listingByPrefixAndByGitStyleGlob() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let commit = try makeCommit(opened, "x")
        for name in [
            "refs/gt/beads/gw-a", "refs/gt/beads/gw-b", "refs/gt/beads/deep/gw-c", "refs/gt/mail/mayor",
            "refs/gt/beadsX",
        ] {
            try opened.setReference(name, to: commit, expecting: nil, message: "create")
        }
        _ = try repo.gitOutput("pack-refs", "--all")
        try opened.setReference("refs/gt/beads/gw-d", to: commit, expecting: nil, message: "loose after packing")

        #expect(
            try opened.references(withPrefix: "refs/gt/beads/").map(\.name) == [
                "refs/gt/beads/deep/gw-c", "refs/gt/beads/gw-a", "refs/gt/beads/gw-b", "refs/gt/beads/gw-d",
            ])
        #expect(
            try opened.references(matching: "refs/gt/beads/*").map(\.name) == [
                "refs/gt/beads/gw-a", "refs/gt/beads/gw-b", "refs/gt/beads/gw-d",
            ])
        #expect(try opened.references(withPrefix: "refs/gt/beads/").allSatisfy { $0.target == commit })
    }

    @Test func aTransactionIsAllOrNothingWhenOneRefMoved() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let a0 = try makeCommit(opened, "a0")
        let b0 = try makeCommit(opened, "b0")
        let moved = try makeCommit(opened, "moved")
        let next = try makeCommit(opened, "next")
        try opened.setReference("refs/gt/a", to: a0, expecting: nil, message: "create")
        try opened.setReference("refs/gt/b", to: b0, expecting: nil, message: "create")
        _ = try repo.gitOutput("update-ref", "refs/gt/b", moved.hex)

        let error = #expect(throws: GitError.self) {
            try opened.updateReferences(
                [
                    ReferenceUpdate(name: "refs/gt/a", expected: a0, target: next),
                    ReferenceUpdate(name: "refs/gt/b", expected: b0, target: next),
                    ReferenceUpdate(name: "refs/gt/c", expected: nil, target: next),
                ], message: "move all")
        }
        #expect(error?.code == .modified)
        #expect(try opened.referenceTarget("refs/gt/a") == a0)
        #expect(try opened.referenceTarget("refs/gt/b") == moved)
        #expect(try opened.referenceTarget("refs/gt/c") == nil)
        #expect(!FileManager.default.fileExists(atPath: repo.path + "/.git/refs/gt/a.lock"))

        try opened.updateReferences(
            [
                ReferenceUpdate(name: "refs/gt/a", expected: a0, target: nil),
                ReferenceUpdate(name: "refs/gt/b", expected: moved, target: next),
                ReferenceUpdate(name: "refs/gt/c", expected: nil, target: next),
            ], message: "move all")
        #expect(try opened.referenceTarget("refs/gt/a") == nil)
        #expect(try opened.referenceTarget("refs/gt/b") == next)
        #expect(try opened.referenceTarget("refs/gt/c") == next)
    }

    @Test func aTransactionMeetingAHeldLockFailsAsLockedAndWritesNothing() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let a0 = try makeCommit(opened, "a0")
        try opened.setReference("refs/gt/a", to: a0, expecting: nil, message: "create")
        try opened.setReference("refs/gt/b", to: a0, expecting: nil, message: "create")
        let lock = repo.path + "/.git/refs/gt/b.lock"
        #expect(FileManager.default.createFile(atPath: lock, contents: Data()))
        let next = try makeCommit(opened, "next")
        let error = #expect(throws: GitError.self) {
            try opened.updateReferences(
                [
                    ReferenceUpdate(name: "refs/gt/a", expected: a0, target: next),
                    ReferenceUpdate(name: "refs/gt/b", expected: a0, target: next),
                ],
                message: "both")
        }
        #expect(error?.code == .locked)
        #expect(try opened.referenceTarget("refs/gt/a") == a0)
        #expect(FileManager.default.fileExists(atPath: lock))
    }

    @Test func theRetryPathWaitsOutALockHeldByAnotherWriter() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let first = try makeCommit(opened, "first")
        try opened.setReference("refs/gt/held", to: first, expecting: nil, message: "create")
        let lock = repo.path + "/.git/refs/gt/held.lock"
        #expect(FileManager.default.createFile(atPath: lock, contents: Data()))
        let second = try makeCommit(opened, "second", parent: first)

        // Without retry libgit2 answers at once with GIT_ELOCKED.
        let locked = #expect(throws: GitError.self) {
            try opened.setReference("refs/gt/held", to: second, expecting: first, message: "update")
        }
        #expect(locked?.code == .locked)

        let releaser = Thread {
            usleep(150_000)
            try? FileManager.default.removeItem(atPath: lock)
        }
        releaser.start()
        var attempts = 0
        try opened.updateReference("refs/gt/held", message: "update") { tip -> (ReferenceChange, Void) in
            attempts += 1
            return (.set(second), ())
        }
        #expect(attempts > 1)
        #expect(try opened.referenceTarget("refs/gt/held") == second)
    }

    @Test func theRetryPathRecoversWhenTheRefVanishesMidUpdate() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let first = try makeCommit(opened, "first")
        let replacement = try makeCommit(opened, "replacement")
        try opened.setReference("refs/gt/vanishing", to: first, expecting: nil, message: "create")

        // A CAS against a ref that no longer exists fails with GIT_ENOTFOUND.
        _ = try repo.gitOutput("update-ref", "-d", "refs/gt/vanishing")
        let notFound = #expect(throws: GitError.self) {
            try opened.setReference("refs/gt/vanishing", to: replacement, expecting: first, message: "update")
        }
        #expect(notFound?.code == .notFound)

        try opened.setReference("refs/gt/vanishing", to: first, expecting: nil, message: "create again")
        var seen: [OID?] = []
        try opened.updateReference("refs/gt/vanishing", message: "update") { tip -> (ReferenceChange, Void) in
            seen.append(tip)
            if seen.count == 1 { _ = try repo.gitOutput("update-ref", "-d", "refs/gt/vanishing") }
            return (.set(replacement), ())
        }
        #expect(seen == [first, nil])
        #expect(try opened.referenceTarget("refs/gt/vanishing") == replacement)
    }
}

@Suite struct PackedCreateTests {
    @Test func manyRefsAppearTogetherAndGitReadsThem() throws {
        let repo = try TemporaryRepository()
        try repo.commitFile("a", "1")
        _ = try repo.gitOutput("tag", "-a", "v1", "-m", "annotated")
        _ = try repo.gitOutput("pack-refs", "--all")
        let opened = try Repository.open(repo.path)
        let commit = try makeCommit(opened, "bead")
        let refs = (0..<500).map { Reference(name: "refs/gt/beads/gw-\($0)", target: commit) }
        try opened.createReferencesPacked(refs)

        #expect(
            try repo.gitOutput("for-each-ref", "--count=1000", "--format=%(refname)", "refs/gt/beads/").split(
                separator: "\n"
            ).count == 500)
        #expect(try opened.references(withPrefix: "refs/gt/beads/").count == 500)
        // Existing packed refs and the tag's peeled line survive.
        #expect(try repo.gitOutput("rev-parse", "v1^{commit}") == (try repo.gitOutput("rev-parse", "main")))
        #expect(try repo.git("fsck", "--strict").status == 0)
        #expect(try !String(contentsOfFile: repo.path + "/.git/packed-refs", encoding: .utf8).contains(".lock"))
        #expect(!FileManager.default.fileExists(atPath: repo.path + "/.git/packed-refs.lock"))
    }

    @Test func oneExistingNameMeansNothingIsCreated() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let commit = try makeCommit(opened, "bead")
        try opened.setReference("refs/gt/beads/gw-7", to: commit, expecting: nil, message: "loose")
        let refs = (0..<20).map { Reference(name: "refs/gt/beads/gw-\($0)", target: commit) }
        let error = #expect(throws: GitError.self) { try opened.createReferencesPacked(refs) }
        #expect(error?.code == .exists)
        #expect(try opened.references(withPrefix: "refs/gt/beads/").map(\.name) == ["refs/gt/beads/gw-7"])
        #expect(!FileManager.default.fileExists(atPath: repo.path + "/.git/refs/gt/beads/gw-3.lock"))
    }

    @Test func aHeldRefLockMakesTheBatchWaitAndThenLandWhole() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let commit = try makeCommit(opened, "bead")
        try FileManager.default.createDirectory(
            atPath: repo.path + "/.git/refs/gt/beads", withIntermediateDirectories: true)
        let lock = repo.path + "/.git/refs/gt/beads/gw-3.lock"
        #expect(FileManager.default.createFile(atPath: lock, contents: Data()))
        let refs = (0..<10).map { Reference(name: "refs/gt/beads/gw-\($0)", target: commit) }
        let locked = #expect(throws: GitError.self) { try opened.createReferencesPacked(refs) }
        #expect(locked?.code == .locked)
        #expect(try opened.references(withPrefix: "refs/gt/").isEmpty)

        let releaser = Thread {
            usleep(100_000)
            try? FileManager.default.removeItem(atPath: lock)
        }
        releaser.start()
        try opened.withRetry(touching: refs.map(\.name)) { try opened.createReferencesPacked(refs) }
        #expect(try opened.references(withPrefix: "refs/gt/beads/").count == 10)
    }
}
