#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Rigs for the whole-process `gasworks bead …` figures, built once per run (untimed) and
/// copied or shared by the trials.
final class RigFixture {
    static let existingBeads = 100
    static let createTitle = "Measure one bead create"
    static let bigRigBeads = 10_000
    static let bigRigEdges = 5_000
    /// Beads' own issue database (824 issues), relative to the package root where `scripts/bench` runs.
    static let beadsDatabase = "../shared/fixtures/beads/issues-beads-v0.30.0.jsonl"
    static let beadsDatabaseIssues = 824

    let directory: String
    init(directory: String) { self.directory = directory }

    // MARK: a rig of 100 beads, and what one create adds to it

    struct CreateRig {
        /// A rig holding `existingBeads` beads (packed refs, warm index cache); trials copy it.
        var path: String
        /// What `gasworks bead create createTitle` writes there: the id, its commit, and the
        /// exact `bead.json` and commit message, which the baseline writes with plain git.
        var id: String
        var commit: String
        var beadJSONPath: String
        var messagePath: String
    }

    private var cachedCreateRig: CreateRig?

    func createRig() throws -> CreateRig {
        if let cachedCreateRig { return cachedCreateRig }
        let gasworks = try gasworksBinary()
        let path = directory + "/rig-100"
        try Spawn.output(["git", "init", "-q", "-b", "main", path])
        try Spawn.output([gasworks, "bead", "init", "--prefix", "gw", "-q"], in: path)
        let titles = directory + "/rig-100-titles.txt"
        try writeFile(titles, (1...Self.existingBeads).map { "Existing bead \($0)\n" }.joined())
        let created = try Spawn.output([gasworks, "bead", "create", "--stdin", "-q"], in: path, stdinPath: titles)
        guard created.split(separator: "\n").count == Self.existingBeads else {
            throw BenchError("bead create --stdin made \(created.split(separator: "\n").count) beads")
        }
        // A rig in use has its index cache: the create is measured against that state.
        let listed = try Spawn.output([gasworks, "bead", "list", "-q"], in: path)
        guard listed.split(separator: "\n").count == Self.existingBeads, fileIdentity(indexCache(path)) != nil else {
            throw BenchError("the 100-bead rig lists \(listed.split(separator: "\n").count) beads or has no index")
        }
        // Learn what one create writes, in a scratch copy, so that the baseline can write the same.
        let probe = directory + "/rig-100-probe"
        try Spawn.output(["cp", "-a", path, probe])
        defer { _ = try? Spawn.run(["rm", "-rf", probe]) }
        let id = trimmed(try Spawn.output([gasworks, "bead", "create", Self.createTitle, "-q"], in: probe))
        let ref = BeadStoreNames.ref(id)
        let commit = trimmed(try Spawn.output(["git", "rev-parse", ref], in: probe))
        let tree = try Spawn.output(["git", "ls-tree", ref], in: probe)
        guard tree.split(separator: "\n").count == 1, tree.hasSuffix("\tbead.json\n"), tree.hasPrefix("100644 blob ")
        else { throw BenchError("a created bead's tree is not one bead.json: \(tree)") }
        let commitText = try Spawn.output(["git", "cat-file", "commit", ref], in: probe)
        guard let split = commitText.range(of: "\n\n"), !commitText[..<split.lowerBound].contains("\nparent ") else {
            throw BenchError("a created bead's commit is not parentless:\n\(commitText)")
        }
        let rig = CreateRig(
            path: path, id: id, commit: commit, beadJSONPath: directory + "/create-bead.json",
            messagePath: directory + "/create-message.txt")
        try writeFile(rig.beadJSONPath, try Spawn.output(["git", "cat-file", "blob", ref + ":bead.json"], in: probe))
        try writeFile(rig.messagePath, String(commitText[split.upperBound...]))
        cachedCreateRig = rig
        return rig
    }

    /// Checks a copy of the 100-bead rig after one create by either side.
    func checkCreate(_ repository: String, _ rig: CreateRig, in trial: Trial) throws {
        let listing = try trial.git(
            "for-each-ref", "--format=%(objectname) %(refname)", "refs/gt/beads/", in: repository)
        let lines = listing.split(separator: "\n")
        try trial.expect(lines.count == Self.existingBeads + 1, "\(lines.count) bead refs after the create")
        try trial.expect(
            lines.contains { $0 == "\(rig.commit) \(BeadStoreNames.ref(rig.id))" },
            "\(rig.id) does not point at the commit gasworks writes, \(rig.commit)")
        try trial.fsckOnce(repository)
        trial.fingerprint = digest(listing)
        trial.observation = "after the create: " + refStorage(repository)
    }

    // MARK: a rig of 10,000 beads

    struct BigRig {
        /// 10,000 beads imported by `gasworks bead import` (packed refs), shared by the trials.
        var path: String
        /// The same refs, every one a loose file (made by `git update-ref --stdin`, never packed).
        var loosePath: String
        var expectedReady: String
        var expectedOpen: String
        var readyCount: Int
        var openCount: Int
    }

    private var cachedBigRig: BigRig?

    func bigRig() throws -> BigRig {
        if let cachedBigRig { return cachedBigRig }
        let gasworks = try gasworksBinary()
        let generated = Self.generateBigRig()
        let jsonl = directory + "/rig-10k.jsonl"
        try writeFile(jsonl, generated.jsonl)
        let path = directory + "/rig-10k"
        try Spawn.output(["git", "init", "-q", "-b", "main", path])
        let imported = try Spawn.output([gasworks, "bead", "import", jsonl], in: path)
        guard imported == "imported \(Self.bigRigBeads) beads: \(Self.bigRigBeads) created, 0 updated, 0 unchanged\n"
        else { throw BenchError("gasworks bead import of the 10,000-bead rig printed: \(imported)") }

        let loosePath = directory + "/rig-10k-loose"
        try Spawn.output(["cp", "-a", path, loosePath])
        let listing = try Spawn.output(
            ["git", "for-each-ref", "--format=create %(refname) %(objectname)", "refs/gt/beads/"], in: loosePath)
        guard unlink(loosePath + "/.git/packed-refs") == 0 else { throw BenchError("the import left no packed-refs") }
        let updates = directory + "/rig-10k-loose.update-ref"
        try writeFile(updates, listing)
        try Spawn.output(["git", "update-ref", "--stdin"], in: loosePath, stdinPath: updates)
        guard looseRefFiles(loosePath) == Self.bigRigBeads else {
            throw BenchError("\(looseRefFiles(loosePath)) loose refs instead of \(Self.bigRigBeads)")
        }

        func lines(_ indices: [Int]) -> String { indices.map { BeadFixture.beadID($0) + "\n" }.joined() }
        let rig = BigRig(
            path: path, loosePath: loosePath, expectedReady: lines(generated.ready),
            expectedOpen: lines(generated.open), readyCount: generated.ready.count, openCount: generated.open.count)
        cachedBigRig = rig
        return rig
    }

    /// Beads' JSONL for 10,000 tasks: every fifth open (2,000), the rest closed, and 5,000
    /// `blocks` edges, each from a bead to an older one (so no cycles). Also the ids that
    /// `ready` and `list --status open` must print, computed here independently: open beads
    /// with no open blocker, and all open beads, both by priority then age.
    static func generateBigRig() -> (jsonl: String, ready: [Int], open: [Int]) {
        let count = bigRigBeads
        var blockers = [[Int]](repeating: [], count: count)
        var seen = Set<Int>()
        var state: UInt64 = 12_345
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % count
        }
        while seen.count < bigRigEdges {
            let first = next()
            let second = next()
            guard first != second else { continue }
            let (bead, blocker) = (max(first, second), min(first, second))
            if seen.insert(bead * count + blocker).inserted { blockers[bead].append(blocker) }
        }
        func isOpen(_ index: Int) -> Bool { index % 5 == 0 }
        func priority(_ index: Int) -> Int { (index / 5) % 5 }
        var text = ""
        text.reserveCapacity(count * 420)
        for index in 0..<count {
            let id = BeadFixture.beadID(index)
            let time = iso8601(1_700_000_000 + 60 * index)
            var line =
                "{\"id\":\"\(id)\",\"title\":\"Generated task \(index)\","
                + "\"description\":\"Bead \(index) of the 10,000-bead benchmark rig.\","
                + "\"status\":\"\(isOpen(index) ? "open" : "closed")\",\"priority\":\(priority(index)),"
                + "\"issue_type\":\"task\",\"labels\":[\"bench\",\"area-\(index % 7)\"],"
                + "\"created_at\":\"\(time)\",\"created_by\":\"bench\",\"updated_at\":\"\(time)\""
            if !isOpen(index) { line += ",\"closed_at\":\"\(time)\"" }
            if !blockers[index].isEmpty {
                line +=
                    ",\"dependencies\":["
                    + blockers[index].sorted().map {
                        "{\"issue_id\":\"\(id)\",\"depends_on_id\":\"\(BeadFixture.beadID($0))\",\"type\":\"blocks\","
                            + "\"created_at\":\"\(time)\",\"created_by\":\"bench\"}"
                    }.joined(separator: ",") + "]"
            }
            text += line + "}\n"
        }
        let byPriority = { (a: Int, b: Int) in (priority(a), a) < (priority(b), b) }
        let open = (0..<count).filter(isOpen).sorted(by: byPriority)
        let ready = open.filter { blockers[$0].allSatisfy { !isOpen($0) } }
        return (text, ready, open)
    }

    // MARK: Beads' own database, and the same objects as a fast-import stream

    struct BeadsDatabase {
        var path: String
        /// `%(objectname) %(refname)` of every bead ref after the import: both sides must match it.
        var listing: String
        /// A fast-import stream writing the same blobs, trees, commits and refs as the import.
        var stream: String
    }

    private var cachedBeadsDatabase: BeadsDatabase?

    func beadsDatabase() throws -> BeadsDatabase {
        if let cachedBeadsDatabase { return cachedBeadsDatabase }
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(Self.beadsDatabase, &resolved) != nil else {
            throw BenchError("\(Self.beadsDatabase) is missing (run from the package root, as scripts/bench does)")
        }
        let path = string(fromCString: resolved)
        let template = directory + "/beads-database"
        try Spawn.output(["git", "init", "-q", "-b", "main", template])
        let imported = try Spawn.output([try gasworksBinary(), "bead", "import", path], in: template)
        let issues = Self.beadsDatabaseIssues
        guard imported == "imported \(issues) beads: \(issues) created, 0 updated, 0 unchanged\n" else {
            throw BenchError("gasworks bead import of \(Self.beadsDatabase) printed: \(imported)")
        }
        let listing = try Spawn.output(
            ["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/gt/beads/"], in: template)
        let refs = listing.split(separator: "\n").map { $0.split(separator: " ") }
        guard refs.count == issues else { throw BenchError("\(refs.count) bead refs after importing \(issues)") }
        let requests = directory + "/beads-database.batch"
        try writeFile(requests, refs.map { "\($0[0])\n\($0[0]):bead.json\n" }.joined())
        let objects = try catFileBatch(
            try Spawn.output(["git", "cat-file", "--batch"], in: template, stdinPath: requests))
        guard objects.count == 2 * issues else { throw BenchError("cat-file --batch gave \(objects.count) objects") }

        var stream: [UInt8] = []
        for (index, ref) in refs.enumerated() {
            let commit = objects[2 * index]
            let blob = objects[2 * index + 1]
            guard commit.type == "commit", blob.type == "blob",
                let split = indexOf([10, 10], in: commit.content)
            else { throw BenchError("unexpected objects for \(ref[1])") }
            var author = ""
            var committer = ""
            for header in commit.content[..<split].split(separator: 10) {
                let line = String(decoding: header, as: UTF8.self)
                if line.hasPrefix("author ") { author = String(line.dropFirst(7)) }
                if line.hasPrefix("committer ") { committer = String(line.dropFirst(10)) }
                if line.hasPrefix("parent ") || line.hasPrefix("encoding ") || line.hasPrefix("gpgsig") {
                    throw BenchError("\(ref[1]): a header fast-import would not reproduce: \(line)")
                }
            }
            let message = commit.content[(split + 2)...]
            stream += Array("commit \(ref[1])\nauthor \(author)\ncommitter \(committer)\ndata \(message.count)\n".utf8)
            stream += message
            stream += Array("\nM 100644 inline bead.json\ndata \(blob.content.count)\n".utf8)
            stream += blob.content
            stream += Array("\n\n".utf8)
        }
        let streamPath = directory + "/beads-database.fast-import"
        try writeFile(streamPath, stream)
        let database = BeadsDatabase(path: path, listing: listing, stream: streamPath)
        cachedBeadsDatabase = database
        return database
    }

    func checkBeadsDatabase(_ repository: String, _ database: BeadsDatabase, in trial: Trial) throws {
        let listing = try trial.git(
            "for-each-ref", "--format=%(objectname) %(refname)", "refs/gt/beads/", in: repository)
        try trial.expect(listing == database.listing, "the bead refs differ from those of gasworks bead import")
        try trial.fsckOnce(repository)
        trial.fingerprint = digest(listing)
        let counts = try trial.git("count-objects", "-v", in: repository).split(separator: "\n")
        func count(_ key: String) -> String {
            counts.first { $0.hasPrefix(key + ": ") }.map { String($0.dropFirst(key.count + 2)) } ?? "?"
        }
        trial.observation =
            "refs: \(refStorage(repository)); objects: \(count("count")) loose, packs: \(count("packs"))"
    }
}

/// Names shared with BeadKit's storage, spelled out so the harness checks them independently.
enum BeadStoreNames {
    static func ref(_ id: String) -> String { "refs/gt/beads/" + id }
}

func indexCache(_ repository: String) -> String { repository + "/.git/gt/index/beads" }

/// Inode, size and modification time, or nil when the file does not exist: whether a run
/// rewrote a file (the index cache is replaced by a rename, which changes the inode).
func fileIdentity(_ path: String) -> String? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return "\(info.st_ino) \(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
}

/// Loose ref files under `.git/refs/gt/beads` (bead ids hold no `/`).
func looseRefFiles(_ repository: String) -> Int {
    guard let directory = opendir(repository + "/.git/refs/gt/beads") else { return 0 }
    defer { closedir(directory) }
    var count = 0
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { count += 1 }
    }
    return count
}

/// Bead refs listed in `.git/packed-refs`.
func packedBeadRefs(_ repository: String) -> Int {
    guard let text = try? readFile(repository + "/.git/packed-refs") else { return 0 }
    return text.split(separator: "\n").filter { $0.contains(" refs/gt/beads/") }.count
}

func refStorage(_ repository: String) -> String {
    counted(looseRefFiles(repository), "loose ref file") + " under .git/refs/gt/beads, "
        + counted(packedBeadRefs(repository), "bead ref") + " in .git/packed-refs"
}

/// "1 bead ref", "10,000 bead refs".
func counted(_ count: Int, _ noun: String) -> String {
    var digits = String(count)
    var grouped = ""
    while digits.count > 3 {
        grouped = "," + digits.suffix(3) + grouped
        digits.removeLast(3)
    }
    return digits + grouped + " " + noun + (count == 1 ? "" : "s")
}

/// `2023-11-14T22:13:20Z` for seconds since the epoch.
func iso8601(_ seconds: Int) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
    return string(fromCString: Array(buffer[0..<length]) + [0])
}

/// The objects in `git cat-file --batch` output, in order.
func catFileBatch(_ output: String) throws -> [(type: String, content: [UInt8])] {
    let bytes = Array(output.utf8)
    var objects: [(type: String, content: [UInt8])] = []
    var position = 0
    while position < bytes.count {
        guard let end = bytes[position...].firstIndex(of: 10) else { throw BenchError("truncated cat-file output") }
        let header = String(decoding: bytes[position..<end], as: UTF8.self).split(separator: " ")
        guard header.count == 3, let size = Int(header[2]), end + 1 + size < bytes.count else {
            throw BenchError("unexpected cat-file header: \(header.joined(separator: " "))")
        }
        objects.append((String(header[1]), Array(bytes[(end + 1)..<(end + 1 + size)])))
        position = end + 2 + size
    }
    return objects
}

func indexOf(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
}

/// A stub for libgit2's start-up that skips parsing the CA bundle, preloaded into `gasworks`
/// to measure what that parsing costs each process. With GASWORKS_BENCH_STUB_MARK set, a
/// call leaves that file behind, so the harness can check the stub was (or was not) reached.
let caBundleStubSource = """
    #include <fcntl.h>
    #include <stdlib.h>
    #include <unistd.h>
    static void mark(void) {
        const char *path = getenv("GASWORKS_BENCH_STUB_MARK");
        if (path) { int fd = open(path, O_WRONLY | O_CREAT, 0644); if (fd >= 0) close(fd); }
    }
    int mbedtls_x509_crt_parse_file(void *chain, const char *path) { (void)chain; (void)path; mark(); return 0; }
    int mbedtls_x509_crt_parse_path(void *chain, const char *path) { (void)chain; (void)path; mark(); return 0; }

    """

extension RigFixture {
    /// Builds the CA-bundle stub with the first C compiler found.
    func caBundleStub() throws -> String {
        let library = directory + "/skip-ca-bundle.so"
        if access(library, R_OK) == 0 { return library }
        let source = directory + "/skip-ca-bundle.c"
        try writeFile(source, caBundleStubSource)
        for compiler in ["cc", "clang", "gcc"] {
            let result = try? Spawn.run([compiler, "-O2", "-shared", "-fPIC", "-o", library, source])
            if result?.status == 0 { return library }
        }
        throw BenchError("no C compiler (cc, clang or gcc) to build the CA-bundle stub")
    }

    /// Runs `argv` once with the stub preloaded and reports whether libgit2 reached it.
    func reachesCABundle(_ argv: [String], in directory: String, trial: Trial) throws -> Bool {
        let mark = trial.directory + "/stub-reached"
        unlink(mark)
        let result = try Spawn.run(
            argv, in: directory,
            environment: ["LD_PRELOAD": try caBundleStub(), "GASWORKS_BENCH_STUB_MARK": mark])
        try trial.expect(result.status == 0, "\(argv.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        return access(mark, F_OK) == 0
    }
}

func beadCommandFigures(_ rigs: @escaping () -> RigFixture) -> [Figure] {
    var figures: [Figure] = []

    // bead-create
    let createMeasures =
        "Creates one bead in a rig that already holds 100 (their refs packed, the index cache warm): "
        + "the blob `bead.json`, a tree holding it, a parentless commit and the ref `refs/gt/beads/<id>`, "
        + "created only if absent. The baseline writes byte-identical objects and the same ref with four "
        + "git processes run one after the other, as a shell script would. Both sides must leave the same "
        + "101 refs, the new one at the commit gasworks writes (checked every repetition; `git fsck --strict` "
        + "once)."
    figures.append(
        Figure(
            name: "bead-create", title: "git bead create: one bead, whole process",
            measures: createMeasures,
            ours: Side("`gasworks bead create \"\(RigFixture.createTitle)\" -q`", .wholeProcess) { trial in
                let fixture = rigs()
                let rig = try fixture.createRig()
                let gasworks = try gasworksBinary()
                let repository = trial.directory + "/rig"
                try Spawn.output(["cp", "-a", rig.path, repository])
                let result = try trial.time {
                    try Spawn.run([gasworks, "bead", "create", RigFixture.createTitle, "-q"], in: repository)
                }
                try trial.expect(
                    result.status == 0 && result.stdout == rig.id + "\n",
                    "create printed \(result.stdout)\(result.stderr)")
                try fixture.checkCreate(repository, rig, in: trial)
            },
            baseline: Side(
                "`git hash-object -w --stdin` + `git mktree` + `git commit-tree` + `git update-ref <ref> <commit> \"\"`",
                .wholeProcess
            ) { trial in
                let fixture = rigs()
                let rig = try fixture.createRig()
                let repository = trial.directory + "/rig"
                try Spawn.output(["cp", "-a", rig.path, repository])
                let treeInput = trial.directory + "/mktree.in"
                try trial.time {
                    let blob = trimmed(
                        try Spawn.output(
                            ["git", "hash-object", "-w", "--stdin"], in: repository, stdinPath: rig.beadJSONPath))
                    try writeFile(treeInput, "100644 blob \(blob)\tbead.json\n")
                    let tree = trimmed(try Spawn.output(["git", "mktree"], in: repository, stdinPath: treeInput))
                    let commit = trimmed(
                        try Spawn.output(["git", "commit-tree", tree], in: repository, stdinPath: rig.messagePath))
                    try Spawn.output(["git", "update-ref", BeadStoreNames.ref(rig.id), commit, ""], in: repository)
                }
                try fixture.checkCreate(repository, rig, in: trial)
            },
            target: 1.5, sameOutput: true, repetitions: 21))

    // The floor: what a process costs before it does any work.
    let gitFloor = Side("`git rev-parse --git-dir` in an empty repository", .wholeProcess, sharedKey: "git-floor") {
        trial in
        let repository = try trial.initRepository()
        let result = try trial.time { try Spawn.run(["git", "rev-parse", "--git-dir"], in: repository) }
        try trial.expect(result.status == 0 && result.stdout == ".git\n", "git rev-parse printed \(result.stdout)")
        trial.fingerprint = result.stdout
    }
    let emptyList = { (trial: Trial, environment: [String: String]) throws -> ChildResult in
        let gasworks = try gasworksBinary()
        let repository = try trial.initRepository()
        let result = try trial.time {
            try Spawn.run([gasworks, "bead", "list", "-q"], in: repository, environment: environment)
        }
        try trial.expect(
            result.status == 0 && result.stdout.isEmpty && result.stderr.isEmpty,
            "bead list in an empty repository: \(result.status) \(result.stdout)\(result.stderr)")
        trial.fingerprint = "empty"
        return result
    }
    figures.append(
        Figure(
            name: "floor-bead-list-empty-repo", title: "Process floor: git bead list in an empty repository",
            measures: "The least a `git bead` command costs: `gasworks bead list -q` in a repository without "
                + "beads starts the process, initializes libgit2, opens the repository, reads its config and "
                + "finds no bead refs. The baseline is git's own floor, a command that only finds the "
                + "repository. Both print what they should (nothing; `.git`).",
            ours: Side("`gasworks bead list -q` in an empty repository", .wholeProcess) { trial in
                _ = try emptyList(trial, [:])
            },
            baseline: gitFloor, repetitions: 21))
    figures.append(
        Figure(
            name: "floor-bead-list-no-ca-bundle",
            title: "Process floor with mbedtls's CA loaders preloaded as no-ops",
            measures: "`floor-bead-list-empty-repo` again, with a stub preloaded (LD_PRELOAD, built by the "
                + "harness with the system C compiler) whose mbedtls_x509_crt_parse_file/_path return at once. "
                + "libgit2 1.5 built with mbedtls parses every certificate of the system CA bundle inside "
                + "git_libgit2_init(); the gasworks executable now defines those two loaders itself as no-ops, "
                + "so the preloaded stub must never be reached and this row must equal the one above. Each "
                + "repetition first checks, untimed, that the stub is NOT reached.",
            ours: Side("`gasworks bead list -q`, empty repository, stub preloaded", .wholeProcess) {
                trial in
                let fixture = rigs()
                let probe = try trial.initRepository("probe")
                try trial.expect(
                    !(try fixture.reachesCABundle(
                        [try gasworksBinary(), "bead", "list", "-q"], in: probe, trial: trial)),
                    "libgit2 called the preloaded CA loader: the executable's own no-op loaders are not in effect")
                _ = try emptyList(trial, ["LD_PRELOAD": try fixture.caBundleStub()])
            },
            baseline: gitFloor, repetitions: 21))
    figures.append(
        Figure(
            name: "floor-bead-list-help", title: "Process start without libgit2: git bead list -h",
            measures: "`gasworks bead list -h`: the process starts (exec, the dynamic loader mapping and "
                + "relocating 31 shared libraries — the Swift runtime, Foundation Essentials, libgit2 and its "
                + "mbedtls, OpenSSL, Kerberos, libssh2 and pcre2 dependencies), ArgumentParser parses the "
                + "arguments and prints the subcommand's help. libgit2 is never initialized (checked: the "
                + "CA-bundle stub is not reached). What is left of `floor-bead-list-empty-repo` after this "
                + "and the CA bundle is libgit2's other start-up work plus opening the repository.",
            ours: Side("`gasworks bead list -h`", .wholeProcess) { trial in
                let fixture = rigs()
                let argv = [try gasworksBinary(), "bead", "list", "-h"]
                try trial.expect(
                    !(try fixture.reachesCABundle(argv, in: trial.directory, trial: trial)),
                    "bead list -h initialized libgit2")
                let result = try trial.time { try Spawn.run(argv, in: trial.directory) }
                try trial.expect(
                    result.status == 0 && result.stdout.contains("USAGE:"), "bead list -h: \(result.stdout)")
                trial.fingerprint = digest(result.stdout)
            },
            baseline: gitFloor, repetitions: 21))

    // 10,000 beads: warm and cold reads.
    let bigRigMeasures =
        "A rig of 10,000 beads imported once per run with `gasworks bead import` from a generated Beads "
        + "JSONL: 2,000 open, 8,000 closed, 5,000 `blocks` edges between them, priorities 0–4 and two labels "
        + "each. "
    let forEachRef = Side("`git for-each-ref refs/gt/beads/`", .wholeProcess, sharedKey: "for-each-ref-10k") {
        trial in
        let rig = try rigs().bigRig()
        let result = try trial.time { try Spawn.run(["git", "for-each-ref", "refs/gt/beads/"], in: rig.path) }
        let count = result.stdout.split(separator: "\n").count
        try trial.expect(result.status == 0 && count == RigFixture.bigRigBeads, "for-each-ref listed \(count) refs")
        trial.fingerprint = digest(result.stdout)
    }
    func warm(_ arguments: [String], expected: @escaping (RigFixture.BigRig) -> String) -> Side {
        Side("`gasworks bead \(arguments.joined(separator: " "))`, index cache warm", .wholeProcess) { trial in
            let fixture = rigs()
            let rig = try fixture.bigRig()
            let argv = [try gasworksBinary(), "bead"] + arguments
            // Untimed: warm the cache, then note it; a warm run must answer without rewriting it.
            let warmup = try Spawn.run(argv, in: rig.path)
            try trial.expect(warmup.status == 0, "warm-up run failed: \(warmup.stderr)")
            let cache = fileIdentity(indexCache(rig.path))
            try trial.expect(cache != nil, "no index cache after a run")
            let result = try trial.time { try Spawn.run(argv, in: rig.path) }
            try trial.expect(result.status == 0, "\(arguments.joined(separator: " ")) failed: \(result.stderr)")
            try trial.expect(
                result.stdout == expected(rig), "\(arguments.joined(separator: " ")) printed other ids than expected")
            try trial.expect(fileIdentity(indexCache(rig.path)) == cache, "the warm run rewrote the index cache")
            trial.fingerprint = digest(result.stdout)
        }
    }
    figures.append(
        Figure(
            name: "bead-ready-10k-warm", title: "git bead ready, 10,000 beads, index cache warm",
            measures: bigRigMeasures
                + "Whole-process `gasworks bead ready -q` with the index cache already written (one untimed run "
                + "before each timed one); it must print exactly the open beads without an open blocker, by "
                + "priority then age, as the harness computes them from the generated data, and leave the "
                + "cache file untouched. The baseline lists the same refs with git and nothing more: the part "
                + "of the work git can do alone.",
            ours: warm(["ready", "-q"]) { $0.expectedReady }, baseline: forEachRef, targetSeconds: 0.050,
            repetitions: 21))
    figures.append(
        Figure(
            name: "bead-list-open-10k-warm", title: "git bead list --status open, 10,000 beads, index cache warm",
            measures: bigRigMeasures
                + "Whole-process `gasworks bead list --status open -q` with the index cache warm (one untimed "
                + "run before each timed one); it must print exactly the 2,000 open beads by priority then age "
                + "and leave the cache file untouched. The baseline lists the same refs with git.",
            ours: warm(["list", "--status", "open", "-q"]) { $0.expectedOpen }, baseline: forEachRef,
            targetSeconds: 0.050, repetitions: 21))
    let catFileScript = "git for-each-ref --format='%(objectname):bead.json' refs/gt/beads/ | git cat-file --batch"
    figures.append(
        Figure(
            name: "bead-ready-10k-cold", title: "git bead ready, 10,000 beads, no index cache",
            measures: bigRigMeasures
                + "Whole-process `gasworks bead ready -q` after deleting the index cache (untimed), so every "
                + "bead's commit, tree and `bead.json` is read and parsed and the cache written again (checked), "
                + "with the same expected output as the warm figure. The baseline reads every bead's `bead.json` "
                + "with git in one pipeline (run by `sh -c`), and the harness checks it printed 10,000 blobs.",
            ours: Side("`gasworks bead ready -q`, index cache deleted before each run", .wholeProcess) { trial in
                let fixture = rigs()
                let rig = try fixture.bigRig()
                unlink(indexCache(rig.path))
                try trial.expect(fileIdentity(indexCache(rig.path)) == nil, "cannot delete the index cache")
                let result = try trial.time {
                    try Spawn.run([try gasworksBinary(), "bead", "ready", "-q"], in: rig.path)
                }
                try trial.expect(result.status == 0, "ready failed: \(result.stderr)")
                try trial.expect(result.stdout == rig.expectedReady, "ready printed other ids than expected")
                try trial.expect(fileIdentity(indexCache(rig.path)) != nil, "the cold run wrote no index cache")
                trial.fingerprint = digest(result.stdout)
            },
            baseline: Side("`\(catFileScript)`", .wholeProcess) { trial in
                let rig = try rigs().bigRig()
                let result = try trial.time { try Spawn.run(["sh", "-c", catFileScript], in: rig.path) }
                try trial.expect(result.status == 0, "the pipeline failed: \(result.stderr)")
                let objects = try catFileBatch(result.stdout)
                try trial.expect(
                    objects.count == RigFixture.bigRigBeads
                        && objects.allSatisfy { $0.type == "blob" && $0.content.first == UInt8(ascii: "{") },
                    "the pipeline printed \(objects.count) objects, not \(RigFixture.bigRigBeads) bead.json blobs")
                trial.fingerprint = digest(result.stdout)
            },
            targetSeconds: 1.0, repetitions: 11))

    // Beads' own database.
    figures.append(
        Figure(
            name: "bead-import-beads-fixture", title: "git bead import of Beads' own 824-issue database",
            measures: "Whole-process `gasworks bead import \(RigFixture.beadsDatabase)` (Beads v0.30.0's "
                + "issues.jsonl, 824 issues) into a fresh repository: parse, one blob, tree and parentless commit "
                + "per issue in one pack, all refs in one transaction. The baseline is `git fast-import` writing "
                + "byte-identical blobs, trees, commits and refs from a stream the harness builds, untimed, out "
                + "of an earlier import. Both must leave exactly the refs that import (checked every repetition; "
                + "`git fsck --strict` once).",
            ours: Side("`gasworks bead import \(RigFixture.beadsDatabase)`", .wholeProcess) { trial in
                let fixture = rigs()
                let database = try fixture.beadsDatabase()
                let repository = try trial.initRepository()
                let result = try trial.time {
                    try Spawn.run([try gasworksBinary(), "bead", "import", database.path], in: repository)
                }
                let issues = RigFixture.beadsDatabaseIssues
                try trial.expect(
                    result.status == 0
                        && result.stdout == "imported \(issues) beads: \(issues) created, 0 updated, 0 unchanged\n",
                    "import printed \(result.stdout)\(result.stderr)")
                try fixture.checkBeadsDatabase(repository, database, in: trial)
            },
            baseline: Side("`git fast-import` (824 blobs, trees, commits and refs)", .wholeProcess) { trial in
                let fixture = rigs()
                let database = try fixture.beadsDatabase()
                let repository = try trial.initRepository()
                try trial.time {
                    try Spawn.output(["git", "fast-import", "--quiet"], in: repository, stdinPath: database.stream)
                }
                try fixture.checkBeadsDatabase(repository, database, in: trial)
            },
            targetSeconds: 2.0, sameOutput: true, repetitions: 11))

    // Why bead refs are packed.
    figures.append(
        Figure(
            name: "refs-10k-for-each-ref-packed-vs-loose", title: "Listing 10,000 bead refs: packed vs loose",
            measures: "`git for-each-ref refs/gt/beads/` over the 10,000 refs of the imported rig, where "
                + "`gasworks bead import` left them in `.git/packed-refs`, against a copy of the rig whose "
                + "packed-refs was replaced by the same 10,000 refs as loose files (`git update-ref --stdin`, "
                + "never packed). Both must list the same refs at the same commits. Bulk writes (import, "
                + "create -f/--stdin) go straight into packed-refs; single creates stay loose until more than "
                + "256 bead refs are loose, then all are packed. Each side records how its refs are stored.",
            ours: Side("`git for-each-ref refs/gt/beads/`, refs as gasworks left them (packed)", .wholeProcess) {
                trial in
                let rig = try rigs().bigRig()
                let result = try trial.time { try Spawn.run(["git", "for-each-ref", "refs/gt/beads/"], in: rig.path) }
                try trial.expect(result.status == 0, "for-each-ref failed: \(result.stderr)")
                trial.fingerprint = digest(result.stdout)
                trial.observation = "after `gasworks bead import` of 10,000 beads: " + refStorage(rig.path)
            },
            baseline: Side("`git for-each-ref refs/gt/beads/`, the same refs loose", .wholeProcess) { trial in
                let rig = try rigs().bigRig()
                let result = try trial.time {
                    try Spawn.run(["git", "for-each-ref", "refs/gt/beads/"], in: rig.loosePath)
                }
                try trial.expect(result.status == 0, "for-each-ref failed: \(result.stderr)")
                trial.fingerprint = digest(result.stdout)
                trial.observation = "made with `git update-ref --stdin`: " + refStorage(rig.loosePath)
            },
            sameOutput: true, repetitions: 21))
    return figures
}
