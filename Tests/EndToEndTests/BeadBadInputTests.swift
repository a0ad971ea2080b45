import Foundation
import TestSupport
import Testing

@Suite struct BeadBadInputTests {
    /// Every refusal is one line on stderr, a documented exit code, and no ref written.
    func expectRefusal(_ rig: TemporaryRig, _ args: [String], status: Int32, message: String, input: String? = nil)
        throws
    {
        let before = try rig.stateRefs()
        let result = try rig.git(["bead"] + args, input: input)
        #expect(result.status == status, "git bead \(args.joined(separator: " ")): \(result.stderr)")
        #expect(
            result.stderr.hasSuffix("\n") && result.stderr.dropLast().split(separator: "\n").count == 1,
            "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(try rig.stateRefs() == before)
    }

    @Test func unknownAmbiguousAndInvalidValuesAreRefusedWithNothingWritten() throws {
        let rig = try TemporaryRig()
        let a = try rig.bead("create", "A", "-q")
        _ = try rig.bead("create", "B", "-q")
        try expectRefusal(rig, ["show", "gw-zzzz"], status: 2, message: "fatal: no bead matches 'gw-zzzz'")
        try expectRefusal(rig, ["close", "gw"], status: 3, message: "is ambiguous")
        try expectRefusal(rig, ["update", a, "--status", "done"], status: 64, message: "fatal: invalid status 'done'")
        try expectRefusal(rig, ["create", "X", "-p", "7"], status: 64, message: "fatal: invalid priority '7'")
        try expectRefusal(rig, ["create", "X", "-t", "story"], status: 64, message: "fatal: invalid type 'story'")
        try expectRefusal(
            rig, ["create", "X", "--deps", "blocks:gw-nope"], status: 2, message: "no bead matches 'gw-nope'")
        try expectRefusal(rig, ["dep", "add", a, a], status: 1, message: "would create a cycle")
        try expectRefusal(rig, ["create"], status: 64, message: "give exactly one of a title, --file or --stdin")
        try expectRefusal(rig, ["list", "--sort", "size"], status: 64, message: "invalid --sort 'size'")
        try expectRefusal(rig, ["show", "bad id"], status: 64, message: "invalid bead id 'bad id'")
    }

    @Test func aMalformedJSONLLineNamesItsNumberAndImportsNothingUnlessAsked() throws {
        let rig = try TemporaryRig()
        let text = """
            {"id":"gw-1","title":"one","status":"open","priority":1,"issue_type":"task"}
            {"id":"gw-2","title":"two"
            {"id":"gw-3","title":"three"}
            """
        try text.write(toFile: rig.root + "/bad.jsonl", atomically: true, encoding: .utf8)
        try expectRefusal(
            rig, ["import", rig.root + "/bad.jsonl"], status: 65,
            message: "bad.jsonl:2: malformed JSON; nothing imported")
        let skipped = try rig.git(["bead", "import", "--skip-bad", rig.root + "/bad.jsonl"])
        #expect(skipped.status == 0)
        #expect(skipped.stderr.contains("bad.jsonl:2: malformed JSON; skipped"))
        #expect(try rig.bead("list", "-q", "--sort", "id") == "gw-1\ngw-3")
    }

    @Test func aCorruptBeadIsReportedByName() throws {
        let rig = try TemporaryRig()
        _ = try rig.bead("create", "Fine", "-q")
        let blob = try rig.repository.gitOutput("hash-object", "-w", "--stdin")  // empty blob
        let tree = try rig.repository.git("mktree", input: "100644 blob \(blob)\tbead.json\n").output
        let commit = try rig.repository.gitOutput("commit-tree", tree, "-m", "garbage")
        _ = try rig.repository.gitOutput("update-ref", "refs/gt/beads/gw-bad", commit)
        try expectRefusal(
            rig, ["show", "gw-bad"], status: 65,
            message: "fatal: corrupt bead 'gw-bad': bead.json is not a bead JSON object")
        try expectRefusal(rig, ["list"], status: 65, message: "corrupt bead 'gw-bad'")
        try expectRefusal(rig, ["update", "gw-bad", "--title", "x"], status: 65, message: "corrupt bead 'gw-bad'")
        let blobRef = try rig.repository.gitOutput("update-ref", "refs/gt/beads/gw-blob", blob)
        _ = blobRef
        try expectRefusal(rig, ["show", "gw-blob"], status: 65, message: "corrupt bead 'gw-blob'")
    }

    @Test func outsideARepositoryTheErrorSaysSo() throws {
        let rig = try TemporaryRig()
        let outside = rig.root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let result = try rig.git(["bead", "list"], env: ["GIT_CEILING_DIRECTORIES": rig.root], in: outside)
        #expect(result.status != 0)
        let direct = try run(
            builtProduct("gasworks"), ["bead", "list"], in: outside,
            environment: rig.repository.environment.merging(["GIT_CEILING_DIRECTORIES": rig.root]) { $1 })
        #expect(direct.status == 128)
        #expect(direct.stderr.hasPrefix("fatal: not a git repository"))
    }
}
