import GitKit

/// 10,000 code commits to annotate and one JSON-line note for each, prepared once per run.
final class NotesFixture {
    static let count = 10_000
    static let notesRef = "refs/notes/gt/beads"
    /// The message `git notes add` would write, so both sides build the same notes commit.
    static let message = "Notes added by 'git notes add'"

    let directory: String
    let texts: [String]

    init(directory: String) {
        self.directory = directory
        texts = (0..<Self.count).map {
            let bead = BeadFixture.beadID($0)
            return "{\"bead\":\"\(bead)\",\"step\":\"\(bead).1\"}\n"
        }
    }

    /// A chain of 10,000 commits on `main` to annotate: fast-import's `N` command takes commits only.
    private lazy var historyStream: String = {
        var text = ""
        text.reserveCapacity(Self.count * 120)
        for index in 0..<Self.count {
            let message = "change \(index)\n"
            text +=
                "commit refs/heads/main\nmark :\(index + 1)\n"
                + "committer bench <bench@localhost> \(1_700_000_000 + index) +0000\n"
                + "data \(message.utf8.count)\n\(message)\n"
        }
        let path = directory + "/history.fast-import"
        try! writeFile(path, text)
        return path
    }()

    /// Ids of the history commits, oldest first; the same in every repository (pinned dates).
    private(set) var commits: [OID] = []

    /// The same commit ids as hex, one a line: `git log --stdin` input.
    private(set) var commitListPath = ""

    /// Where `prepareRepository` leaves fast-import's marks for the history commits.
    static func historyMarks(_ trial: Trial) -> String { trial.directory + "/history.marks" }

    /// Builds the history in a fresh repository (untimed set-up for both sides).
    func prepareRepository(in trial: Trial) throws -> String {
        let repository = try trial.initRepository()
        let marks = Self.historyMarks(trial)
        try trial.git("fast-import", "--quiet", "--export-marks=" + marks, in: repository, stdinPath: historyStream)
        if commits.isEmpty {
            var byMark: [Int: OID] = [:]
            for line in try readFile(marks).split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2, let mark = Int(parts[0].dropFirst()), let id = OID(hex: String(parts[1])) {
                    byMark[mark] = id
                }
            }
            commits = try (1...Self.count).map {
                guard let id = byMark[$0] else { throw BenchError("fast-import exported no mark :\($0)") }
                return id
            }
            commitListPath = directory + "/commits.list"
            try writeFile(commitListPath, commits.map { $0.hex + "\n" }.joined())
        }
        return repository
    }

    /// fast-import's `N` commands: one notes commit holding every note. Commits are named by
    /// the marks of the history import: given a bare id, fast-import stats a dozen ref names
    /// per note looking for ambiguity, work GitKit does not do either.
    private(set) lazy var notesStream: String = {
        var text =
            "commit \(Self.notesRef)\ncommitter bench <bench@localhost> 1700000000 +0000\n"
            + "data \(Self.message.utf8.count + 1)\n\(Self.message)\n"
        for (index, note) in texts.enumerated() {
            text += "N inline :\(index + 1)\ndata \(note.utf8.count)\n\(note)"
        }
        let path = directory + "/notes.fast-import"
        try! writeFile(path, text + "\n")
        return path
    }()

    /// What `git log --format=%N` prints for all commits: each note and a newline.
    private(set) lazy var expectedListing: String = texts.map { $0 + "\n" }.joined()

    func edits() -> [NoteEdit] { zip(commits, texts).map { .set($0, $1) } }

    /// Reads every note back through GitKit; returns how many matched.
    func readWithGitKit(_ repository: Repository) throws -> Int {
        var matched = 0
        for (commit, text) in zip(commits, texts) {
            if try repository.note(on: commit, notesRef: Self.notesRef) == text { matched += 1 }
        }
        return matched
    }

    /// Checks the notes ref with git itself and fingerprints its tip (the same commit id on both sides).
    func check(_ repository: String, in trial: Trial) throws {
        let listing = try trial.git("notes", "--ref=" + Self.notesRef, "list", in: repository)
        let count = listing.split(separator: "\n").count
        try trial.expect(count == Self.count, "git notes list shows \(count) notes, not \(Self.count)")
        let fanout = try trial.git("ls-tree", Self.notesRef, in: repository).split(separator: "\n")
        try trial.expect(
            fanout.count == 256 && fanout.allSatisfy { $0.contains(" tree ") }, "notes tree without fan-out")
        try trial.fsckOnce(repository)
        trial.fingerprint = try trial.git("rev-parse", Self.notesRef, in: repository)
    }
}

func notesFigures(_ notes: @escaping () -> NotesFixture) -> [Figure] {
    let ours = Side("GitKit: `editNotes(packed: true)`, then `note(on:)` for each commit", .inProcess) { trial in
        let fixture = notes()
        let path = try fixture.prepareRepository(in: trial)
        let edits = fixture.edits()
        let matched = try trial.time { () throws -> Int in
            let repository = try Repository.open(path)
            try trial.section("editNotes") {
                try repository.editNotes(
                    notesRef: NotesFixture.notesRef, edits, message: NotesFixture.message, packed: true)
            }
            return try trial.section("note(on:)") { try fixture.readWithGitKit(repository) }
        }
        try trial.expect(matched == NotesFixture.count, "read back \(matched) of \(NotesFixture.count) notes")
        try fixture.check(path, in: trial)
    }
    let baseline = Side(
        "git fast-import (`N` commands, commits named by imported marks), "
            + "then `git log --no-walk --stdin --format=%N`", .wholeProcess
    ) { trial in
        let fixture = notes()
        let path = try fixture.prepareRepository(in: trial)
        let stream = fixture.notesStream
        let listing = try trial.time { () throws -> String in
            try trial.section("fast-import") {
                try Spawn.output(
                    [
                        "git", "-C", path, "fast-import", "--quiet",
                        "--import-marks=" + NotesFixture.historyMarks(trial),
                    ],
                    stdinPath: stream)
            }
            return try trial.section("git log") {
                try Spawn.output(
                    [
                        "git", "-C", path, "log", "--no-walk=unsorted", "--stdin", "--notes=" + NotesFixture.notesRef,
                        "--format=%N",
                    ],
                    stdinPath: fixture.commitListPath)
            }
        }
        try trial.expect(listing == fixture.expectedListing, "git log printed other notes than were written")
        try fixture.check(path, in: trial)
    }
    return [
        Figure(
            name: "notes-write-read", title: "10,000 notes: write in one commit, read each back",
            measures: "Adds a one-line JSON note to each of 10,000 existing commits as one notes commit on "
                + "`refs/notes/gt/beads` (two-character fan-out, as git writes it), then reads every note back "
                + "by commit id. Both sides produce the same notes commit id (checked); reads are compared "
                + "with the written text.",
            ours: ours, baseline: baseline, target: 3.0, sameOutput: true)
    ]
}
