import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

extension Deacon {
    // MARK: unconfined agents

    /// With agents unconfined (`gt.sandbox=off`, or no bubblewrap here), what the deacon can
    /// see of writes made outside the tools, each reported once (to the overseer by mail):
    /// a move of the target branch that no refinery landing note explains, and a bead whose
    /// latest commit lacks the tools' trailers (`Gt-Op:`, `Gt-Actor:`, `Gt-Bead:`).
    func audit(index: BeadIndex, target: String, targetTip: OID?) throws {
        guard try Sandbox.isOff(repository) || Sandbox.unavailable(repository) != nil else { return }
        var alarms: [String] = []
        var seen = remembered("audit")
        if let tip = targetTip {
            if let hex = seen["target"]?.stringValue, let last = OID(hex: hex), last != tip {
                alarms += try unexplainedMoves(of: target, from: last, to: tip)
            }
            seen["target"] = .string(tip.hex)
        }
        memory["audit"] = .object(seen)
        var checked = CheckedTips(repository: repository)
        for summary in index.beads.values where !checked.contains(summary.commit) {
            let commit = try repository.commit(summary.commit)
            let message = commit.message
            let keys = Set(Trailer.parse(message).map(\.key))
            // `git rig sync`'s merges of two histories are the tools' too.
            if keys.isSuperset(of: ["Gt-Op", "Gt-Actor", Trailer.bead]) || commit.parents.count > 1 {
                checked.insert(summary.commit)
                continue
            }
            alarms.append(
                "\(BeadStore.refName(summary.id)) was written outside the tools: its commit "
                    + "\(summary.commit.hex.prefix(12)) \"\(message.firstLine)\" has no Gt-Op/Gt-Actor/Gt-Bead trailers"
            )
        }
        checked.save()
        var told: [String] = []
        for alarm in alarms {
            problems.append(.init(kind: "unconfined", worker: "rig", detail: alarm))
            if isNew("audit:" + alarm) { told.append(alarm) }
        }
        guard !told.isEmpty else { return }
        act("alarm", "rig", "\(told.count) write\(told.count == 1 ? "" : "s") the tools did not make")
        try mail(
            ["overseer"], type: "escalation",
            subject: "Deacon: \(told.count) change\(told.count == 1 ? "" : "s") the tools did not make",
            body: "The rig's agents run unconfined (gt.sandbox=off, or no bubblewrap), and these were "
                + "written by something other than Gasworks:\n\n" + told.map { "- \($0)\n" }.joined()
                + "\nThe refinery still trusts only signed verdicts; look at who wrote these.\n")
    }

    /// Commits on the target's first-parent line between `last` and `tip` that no landing
    /// note of the refinery explains (a batch's earlier merges are named by its note).
    func unexplainedMoves(of target: String, from last: OID, to tip: OID) throws -> [String] {
        var found: [String] = []
        var landed = Set<String>()
        var current: OID? = tip
        var steps = 0
        let notes = try repository.notesTree("refs/notes/gt/refinery")
        while let id = current, id != last {
            steps += 1
            if steps > 1000 { return found }
            let commit = try repository.commit(id)
            let note = try notes.flatMap { try repository.note(on: id, notesTree: $0) } ?? ""
            for line in note.split(separator: "\n") {
                guard let json = try? JSONValue.parse(line), json["result"]?.stringValue == "landed" else { continue }
                for request in json["merge_requests"]?.arrayValue ?? [] {
                    if let id = request.stringValue { landed.insert(id) }
                }
            }
            let request = Trailer.values("Gt-Merge-Request", in: commit.message).first
            if note.isEmpty, request.map({ !landed.contains($0) }) ?? true {
                found.append(
                    "\(target) moved to \(id.hex.prefix(12)) \"\(commit.message.firstLine)\" with no landing note "
                        + "of the refinery")
            }
            current = commit.parents.first
        }
        if current == nil {
            found.append("\(target) was rewritten: \(last.hex.prefix(12)) is no longer on its first-parent line")
        }
        return found
    }
}

/// Bead tips already found to be the tools' own (`<common dir>/gt/deacon/checked-tips`):
/// the audit reads only commits it has not seen.
struct CheckedTips {
    let path: String
    var tips: Set<String>
    var changed = false

    init(repository: Repository) {
        path = repository.commonDir + "gt/deacon/checked-tips"
        let text = (try? LocalFile.read(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        tips = Set(text.split(separator: "\n").map(String.init))
    }

    func contains(_ id: OID) -> Bool { tips.contains(id.hex) }

    mutating func insert(_ id: OID) {
        if tips.insert(id.hex).inserted { changed = true }
    }

    func save() {
        guard changed else { return }
        try? LocalFile.write(tips.sorted().map { $0 + "\n" }.joined(), to: path)
    }
}
