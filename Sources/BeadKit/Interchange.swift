import GitKit

/// Beads' `issues.jsonl`: one bead per line, imported as an upsert and exported field for field.
public struct ImportReport: Sendable, Equatable {
    public var created: [String] = []
    public var updated: [String] = []
    public var unchanged: [String] = []
    /// `line: reason` for lines skipped with `skipBad`.
    public var skipped: [String] = []
}

extension BeadStore {
    /// Parses JSONL text. A malformed line is an error naming its line number, unless
    /// `skipBad`, which reports it in `skipped` and goes on.
    public static func parseJSONL(_ text: String, source: String, skipBad: Bool) throws -> (
        beads: [Bead], skipped: [String]
    ) {
        var beads: [Bead] = []
        var skipped: [String] = []
        var seen: [String: Int] = [:]
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            let problem: String
            if let object = (try? JSONValue.parse(line))?.objectValue {
                if let id = object["id"]?.stringValue, BeadID.isValid(id) {
                    if let first = seen[id] {
                        problem = "duplicate id '\(id)' (first on line \(first))"
                    } else {
                        seen[id] = number
                        beads.append(Bead(fields: object))
                        continue
                    }
                } else {
                    problem = "missing or invalid \"id\""
                }
            } else {
                problem = "malformed JSON"
            }
            if !skipBad { throw GasworksError(.badData, "\(source):\(number): \(problem); nothing imported") }
            skipped.append("\(number): \(problem)")
        }
        return (beads, skipped)
    }

    /// Upserts `beads`: new ids are created, changed ones get one commit on their chain,
    /// identical ones are left alone. All objects go into one pack before any ref moves;
    /// the new beads appear at once, and the changed ones move in one checked transaction.
    public func importBeads(_ beads: [Bead]) throws -> ImportReport {
        try repository.withRetry(touching: beads.map { Self.refName($0.id) }) {
            var report = ImportReport()
            var planned: [(bead: Bead, tip: OID?, op: String, lines: [String])] = []
            for bead in beads {
                let tip = try repository.referenceTarget(Self.refName(bead.id))
                if let tip {
                    let current = try self.bead(at: tip, id: bead.id)
                    if current == bead {
                        report.unchanged.append(bead.id)
                        continue
                    }
                    planned.append((bead, tip, "import", Self.describeChange(from: current, to: bead)))
                    report.updated.append(bead.id)
                } else {
                    planned.append((bead, nil, "create", []))
                    report.created.append(bead.id)
                }
            }
            let commits = try repository.withObjectBatch { batch in
                try planned.map { item in
                    try commitState(
                        item.bead, parents: item.tip.map { [$0] } ?? [],
                        message: Self.message(op: item.op, bead: item.bead, lines: item.lines, actor: actor), in: batch)
                }
            }
            // New beads appear together in one rename of packed-refs; changed ones move in one
            // transaction that checks every expected tip first.
            let pairs = Array(zip(planned, commits))
            try repository.createReferencesPacked(
                pairs.filter { $0.0.tip == nil }.map { Reference(name: Self.refName($0.0.bead.id), target: $0.1) })
            let updates = pairs.filter { $0.0.tip != nil }.map {
                ReferenceUpdate(name: Self.refName($0.0.bead.id), expected: $0.0.tip, target: $0.1)
            }
            try repository.updateReferences(updates, message: "bead: import")
            try compactRefsIfNeeded()
            return report
        }
    }

    /// Every bead, tombstones included, as Beads' JSONL (sorted by id, Beads' key order).
    public func exportJSONL() throws -> String {
        try index().all.map { try $0.bead().json.compactText(keyOrder: Bead.fieldOrder) + "\n" }.joined()
    }
}
