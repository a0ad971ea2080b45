import Foundation
import TestSupport
import Testing

/// The soak run (`scripts/soak`): 30 agents and 300 beads through the whole pipeline at
/// once, with this build's binaries. The script checks that nothing is lost; the test
/// checks the script's report and the rig it leaves.
@Suite struct SoakTests {
    @Test func thirtyAgentsAndThreeHundredBeadsLoseNothing() throws {
        let scratch = try TemporaryRig(tools: ScenarioTests.tools)
        let dir = scratch.root + "/soak"
        let result = try run(
            packageRoot + "/scripts/soak", ["--agents", "30", "--beads", "300", "--dir", dir, "--timeout", "1500"],
            in: scratch.root, environment: scratch.repository.environment)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let report = result.stdout
        #expect(report.contains("beads closed: 300 of 300; merge requests merged: 300; files on main: 300; missing: 0"))
        #expect(report.contains("agents still running: 0"), "\(report)")
        #expect(report.contains("git fsck --strict: clean") && report.contains("nothing lost"), "\(report)")
        // The limit was reached and never passed.
        let samples = try String(contentsOfFile: dir + "/logs/load.txt", encoding: .utf8).split(separator: "\n")
            .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }
        #expect(samples.max() == 30, "\(samples)")
        // Every bead's file is on main, and main's history holds one merge per bead.
        let files = try scratch.git(["ls-tree", "--name-only", "main", "work/"], in: dir + "/rig").stdout
            .split(separator: "\n").filter { $0.hasSuffix(".txt") }
        #expect(files.count == 300)
        let merges = try scratch.git(["rev-list", "--first-parent", "--merges", "--count", "main"], in: dir + "/rig")
        #expect(merges.output == "300")
    }
}
