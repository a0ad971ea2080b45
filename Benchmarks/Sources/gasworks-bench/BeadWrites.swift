import GitKit

/// 10,000 beads as `git bead create` would store them, prepared once per run so that
/// neither side pays for building its input inside the timed part.
final class BeadFixture {
    static let count = 10_000
    static let signature = Signature(name: "bench", email: "bench@localhost", time: 1_700_000_000)

    let directory: String
    let ids: [String]
    let documents: [[UInt8]]
    let messages: [String]

    init(directory: String) {
        self.directory = directory
        ids = (0..<Self.count).map(Self.beadID)
        documents = ids.enumerated().map { Self.document(id: $1, index: $0) }
        messages = ids.map { "create \($0)\n\nGt-Op: create\nGt-Actor: bench\n" }
    }

    func refName(_ index: Int) -> String { "refs/gt/beads/" + ids[index] }

    /// `gw-` and four base-36 digits, the shape of a short Beads id.
    static func beadID(_ index: Int) -> String {
        let digits = String(index, radix: 36)
        return "gw-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// A bead's canonical JSON (sorted keys, one line), padded to exactly 600 bytes.
    static func document(id: String, index: Int) -> [UInt8] {
        func json(_ description: String) -> String {
            "{\"assignee\":\"\",\"created_at\":\"2023-11-14T22:13:20Z\",\"created_by\":\"bench\","
                + "\"dependencies\":[],\"description\":\"\(description)\",\"id\":\"\(id)\","
                + "\"issue_type\":\"task\",\"labels\":[\"bench\"],\"priority\":\(index % 5),\"status\":\"open\","
                + "\"title\":\"Benchmark bead number \(index)\",\"updated_at\":\"2023-11-14T22:13:20Z\"}\n"
        }
        let words = "Measure how fast ten thousand beads land in a repository. "
        let room = 600 - json("").utf8.count
        var description = String(repeating: words, count: room / words.utf8.count + 1)
        description = String(description.utf8.prefix(room))!
        return Array(json(description).utf8)
    }

    /// The fast-import stream that writes every bead's blob, tree and commit. Each commit
    /// goes on a scratch ref that is reset first, which makes it parentless like a new bead;
    /// the marks (blobs odd, commits even) let `git update-ref --stdin` publish them after.
    private(set) lazy var fastImportStream: String = {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.count * 900)
        let who = "bench <bench@localhost> 1700000000 +0000\n"
        for index in 0..<Self.count {
            bytes += Array("blob\nmark :\(2 * index + 1)\ndata \(documents[index].count)\n".utf8)
            bytes += documents[index]
            let message = Array(messages[index].utf8)
            bytes += Array(
                ("reset refs/bench/scratch\ncommit refs/bench/scratch\nmark :\(2 * index + 2)\n"
                    + "author \(who)committer \(who)data \(message.count)\n").utf8)
            bytes += message
            bytes += Array("M 100644 :\(2 * index + 1) bead.json\n\n".utf8)
        }
        let path = directory + "/beads.fast-import"
        try! writeFile(path, bytes)
        return path
    }()

    /// Checks that exactly the 10,000 bead refs exist and how objects are stored; the
    /// listing's digest lets the harness compare both sides' refs and commit ids.
    func checkRefs(_ repository: String, in trial: Trial, loose: Int) throws {
        let listing = try trial.git(
            "for-each-ref", "--format=%(objectname) %(refname)", in: repository)
        let lines = listing.split(separator: "\n")
        try trial.expect(lines.count == Self.count, "\(lines.count) refs instead of \(Self.count)")
        try trial.expect(
            lines.allSatisfy { $0.dropFirst(40).hasPrefix(" refs/gt/beads/gw-") }, "a ref outside refs/gt/beads/")
        let counts = try trial.git("count-objects", "-v", in: repository)
        let looseCount = counts.split(separator: "\n").first { $0.hasPrefix("count: ") }?.dropFirst(7)
        try trial.expect(looseCount.flatMap { Int($0) } == loose, "expected \(loose) loose objects:\n\(counts)")
        try trial.fsckOnce(repository)
        trial.fingerprint = digest(listing)
    }
}

extension BeadFixture {
    enum Storage { case loose, packed }
    enum Publish { case eachRef, oneTransaction, packedRefs }

    /// Writes every bead through GitKit's public API, in this process.
    func writeWithGitKit(_ path: String, storage: Storage, publish: Publish, trial: Trial) throws {
        let repository = try trial.section("open") { try Repository.open(path) }
        var created: [OID] = []
        created.reserveCapacity(Self.count)
        let writeObjects = { (target: Repository) in
            for index in 0..<Self.count {
                let commit = try trial.section("objects") {
                    let blob = try target.writeBlob(self.documents[index])
                    let tree = try target.writeTree([TreeEntry(name: "bead.json", id: blob, kind: .blob)])
                    return try target.writeCommit(
                        tree: tree, parents: [], message: self.messages[index], author: Self.signature)
                }
                if storage == .loose && publish == .eachRef {
                    try trial.section("refs") {
                        try target.setReference(
                            self.refName(index), to: commit, expecting: nil, message: "bead: create")
                    }
                } else {
                    created.append(commit)
                }
            }
        }
        if storage == .packed {
            // References are published only after the batch has stored its pack. The batch's
            // own cost (packing and indexing) is its time less the object writes inside it.
            let objectsBefore = trial.seconds(in: "objects")
            let start = MonotonicClock.seconds()
            try repository.withObjectBatch(writeObjects)
            let batch = MonotonicClock.seconds() - start
            trial.add("store pack", seconds: batch - (trial.seconds(in: "objects") - objectsBefore))
        } else {
            try writeObjects(repository)
        }
        try trial.section("refs") {
            switch (storage, publish) {
            case (.loose, .eachRef):
                break
            case (.packed, .eachRef):
                for (index, commit) in created.enumerated() {
                    try repository.setReference(refName(index), to: commit, expecting: nil, message: "bead: create")
                }
            case (_, .oneTransaction):
                let updates = created.enumerated().map {
                    ReferenceUpdate(name: refName($0), expected: nil, target: $1)
                }
                try repository.updateReferences(updates, message: "bead: create")
            case (_, .packedRefs):
                try repository.createReferencesPacked(
                    created.enumerated().map { Reference(name: refName($0), target: $1) })
            }
        }
    }

    /// The baseline: `git fast-import` writes the objects, `git update-ref --stdin`
    /// creates all refs in one transaction, as git's own tools would do the same work.
    func writeWithGit(_ path: String, trial: Trial) throws {
        let marks = trial.directory + "/marks"
        let updates = trial.directory + "/update-ref.in"
        let stream = fastImportStream
        try trial.time {
            try trial.section("fast-import") {
                try Spawn.output(
                    ["git", "-C", path, "fast-import", "--quiet", "--export-marks=" + marks], stdinPath: stream)
            }
            try trial.section("marks to update-ref input") { try updateRefInput(marks: marks, into: updates) }
            try trial.section("update-ref") {
                try Spawn.output(["git", "-C", path, "update-ref", "--stdin"], stdinPath: updates)
            }
        }
    }

    /// `create` commands for update-ref from fast-import's marks: commits have the even marks.
    private func updateRefInput(marks: String, into updates: String) throws {
        var commands = ""
        commands.reserveCapacity(Self.count * 80)
        for line in try readFile(marks).split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let mark = Int(parts[0].dropFirst()), mark % 2 == 0 else { continue }
            commands += "create \(refName(mark / 2 - 1)) \(parts[1])\n"
        }
        commands += "delete refs/bench/scratch\n"
        try writeFile(updates, commands)
    }
}

func beadWriteFigures(_ beads: @escaping () -> BeadFixture) -> [Figure] {
    let baseline = Side(
        "git fast-import (objects) + git update-ref --stdin (one transaction)", .wholeProcess,
        sharedKey: "beads-fast-import"
    ) { trial in
        let fixture = beads()
        let repository = try trial.initRepository()
        try fixture.writeWithGit(repository, trial: trial)
        try fixture.checkRefs(repository, in: trial, loose: 0)
    }
    let measures =
        "Writes 10,000 beads into a fresh repository: per bead a 600-byte canonical JSON blob "
        + "`bead.json`, a tree holding it, a parentless commit (`create gw-…` with `Gt-Op`/`Gt-Actor` "
        + "trailers) and the ref `refs/gt/beads/gw-…`. Both sides produce byte-identical objects and refs "
        + "(checked by digest); every repetition counts the refs and loose objects, the first runs "
        + "`git fsck --strict`."
    func ours(_ label: String, _ storage: BeadFixture.Storage, _ publish: BeadFixture.Publish) -> Side {
        Side(label, .inProcess) { trial in
            let fixture = beads()
            let repository = try trial.initRepository()
            try trial.time {
                try fixture.writeWithGitKit(repository, storage: storage, publish: publish, trial: trial)
            }
            try fixture.checkRefs(repository, in: trial, loose: storage == .loose ? 3 * BeadFixture.count : 0)
        }
    }
    return [
        Figure(
            name: "beads-write-loose-each-ref", title: "10,000 bead commits: loose objects, one CAS per ref",
            measures: measures,
            ours: ours("GitKit: loose objects, `setReference(expecting: nil)` per bead", .loose, .eachRef),
            baseline: baseline, sameOutput: true),
        Figure(
            name: "beads-write-loose-transaction", title: "10,000 bead commits: loose objects, one transaction",
            measures: measures,
            ours: ours("GitKit: loose objects, one `updateReferences` transaction", .loose, .oneTransaction),
            baseline: baseline, sameOutput: true),
        Figure(
            name: "beads-write-packed-each-ref", title: "10,000 bead commits: one pack, one CAS per ref",
            measures: measures,
            ours: ours("GitKit: `withObjectBatch` pack, `setReference(expecting: nil)` per bead", .packed, .eachRef),
            baseline: baseline, sameOutput: true),
        Figure(
            name: "beads-write-packed-transaction", title: "10,000 bead commits: one pack, one transaction",
            measures: measures,
            ours: ours("GitKit: `withObjectBatch` pack, one `updateReferences` transaction", .packed, .oneTransaction),
            baseline: baseline, sameOutput: true),
        Figure(
            name: "beads-write-packed-packed-refs", title: "10,000 bead commits: one pack, refs added to packed-refs",
            measures: measures,
            ours: ours(
                "GitKit: `withObjectBatch` pack, `createReferencesPacked` (one packed-refs rename)", .packed,
                .packedRefs),
            baseline: baseline, sameOutput: true),
    ]
}
