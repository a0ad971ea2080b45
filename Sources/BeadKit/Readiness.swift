import GitKit

/// Beads' readiness rules over the index: which open work can start now, and why the
/// rest cannot.
public struct Readiness {
    public let beads: [String: BeadSummary]
    /// Now, as epoch seconds, for `defer_until`.
    public let now: Int64
    private var children: [String: [String]] = [:]

    public init(beads: [String: BeadSummary], now: Int64) {
        self.beads = beads
        self.now = now
        for summary in beads.values where !summary.deleted {
            if let parent = summary.parent { children[parent, default: []].append(summary.id) }
        }
    }

    static let blockingTypes: Set<String> = [DependencyType.blocks.rawValue, DependencyType.conditionalBlocks.rawValue]

    /// Ready beads, best first: priority, then age, then id.
    public func ready() -> [BeadSummary] {
        beads.values.filter(isReady).sorted(by: Self.bestFirst)
    }

    /// The same rules as `reasons(for:)`, answered without building any text.
    public func isReady(_ summary: BeadSummary) -> Bool {
        guard !summary.deleted, summary.status == BeadStatus.open.rawValue,
            !IssueTypes.internalTypes.contains(summary.type)
        else { return false }
        if !summary.deferUntil.isEmpty, let until = ISO8601.parse(summary.deferUntil), until > now { return false }
        return reasons(for: summary).isEmpty
    }

    public static func bestFirst(_ a: BeadSummary, _ b: BeadSummary) -> Bool {
        (a.priority, a.createdAt, a.id) < (b.priority, b.createdAt, b.id)
    }

    /// Beads that are not closed and have an open blocker, with those blockers.
    public func blocked() -> [(bead: BeadSummary, blockers: [String])] {
        beads.values.filter { !$0.deleted && $0.status != BeadStatus.closed.rawValue }
            .compactMap { summary in
                let open = openBlockers(of: summary)
                return open.isEmpty && summary.status != BeadStatus.blocked.rawValue ? nil : (summary, open)
            }
            .sorted { Self.bestFirst($0.bead, $1.bead) }
    }

    /// Why `summary` is not ready; empty when it is.
    public func reasons(for summary: BeadSummary) -> [String] {
        if summary.deleted { return ["deleted"] }
        var reasons: [String] = []
        if summary.status != BeadStatus.open.rawValue { reasons.append("status is \(summary.status)") }
        if IssueTypes.internalTypes.contains(summary.type) { reasons.append("type \(summary.type) is internal") }
        if !summary.deferUntil.isEmpty, let until = ISO8601.parse(summary.deferUntil), until > now {
            reasons.append("deferred until \(summary.deferUntil)")
        }
        for blocker in openBlockers(of: summary) {
            reasons.append("blocked by \(blocker) (\(beads[blocker]?.status ?? "?"))")
        }
        // A parent is done when its children are: it is not work to claim while they are open.
        let openChildren = (children[summary.id] ?? []).filter { beads[$0]?.status != BeadStatus.closed.rawValue }
        if !openChildren.isEmpty {
            reasons.append("has open children: \(openChildren.sorted().joined(separator: ", "))")
        }
        var seen: Set<String> = [summary.id]
        var ancestor = summary.parent
        while let id = ancestor, !seen.contains(id), let parent = beads[id] {
            seen.insert(id)
            if !openBlockers(of: parent).isEmpty
                || [BeadStatus.blocked.rawValue, BeadStatus.deferred.rawValue].contains(parent.status)
            {
                reasons.append("parent \(id) is blocked")
                break
            }
            ancestor = parent.parent
        }
        return reasons
    }

    /// Targets of blocks / conditional-blocks that are not closed, and waits-for gates
    /// whose target still has open children.
    public func openBlockers(of summary: BeadSummary) -> [String] {
        var open: [String] = []
        for dependency in summary.dependencies {
            if Self.blockingTypes.contains(dependency.type) {
                if let target = beads[dependency.target], !target.deleted, target.status != BeadStatus.closed.rawValue {
                    open.append(dependency.target)
                }
            } else if dependency.type == DependencyType.waitsFor.rawValue {
                let waiting = (children[dependency.target] ?? []).filter {
                    beads[$0]?.status != BeadStatus.closed.rawValue
                }
                if !waiting.isEmpty { open.append(dependency.target) }
            }
        }
        return open
    }
}

/// Dependency graph checks: blocking edges plus parent-child, child → parent.
public struct DependencyGraph {
    private var edges: [String: [String]] = [:]

    public init(_ beads: some Sequence<BeadSummary>) {
        for summary in beads where !summary.deleted {
            edges[summary.id] = summary.dependencies.filter { Self.isStructural($0.type) }.map(\.target)
        }
    }

    static func isStructural(_ type: String) -> Bool {
        DependencyType(rawValue: type).map { $0.isBlocking || $0 == .parentChild } ?? false
    }

    /// True when adding `from → to` would close a loop (`to` already reaches `from`).
    public func wouldCycle(from: String, to: String) -> Bool {
        if from == to { return true }
        var stack = [to]
        var seen: Set<String> = []
        while let node = stack.popLast() {
            if node == from { return true }
            guard seen.insert(node).inserted else { continue }
            stack.append(contentsOf: edges[node] ?? [])
        }
        return false
    }

    /// Every cycle, as the ids of one strongly connected component each (Tarjan).
    public func cycles() -> [[String]] {
        var index = 0
        var indices: [String: Int] = [:]
        var lowlink: [String: Int] = [:]
        var onStack: Set<String> = []
        var stack: [String] = []
        var found: [[String]] = []

        func connect(_ node: String) {
            indices[node] = index
            lowlink[node] = index
            index += 1
            stack.append(node)
            onStack.insert(node)
            for next in edges[node] ?? [] where edges[next] != nil {
                if indices[next] == nil {
                    connect(next)
                    lowlink[node] = min(lowlink[node]!, lowlink[next]!)
                } else if onStack.contains(next) {
                    lowlink[node] = min(lowlink[node]!, indices[next]!)
                }
            }
            if lowlink[node] == indices[node] {
                var component: [String] = []
                while let top = stack.popLast() {
                    onStack.remove(top)
                    component.append(top)
                    if top == node { break }
                }
                if component.count > 1 || (edges[node] ?? []).contains(node) { found.append(component.sorted()) }
            }
        }
        for node in edges.keys.sorted() where indices[node] == nil { connect(node) }
        return found.sorted { $0[0] < $1[0] }
    }
}
