import BeadKit
import GitKit
import TestSupport
import Testing

@Suite struct JSONTests {
    @Test func canonicalTextSortsKeysOneFieldPerLineAndEscapes() throws {
        let value = try JSONValue.parse(#"{"b":[1,2.5,true,null],"a":"x\"y\n\u0001","c":{}}"#)
        #expect(
            value.canonicalText
                == "{\n  \"a\": \"x\\\"y\\n\\u0001\",\n  \"b\": [\n    1,\n    2.5,\n    true,\n    null\n  ],\n  \"c\": {}\n}\n"
        )
        #expect(value.compactText(keyOrder: ["c", "b"]) == #"{"c":{},"b":[1,2.5,true,null],"a":"x\"y\n\u0001"}"#)
        #expect(try JSONValue.parse(value.canonicalText) == value)
    }
}

@Suite struct BeadIDTests {
    @Test func lengthGrowsWithTheRig() {
        #expect(BeadID.hashLength(forCount: 0) == 3)
        #expect(BeadID.hashLength(forCount: 100) == 3)
        #expect(BeadID.hashLength(forCount: 200) == 4)
        #expect(BeadID.hashLength(forCount: 3_000) == 5)
        #expect(BeadID.hashLength(forCount: 10_000) == 6)
        #expect(BeadID.hashLength(forCount: 100_000) == 7)
    }

    @Test func idsAreDeterministicBase36AndNoncesDiffer() {
        let a = BeadID.make(prefix: "gw", seed: "title", nonce: 0, length: 4)
        #expect(a == BeadID.make(prefix: "gw", seed: "title", nonce: 0, length: 4))
        #expect(a != BeadID.make(prefix: "gw", seed: "title", nonce: 1, length: 4))
        #expect(a.hasPrefix("gw-") && a.count == 7 && a.dropFirst(3).allSatisfy { $0.isLowercase || $0.isNumber })
        #expect(
            BeadID.isValid("gw-a1b.2") && !BeadID.isValid("gw a") && !BeadID.isValid("../x")
                && !BeadID.isValid("gw-a..b"))
        #expect(BeadID.isValidPrefix("calc") && !BeadID.isValidPrefix("a-b") && !BeadID.isValidPrefix(""))
    }
}

@Suite struct DraftTests {
    @Test func markdownSectionsBecomeFields() throws {
        let drafts = try Drafts.parseMarkdown(
            "## One\nintro\n### Priority\nP1\n### Labels\na, b\n### Dependencies\nblocks:gw-1, related:gw-2\n## Two\n",
            source: "plan.md")
        #expect(drafts.count == 2)
        #expect(drafts[0].bead.title == "One" && drafts[0].bead.description == "intro" && drafts[0].bead.priority == 1)
        #expect(drafts[0].bead.labels == ["a", "b"])
        #expect(drafts[0].dependencies.map { "\($0.0.rawValue):\($0.1)" } == ["blocks:gw-1", "related:gw-2"])
        #expect(throws: GasworksError.self) { try Drafts.parseMarkdown("text first\n## T\n", source: "x.md") }
        let bad = #expect(throws: GasworksError.self) {
            try Drafts.parseMarkdown("## T\n### Priority\n9\n", source: "x.md")
        }
        #expect(bad?.kind == .badData && bad?.message == "x.md: 'T': invalid priority '9' (expected 0-4 or P0-P4)")
    }

    @Test func stdinLinesAndJSONDrafts() throws {
        let drafts = try Drafts.parseLines("plain title\n\n{\"title\":\"json\",\"priority\":\"P0\"}\n")
        #expect(drafts.map(\.bead.title) == ["plain title", "json"])
        #expect(drafts[1].bead.priority == 0)
        let error = #expect(throws: GasworksError.self) {
            try Drafts.parseLines("a\n\n{\"title\":\"x\",\"id\":\"gw-1\"}\n")
        }
        #expect(error?.message.hasPrefix("stdin:3: ") == true)
    }
}

@Suite struct ReadinessTests {
    /// Builds summaries through a real store so the index types are the ones users get.
    func summaries(_ lines: [String]) throws -> (TemporaryRepository, [String: BeadSummary]) {
        let repo = try TemporaryRepository()
        let store = try BeadStore(repository: try Repository.open(repo.path))
        let beads = try lines.map { Bead(fields: try JSONValue.parse($0).objectValue!) }
        _ = try store.importBeads(beads)
        return (repo, try store.index().beads)
    }

    @Test func blockersParentsDeferralAndCycles() throws {
        let (repo, beads) = try summaries([
            #"{"id":"gw-a","title":"a","status":"open","priority":1}"#,
            #"{"id":"gw-b","title":"b","status":"open","priority":0,"dependencies":[{"issue_id":"gw-b","depends_on_id":"gw-a","type":"blocks"}]}"#,
            #"{"id":"gw-c","title":"c","status":"open","priority":2,"dependencies":[{"issue_id":"gw-c","depends_on_id":"gw-b","type":"parent-child"}]}"#,
            #"{"id":"gw-d","title":"d","status":"open","priority":2,"defer_until":"2030-01-01T00:00:00Z"}"#,
            #"{"id":"gw-e","title":"e","status":"closed","priority":2}"#,
            #"{"id":"gw-f","title":"f","status":"open","priority":3,"dependencies":[{"issue_id":"gw-f","depends_on_id":"gw-e","type":"blocks"}]}"#,
        ])
        _ = repo
        let early = Readiness(beads: beads, now: ISO8601.parse("2026-01-01T00:00:00Z")!)
        #expect(early.ready().map(\.id) == ["gw-a", "gw-f"])
        #expect(early.reasons(for: beads["gw-c"]!) == ["parent gw-b is blocked"])
        #expect(early.reasons(for: beads["gw-d"]!) == ["deferred until 2030-01-01T00:00:00Z"])
        let late = Readiness(beads: beads, now: ISO8601.parse("2031-01-01T00:00:00Z")!)
        #expect(late.ready().map(\.id) == ["gw-a", "gw-d", "gw-f"])
        #expect(early.blocked().map(\.bead.id) == ["gw-b"])

        let graph = DependencyGraph(beads.values)
        #expect(graph.wouldCycle(from: "gw-a", to: "gw-c"))
        #expect(!graph.wouldCycle(from: "gw-c", to: "gw-a"))
        #expect(graph.cycles().isEmpty)
    }
}
