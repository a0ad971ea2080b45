import Foundation
import TestSupport
import Testing

let fixtureJSONL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("shared/fixtures/beads/issues-beads-v0.30.0.jsonl").path

/// Parses JSONL into objects keyed by id, for field-by-field comparison.
func objectsByID(_ text: String) throws -> [String: NSDictionary] {
    var out: [String: NSDictionary] = [:]
    for line in text.split(separator: "\n") where !line.isEmpty {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? NSDictionary)
        out[try #require(object["id"] as? String)] = object
    }
    return out
}

@Suite struct BeadInterchangeTests {
    @Test func theBeadsFixtureImportsAndExportsFieldForField() throws {
        let rig = try TemporaryRig(prefix: "bd")
        let summary = try rig.bead("import", fixtureJSONL)
        #expect(summary == "imported 824 beads: 824 created, 0 updated, 0 unchanged")
        let exported = try rig.bead("export")
        let input = try objectsByID(try String(contentsOfFile: fixtureJSONL, encoding: .utf8))
        let output = try objectsByID(exported)
        #expect(input.count == 824 && output.count == 824)
        for (id, object) in input { #expect(output[id] == object, "\(id) differs after the round trip") }
        // Beads' key order is kept, so lines read like Beads' own.
        #expect(
            exported.hasPrefix(
                "{\"id\":\"bd-0088\",\"title\":\"Create npm package structure for bd-wasm\",\"description\":"))

        // Importing the same file again changes nothing; a changed line is one new commit.
        #expect(try rig.bead("import", fixtureJSONL) == "imported 824 beads: 0 created, 0 updated, 824 unchanged")
        let changed = try String(contentsOfFile: fixtureJSONL, encoding: .utf8).replacingOccurrences(
            of: "\"title\":\"Create npm package structure for bd-wasm\"", with: "\"title\":\"Renamed\"")
        #expect(
            try rig.bead("import", "-", input: changed) == "imported 824 beads: 0 created, 1 updated, 823 unchanged")
        #expect(
            try rig.repository.gitOutput("log", "--format=%s", "refs/gt/beads/bd-0088")
                == "import bd-0088: title\ncreate bd-0088: Create npm package structure for bd-wasm")
        // Tombstones from Beads stay deleted.
        #expect(try !rig.bead("list", "--all", "-q").contains("bd-83xx"))
        #expect(try rig.bead("ready", "-q").split(separator: "\n").count > 0)
    }

    @Test func theIndexIsOnlyACacheValidatedAgainstRefTips() throws {
        let rig = try TemporaryRig()
        let id = try rig.bead("create", "Cached", "-q")
        let before = try rig.bead("list", "--json")
        _ = try rig.bead("update", id, "--title", "Renamed", "-p", "0")
        let after = try rig.bead("list", "--json")
        #expect(after.contains("Renamed") && after != before)

        // Deleting the cache changes nothing.
        let cache = rig.path + "/.git/gt/index/beads"
        #expect(FileManager.default.fileExists(atPath: cache))
        try FileManager.default.removeItem(atPath: cache)
        #expect(try rig.bead("list", "--json") == after)

        // Moving the ref back with plain git is seen at once.
        _ = try rig.repository.gitOutput("update-ref", "refs/gt/beads/\(id)", "refs/gt/beads/\(id)~1")
        #expect(try rig.bead("list", "--json") == before)
        // A ref deleted with plain git disappears; one created with plain git appears.
        _ = try rig.repository.gitOutput("update-ref", "refs/gt/beads/gw-copy", "refs/gt/beads/\(id)")
        #expect(
            try rig.bead("list", "-q").split(separator: "\n").map(String.init).sorted() == ["gw-copy", id].sorted())
        _ = try rig.repository.gitOutput("update-ref", "-d", "refs/gt/beads/\(id)")
        #expect(try rig.bead("list", "-q") == "gw-copy")
    }
}
