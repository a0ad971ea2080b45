import Foundation
import GitKit
import TestSupport
import Testing

@Suite struct ConcurrencyAndCrashTests {
    let probe = builtProduct("gitkit-probe")

    @Test func eightProcessesIncrementingOneRefEndAtExactlySixteenHundred() throws {
        let repo = try TemporaryRepository()
        let processes = try (0..<8).map { _ in
            try Child.start(
                [probe, "cas-increment", repo.path, "refs/gt/counter", "200"], environment: repo.environment)
        }
        for process in processes { #expect(process.wait() == 0) }
        let opened = try Repository.open(repo.path)
        let tip = try #require(try opened.referenceTarget("refs/gt/counter"))
        let tree = try opened.commit(tip).tree
        #expect(try opened.readBlobText(try #require(try opened.treeEntry(tree, path: "counter")).id) == "1600")
        // Every increment is its own commit: no update was lost or applied twice.
        #expect(try repo.gitOutput("rev-list", "--count", "refs/gt/counter") == "1600")
    }

    @Test func aWriterKilledMidUpdateLeavesFsckCleanAndEveryRefReadable() throws {
        let repo = try TemporaryRepository()
        func written() throws -> Int { Int(try repo.gitOutput("rev-list", "--count", "--glob=refs/gt/churn/*")) ?? 0 }
        var writtenBefore = 0
        for round in 0..<6 {
            let process = try Child.start([probe, "churn", repo.path], environment: repo.environment, stdout: .capture)
            process.readSome()  // "ready"
            // Kill only once the writer is writing (however loaded the machine is), at a
            // different moment of its loop each round.
            var polls = 0
            while try written() <= writtenBefore, polls < 3_000 {
                polls += 1
                usleep(10_000)
            }
            usleep(UInt32(round * 7_919 % 40_000))
            process.signal(SIGKILL)
            #expect(process.wait() == 128 + SIGKILL)
            let now = try written()
            #expect(now > writtenBefore)
            writtenBefore = now

            let fsck = try repo.git("fsck", "--strict", "--no-dangling")
            #expect(fsck.status == 0, "fsck after kill \(round): \(fsck.stderr)")
            let opened = try Repository.open(repo.path)
            for reference in try opened.references(withPrefix: "refs/") {
                #expect(try repo.git("cat-file", "-e", reference.target.hex).status == 0)
            }
            #expect(try repo.git("notes", "--ref=refs/notes/gt/churn", "list").status == 0)

            // A lock the killed writer held is stale once it has sat for seconds; age any
            // such file instead of waiting, then every ref must accept a new update.
            agePossibleLocks(in: repo.path + "/.git")
            let marker = try makeCommit(opened, "after kill \(round)")
            for name in try opened.references(withPrefix: "refs/gt/").map(\.name) {
                try opened.updateReference(name, message: "after kill") { _ in (.set(marker), ()) }
                #expect(try opened.referenceTarget(name) == marker)
            }
            try opened.appendNoteLine("{\"after\":\(round)}", on: marker, notesRef: "refs/notes/gt/churn")
            #expect(try opened.note(on: marker, notesRef: "refs/notes/gt/churn") == "{\"after\":\(round)}\n")
            writtenBefore = try written()
        }
    }

    /// Sets every lock file's modification time a minute into the past.
    private func agePossibleLocks(in directory: String) {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return }
        for case let path as String in walker where path.hasSuffix(".lock") {
            var times = [timespec(tv_sec: time(nil) - 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 60, tv_nsec: 0)]
            utimensat(AT_FDCWD, directory + "/" + path, &times, 0)
        }
    }
}

@Suite struct CreateRaceTests {
    /// Creating a ref that must not exist yet is atomic: of eight processes racing to create
    /// the same 200 refs, each with a commit of its own, exactly one wins each ref, and the
    /// ref holds the winner's commit.
    @Test func exactlyOneCreatorWinsEachRef() throws {
        let repo = try TemporaryRepository()
        let probe = builtProduct("gitkit-probe")
        let processes = try (0..<8).map { _ in
            try Child.start([probe, "create-race", repo.path, "200"], environment: repo.environment, stdout: .capture)
        }
        var winners: [Int: Int] = [:]
        for process in processes {
            let text = process.readAll()
            #expect(process.wait() == 0)
            for index in text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap({ Int($0) }) {
                winners[index, default: 0] += 1
            }
        }
        #expect(winners.count == 200)
        #expect(
            winners.values.allSatisfy { $0 == 1 },
            "refs created twice: \(winners.filter { $0.value > 1 }.keys.sorted())")
    }
}
