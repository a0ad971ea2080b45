import Foundation
import TestSupport
import Testing

/// Starts `count` shell workers at once in the rig and waits for all of them.
func runWorkers(_ rig: TemporaryRig, count: Int, script: @escaping @Sendable (Int) -> String) throws -> [ProcessResult]
{
    let results = ResultBox(count: count)
    DispatchQueue.concurrentPerform(iterations: count) { worker in
        let result = try? rig.git(
            ["-c", "alias.sh=!sh -c", "sh", script(worker)], env: ["GT_ACTOR": "worker-\(worker)"])
        results.set(worker, result)
    }
    return try results.values.map { try #require($0) }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [ProcessResult?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: ProcessResult?) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }
}

@Suite(.serialized) struct BeadConcurrencyTests {
    @Test func thirtyProcessesRacingReadyClaimTakeEveryBeadExactlyOnce() throws {
        let rig = try TemporaryRig()
        let ids = try rig.bead("create", "--stdin", "-q", input: (1...100).map { "task \($0)" }.joined(separator: "\n"))
            .split(separator: "\n").map(String.init)
        // Each worker holds one bead at a time: claim, record, close, claim the next.
        let results = try runWorkers(rig, count: 30) { worker in
            """
            while true; do
                id=$(git bead ready --claim -q); status=$?
                [ $status = 0 ] || exit $status
                echo "$id" >> "\(rig.root)/claims-\(worker)"
                held=$(git bead list --status in_progress -a worker-\(worker) -q | wc -l)
                [ "$held" = 1 ] || { echo "worker \(worker) holds $held beads" >&2; exit 9; }
                git bead close "$id" -q >/dev/null || exit 8
            done
            """
        }
        for result in results { #expect(result.status == 1, "\(result.stderr)") }  // 1: nothing left to claim
        var claimed: [String] = []
        for worker in 0..<30 {
            let file = rig.root + "/claims-\(worker)"
            if let text = try? String(contentsOfFile: file, encoding: .utf8) {
                claimed += text.split(separator: "\n").map(String.init)
            }
        }
        #expect(claimed.count == 100)
        #expect(Set(claimed) == Set(ids))
        // The ledger agrees: one claim commit per bead, everything closed.
        for id in ids {
            let ops = try rig.repository.gitOutput(
                "log", "--format=%(trailers:key=Gt-Op,valueonly)", "refs/gt/beads/\(id)")
            #expect(ops.split(separator: "\n") == ["close", "claim", "create"])
        }
        #expect(try rig.bead("list", "-q").isEmpty)
    }

    @Test func thirtyProcessesCommentingOnOneBeadLoseNothing() throws {
        let rig = try TemporaryRig()
        let id = try rig.bead("create", "Busy bead", "-q")
        let results = try runWorkers(rig, count: 30) { worker in
            "for i in $(seq 50); do git bead comment \(id) \"w\(worker) c$i\" -q >/dev/null || exit 1; done"
        }
        for result in results { #expect(result.status == 0, "\(result.stderr)") }
        let json = try rig.bead("show", id, "--json")
        for worker in 0..<30 {
            for comment in 1...50 { #expect(json.contains("\"text\":\"w\(worker) c\(comment)\"")) }
        }
        let commentIDs = json.components(separatedBy: "\"id\":").count - 1
        #expect(commentIDs == 1 + 1_500)  // the bead's own id plus one per comment
        #expect(try rig.repository.gitOutput("rev-list", "--count", "refs/gt/beads/\(id)") == "1501")
    }

    @Test func sigkillDuringABulkCreateLeavesEveryBeadWholeOrAbsent() throws {
        let rig = try TemporaryRig()
        func startBulk(_ round: Int) throws -> Child {
            let input = (1...2_000).map { "bulk \(round) \($0)" }.joined(separator: "\n") + "\n"
            try input.write(toFile: rig.root + "/bulk-\(round).txt", atomically: true, encoding: .utf8)
            // The tool itself, not git's wrapper process, so the kill reaches the writer.
            return try Child.start(
                ["/bin/sh", "-c", "exec '\(rig.bin)/git-bead' create --stdin -q < \(rig.root)/bulk-\(round).txt"],
                in: rig.path, environment: rig.repository.environment)
        }
        // An uninterrupted run first, to know how long the whole bulk create takes.
        let start = Date()
        let full = try startBulk(0)
        #expect(full.wait() == 0)
        let duration = Date().timeIntervalSince(start)
        var expectedTitles = Set((1...2_000).map { "bulk 0 \($0)" })

        for (round, fraction) in [0.5, 0.75, 0.85, 0.92, 0.97].enumerated() {
            let process = try startBulk(round + 1)
            usleep(UInt32(duration * fraction * 1_000_000))
            process.signal(SIGKILL)
            process.wait()

            let fsck = try rig.git(["fsck", "--strict", "--no-dangling"])
            #expect(fsck.status == 0, "fsck after kill at \(fraction): \(fsck.stderr)")
            // Every bead ref that exists names a complete bead of some bulk.
            let refs = try rig.repository.gitOutput("for-each-ref", "--format=%(refname)", "refs/gt/beads/")
                .split(separator: "\n").map(String.init)
            let batch = try rig.repository.git(
                "cat-file", "--batch", input: refs.map { $0 + ":bead.json" }.joined(separator: "\n") + "\n")
            #expect(!batch.stdout.contains("missing"))
            let titles = batch.stdout.split(separator: "\n").filter { $0.hasPrefix("  \"title\": ") }
                .map { String($0.dropFirst(12).dropLast(2)) }
            #expect(titles.count == refs.count)
            let thisRound = titles.filter { $0.hasPrefix("bulk \(round + 1) ") }
            expectedTitles.formUnion(thisRound)
            #expect(Set(titles) == expectedTitles)  // nothing earlier was lost or changed
            #expect(try rig.git(["bead", "list", "-q"]).status == 0)
        }
    }
}
