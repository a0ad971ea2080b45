import ArgumentParser
import BeadKit
import GitKit
import HookKit
import PolecatKit

/// `git rig report --html <file>`: one static page, no script: the dependency graph of the
/// open beads as SVG, and each open molecule's progress.
struct RigReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a static HTML page: the dependency graph of open beads (SVG) and each molecule's progress.")
    @OptionGroup var common: CommonOptions
    @Option(name: .long, help: "Where to write the page.") var html: String
    @Option(name: .long, help: "At most this many beads in the graph (default 400).") var limit: Int = 400

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    static func escaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static let hidden: Set<String> = ["step", "molecule", "merge-request", "message", "convoy", "event"]

    /// The graph: open beads (steps and bookkeeping types aside), laid out in columns by
    /// how many open beads block them, edges from blocker to blocked.
    static func graph(_ index: BeadIndex, readiness: Readiness, limit: Int) -> (svg: String, shown: Int, total: Int) {
        let open = index.beads.values.filter {
            !$0.deleted && $0.status != BeadStatus.closed.rawValue && !hidden.contains($0.type)
        }.sorted { ($0.priority, $0.id) < ($1.priority, $1.id) }
        let shown = Array(open.prefix(limit))
        let ids = Set(shown.map(\.id))
        // blocker -> blocked, among the beads shown.
        var blockers: [String: [String]] = [:]
        for bead in shown {
            for dependency in bead.dependencies where dependency.type == DependencyType.blocks.rawValue {
                if ids.contains(dependency.target) { blockers[bead.id, default: []].append(dependency.target) }
            }
        }
        var layer: [String: Int] = [:]
        func depth(_ id: String, _ seen: Set<String>) -> Int {
            if let known = layer[id] { return known }
            guard !seen.contains(id) else { return 0 }
            let value = (blockers[id] ?? []).map { depth($0, seen.union([id])) + 1 }.max() ?? 0
            layer[id] = value
            return value
        }
        for bead in shown { _ = depth(bead.id, []) }
        var columns: [Int: [BeadSummary]] = [:]
        for bead in shown { columns[layer[bead.id] ?? 0, default: []].append(bead) }
        let (width, height, gapX, gapY) = (200, 46, 70, 18)
        var position: [String: (x: Int, y: Int)] = [:]
        for (column, beads) in columns {
            for (row, bead) in beads.enumerated() {
                position[bead.id] = (20 + column * (width + gapX), 20 + row * (height + gapY))
            }
        }
        let maxX = (position.values.map(\.x).max() ?? 0) + width + 20
        let maxY = (position.values.map(\.y).max() ?? 0) + height + 20
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\" width=\"\(maxX)\" height=\"\(maxY)\" "
            + "viewBox=\"0 0 \(maxX) \(maxY)\">\n"
            + "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" "
            + "markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n"
        for (blocked, list) in blockers.sorted(by: { $0.key < $1.key }) {
            guard let to = position[blocked] else { continue }
            for blocker in list.sorted() {
                guard let from = position[blocker] else { continue }
                svg +=
                    "<line class=\"edge\" data-from=\"\(escaped(blocker))\" data-to=\"\(escaped(blocked))\" "
                    + "x1=\"\(from.x + width)\" y1=\"\(from.y + height / 2)\" x2=\"\(to.x)\" y2=\"\(to.y + height / 2)\" "
                    + "stroke=\"#555\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>\n"
            }
        }
        for bead in shown {
            guard let at = position[bead.id] else { continue }
            let ready = readiness.isReady(bead)
            let colour =
                bead.status == BeadStatus.inProgress.rawValue
                ? "#cfe2ff"
                : bead.status == BeadStatus.blocked.rawValue ? "#f8d7da" : ready ? "#d1e7dd" : "#e9ecef"
            let title = bead.title.count > 26 ? String(bead.title.prefix(25)) + "…" : bead.title
            svg +=
                "<g class=\"bead\" data-bead=\"\(escaped(bead.id))\" data-status=\"\(escaped(bead.status))\">"
                + "<title>\(escaped(bead.id)): \(escaped(bead.title)) (\(escaped(bead.status)))</title>"
                + "<rect x=\"\(at.x)\" y=\"\(at.y)\" width=\"\(width)\" height=\"\(height)\" rx=\"6\" fill=\"\(colour)\" "
                + "stroke=\"#333\"/>"
                + "<text x=\"\(at.x + 8)\" y=\"\(at.y + 18)\" font-size=\"12\" font-weight=\"bold\">"
                + "\(escaped(bead.id)) P\(bead.priority)</text>"
                + "<text x=\"\(at.x + 8)\" y=\"\(at.y + 36)\" font-size=\"12\">\(escaped(title))</text></g>\n"
        }
        return (svg + "</svg>\n", shown.count, open.count)
    }

    func run() throws {
        try reportingErrors {
            let overview = try RigOverview.read(try common.openRepository())
            let index = overview.index
            let (svg, shown, total) = Self.graph(index, readiness: overview.readiness, limit: limit)
            var page = """
                <!DOCTYPE html>
                <html lang="en"><head><meta charset="utf-8">
                <title>Rig \(Self.escaped(overview.name)): report</title>
                <style>
                body { font-family: sans-serif; margin: 2em; color: #222; }
                h1, h2 { font-weight: 600; }
                table { border-collapse: collapse; }
                td, th { padding: 2px 10px; text-align: left; border-bottom: 1px solid #ddd; }
                .legend span { display: inline-block; padding: 2px 8px; margin-right: 6px; border: 1px solid #333; }
                </style></head><body>
                <h1>Rig \(Self.escaped(overview.name))</h1>
                <p>\(Self.escaped(overview.target)) at \(Self.escaped(overview.tip)); generated \(Self.escaped(overview.now)).
                \(overview.open) open beads, \(overview.ready) ready; \(overview.workers.count) workers;
                \(overview.queue.count) merge requests queued.</p>
                <h2>Open beads and what blocks them</h2>
                <p class="legend"><span style="background:#d1e7dd">ready</span><span style="background:#cfe2ff">in progress</span><span style="background:#f8d7da">blocked</span><span style="background:#e9ecef">waiting on others</span>
                An arrow goes from a bead to one it blocks.\(shown < total ? " Showing \(shown) of \(total) (--limit)." : "")</p>

                """
            page += svg
            page += "<h2>Molecules</h2>\n"
            if overview.molecules.isEmpty { page += "<p>No open molecules.</p>\n" }
            for molecule in overview.molecules {
                let fraction = molecule.total == 0 ? 0 : Double(molecule.done) / Double(molecule.total)
                let filled = Int((fraction * 300).rounded())
                page +=
                    "<div class=\"molecule\" data-molecule=\"\(Self.escaped(molecule.id))\"><p><b>\(Self.escaped(molecule.id))</b> "
                    + "\(Self.escaped(molecule.title)): \(molecule.done) of \(molecule.total) steps</p>"
                    + "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"progress\" width=\"302\" height=\"16\">"
                    + "<rect x=\"1\" y=\"1\" width=\"300\" height=\"14\" fill=\"#e9ecef\" stroke=\"#333\"/>"
                    + "<rect class=\"done\" x=\"1\" y=\"1\" width=\"\(filled)\" height=\"14\" fill=\"#198754\"/></svg>\n"
                let steps = index.beads.values.filter {
                    $0.id.hasPrefix(molecule.id + ".") && $0.id.dropFirst(molecule.id.count + 1).allSatisfy(\.isNumber)
                }
                .sorted { $0.id.localizedStandardCompareNumbers($1.id) }
                page += "<table>\n"
                for step in steps {
                    page +=
                        "<tr><td>\(Self.escaped(step.id))</td><td>\(Self.escaped(step.status))</td>"
                        + "<td>\(Self.escaped(step.title))</td><td>\(Self.escaped(step.assignee))</td></tr>\n"
                }
                page += "</table></div>\n"
            }
            page += "</body></html>\n"
            do {
                try LocalFile.write(page, to: html)
            } catch {
                throw GasworksError(
                    .repository, "cannot write \(html): \((error as? LocalFile.Failure)?.reason ?? "\(error)")")
            }
            if !common.quiet {
                Console.out("wrote \(html): \(shown) beads in the graph, \(overview.molecules.count) molecules\n")
            }
        }
    }
}

extension String {
    /// Orders ids like `gw-a.2` before `gw-a.10`.
    func localizedStandardCompareNumbers(_ other: String) -> Bool {
        let a = split(separator: ".").map(String.init)
        let b = other.split(separator: ".").map(String.init)
        for (x, y) in zip(a, b) where x != y {
            if let i = Int(x), let j = Int(y) { return i < j }
            return x < y
        }
        return a.count < b.count
    }
}
