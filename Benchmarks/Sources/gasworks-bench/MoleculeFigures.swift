import Foundation
import TestSupport

/// A generated formula of 1,025 steps (the size of Gas Town's largest), the same one the
/// crash test pours.
enum BigFormula {
    static let steps = 1_025

    static var text: String { generatedFormula(name: "big", count: steps) }

    /// A repository with the formula in its `formulas/` and a first commit.
    static func makeRig(_ path: String, trial: Trial) throws {
        _ = try trial.git("init", "-q", path, in: "/")
        try FileManager.default.createDirectory(atPath: path + "/formulas", withIntermediateDirectories: true)
        try writeFile(path + "/formulas/big.formula.toml", text)
        _ = try trial.git("config", "gt.prefix", "gw", in: path)
    }

    /// What plain git does for the same pour: 1,026 blobs, trees and commits in one
    /// `git fast-import` stream, each on its own ref, like the beads the pour writes.
    static func fastImportStream() -> String {
        var stream = ""
        for index in 0...steps {
            let id = index == 0 ? "gw-big" : "gw-big.\(index)"
            let json =
                "{\n  \"created_at\": \"2026-11-27T00:00:00Z\",\n  \"description\": \"Do part \(index) of t.\",\n"
                + "  \"id\": \"\(id)\",\n  \"issue_type\": \"step\",\n  \"priority\": 2,\n  \"status\": \"open\",\n"
                + "  \"title\": \"Step \(index) of t\"\n}\n"
            let message = "create \(id): Step \(index) of t\n\nGt-Op: create\nGt-Bead: \(id)\n"
            stream += "commit refs/gt/beads/\(id)\ncommitter bench <bench@localhost> 1700000000 +0000\n"
            stream +=
                "data \(message.utf8.count)\n\(message)\nM 100644 inline bead.json\ndata \(json.utf8.count)\n\(json)\n"
        }
        return stream
    }
}

func moleculeFigures() -> [Figure] {
    var figures: [Figure] = []
    let pour = ["molecule", "pour", "big", "--var", "topic=t", "-q"]
    figures.append(
        Figure(
            name: "molecule-pour-1025", title: "git molecule pour of a 1,025-step formula",
            measures: "A fresh repository holding a generated 1,025-step formula in `formulas/` (a chain with a "
                + "three-way fan-out every tenth step). Whole-process `gasworks molecule pour big --var topic=t -q`: "
                + "reading and cooking the TOML, then writing the molecule bead and its 1,025 step beads (blob, tree "
                + "and commit each) in one pack and one `packed-refs` rename. Checked: 1,026 refs, all packed, and "
                + "`git fsck` clean. The baseline is `git fast-import` writing 1,026 commits of one small JSON blob "
                + "each, each on its own ref, from a stream prepared untimed.",
            ours: Side("`gasworks \(pour.joined(separator: " "))`", .wholeProcess) { trial in
                let rig = trial.directory + "/rig"
                try BigFormula.makeRig(rig, trial: trial)
                let result = try trial.time { try Spawn.run([try gasworksBinary()] + pour, in: rig) }
                try trial.expect(
                    result.status == 0 && result.stderr.isEmpty, "pour exited \(result.status): \(result.stderr)")
                let refs = try trial.git("for-each-ref", "--format=%(refname)", "refs/gt/beads/", in: rig)
                    .split(separator: "\n").count
                try trial.expect(refs == BigFormula.steps + 1, "pour wrote \(refs) refs")
                if trial.isFirstMeasured {
                    _ = try trial.git("fsck", "--strict", "--no-dangling", in: rig)
                }
                trial.fingerprint = "\(refs) refs"
                trial.observation = "\(looseRefFiles(rig)) loose ref files, \(packedBeadRefs(rig)) packed"
            },
            baseline: Side("`git fast-import` of 1,026 one-blob commits on 1,026 refs", .wholeProcess) { trial in
                let rig = trial.directory + "/rig"
                _ = try trial.git("init", "-q", rig, in: "/")
                let streamPath = trial.directory + "/stream"
                try writeFile(streamPath, BigFormula.fastImportStream())
                let result = try trial.time {
                    try Spawn.run(["git", "fast-import", "--quiet"], in: rig, stdinPath: streamPath)
                }
                try trial.expect(result.status == 0, "fast-import failed: \(result.stderr)")
                let refs = try trial.git("for-each-ref", "--format=%(refname)", "refs/gt/beads/", in: rig)
                    .split(separator: "\n").count
                try trial.expect(refs == BigFormula.steps + 1, "fast-import wrote \(refs) refs")
                trial.fingerprint = "\(refs) refs"
            },
            targetSeconds: 2.0, repetitions: 5))

    // One rig with the poured molecule and its first 20 steps approved, shared by every repetition.
    final class NextRig: @unchecked Sendable {
        var path: String?
        var molecule = ""
    }
    let shared = NextRig()
    func nextRig(_ trial: Trial) throws -> (path: String, molecule: String) {
        if let path = shared.path { return (path, shared.molecule) }
        let rig = FileManager.default.temporaryDirectory.path + "/gasworks-bench-next-\(getpid())"
        try? FileManager.default.removeItem(atPath: rig)
        try BigFormula.makeRig(rig, trial: trial)
        let gasworks = try gasworksBinary()
        let poured = try Spawn.run([gasworks] + pour, in: rig)
        try trial.expect(poured.status == 0, "pour failed: \(poured.stderr)")
        let molecule = trimmed(poured.stdout)
        for n in 1...20 {
            let approved = try Spawn.run([gasworks, "molecule", "approve", "\(molecule).\(n)", "-q"], in: rig)
            try trial.expect(approved.status == 0, "approve \(n) failed: \(approved.stderr)")
        }
        shared.path = rig
        shared.molecule = molecule
        return (rig, molecule)
    }
    figures.append(
        Figure(
            name: "molecule-next-1025", title: "git molecule next on a 1,025-step molecule",
            measures: "The molecule poured from the generated 1,025-step formula, with its first 20 steps approved "
                + "(built once per run, untimed; the bead index cache is warm after that). Whole-process `gasworks "
                + "molecule next <mol> -q`: resolving the molecule, reading every step's state from the index "
                + "(validated against the ref tips), checking nothing needs settling, and printing the first ready "
                + "step, which must be step 21. The baseline is plain git listing the same molecule's refs: `git "
                + "for-each-ref refs/gt/beads/<mol>.`.",
            ours: Side("`gasworks molecule next <mol> -q`", .wholeProcess) { trial in
                let (rig, molecule) = try nextRig(trial)
                let argv = [try gasworksBinary(), "molecule", "next", molecule, "-q"]
                let result = try trial.time { try Spawn.run(argv, in: rig) }
                try trial.expect(result.status == 0, "next exited \(result.status): \(result.stderr)")
                try trial.expect(trimmed(result.stdout) == "\(molecule).21", "next printed \(result.stdout)")
                trial.fingerprint = "step 21"
            },
            baseline: Side("`git for-each-ref refs/gt/beads/<mol>.`", .wholeProcess) { trial in
                let (rig, molecule) = try nextRig(trial)
                let result = try trial.time {
                    try Spawn.run(["git", "for-each-ref", "refs/gt/beads/\(molecule)."], in: rig)
                }
                try trial.expect(result.status == 0, "for-each-ref failed")
                trial.fingerprint = "step 21"
            },
            targetSeconds: 0.050, repetitions: 21))
    return figures
}
