import BeadKit

/// One step of a cooked formula: every step of the flat graph a molecule is poured from.
public struct CookedStep: Sendable {
    public enum Kind: String, Sendable {
        /// Work for an agent, done when the witness passes its checks (or it is approved).
        case work
        /// A gate: human approval, a timer, or a reply by mail.
        case gate
        /// Closes by itself once the steps it waits for are done (a container of children).
        case join
    }

    public var key: String
    public var title: String
    public var description: String
    public var acceptance: String?
    public var needs: [String]
    /// Unlocks when any (rather than all) of `needs` is done.
    public var needsAny = false
    public var kind: Kind = .work
    public var type: String?
    public var priority: Int?
    public var labels: [String] = []
    public var assignee: String?
    /// Decided when the step would unlock: conditions on outputs of earlier steps.
    public var conditions: [Condition] = []
    public var gate: FormulaStep.Gate?
    public var checks: [Check] = []
    public var maxAttempts: Int?
    /// The formula the step came from (the poured one, a parent, an aspect or an expansion).
    public var origin: String

    // Not yet applied while cooking.
    var loop: FormulaStep.Loop?
    var expand: String?
    var expandVars: [String: String] = [:]
    var varConditions: [Condition] = []
    /// `waits_for = "children-of(x)"`, resolved once the graph is flat.
    var waitsOn: String?
    /// Skipped when any of these is skipped: an `until` loop's later iterations stop together.
    public var skipWith: [String] = []
}

/// A formula resolved into its flat step graph, ready to pour.
public struct CookedFormula: Sendable {
    public var name: String
    public var version: Int
    public var description: String
    public var vars: [(name: String, value: String)]
    public var steps: [CookedStep]
    /// Every file that contributed, the poured formula first.
    public var sources: [String]

    public static let defaultMaxAttempts = 3
}

/// Resolves extends, loops, children, expansions, aspects, conditions and `{{vars}}`.
public struct Cook {
    public let library: FormulaLibrary

    public init(library: FormulaLibrary) { self.library = library }

    /// Cooks `formula` with the given variable values. Every error names the file (and the
    /// line where it is known) and happens before anything is written.
    /// With `placeholders`, a required variable left unset is cooked as `<name>` (validation).
    public func cook(_ formula: Formula, vars given: [String: String], placeholders: Bool = false) throws
        -> CookedFormula
    {
        do {
            return try cookUnchecked(formula, vars: given, placeholders: placeholders)
        } catch let error as FormulaError {
            throw error.asGasworksError
        }
    }

    public func cook(named name: String, vars: [String: String]) throws -> CookedFormula {
        try cook(try library.formula(named: name), vars: vars)
    }

    func load(_ name: String, from formula: Formula) throws -> Formula {
        do {
            return try library.formula(named: name)
        } catch let error as GasworksError where error.kind == .notFound {
            throw FormulaError(
                path: formula.source.path, line: formula.source.line(ofQuoted: name), "unknown formula '\(name)'")
        }
    }

    private func cookUnchecked(_ formula: Formula, vars given: [String: String], placeholders: Bool) throws
        -> CookedFormula
    {
        guard formula.kind == .workflow || formula.kind == .convoy else {
            throw FormulaError(
                path: formula.source.path, line: formula.source.line(of: "type"),
                "'\(formula.name)' is an \(formula.kind.rawValue) formula: it is applied by other formulas, not poured")
        }
        var sources = [formula.source.path]
        let resolved = try resolveExtends(formula, chain: [formula.name], sources: &sources)
        var given = given
        if placeholders {
            for (name, spec) in resolved.vars where spec.required && given[name] == nil {
                given[name] = spec.allowed?.first ?? "<\(name)>"
            }
        }
        let values = try bindVars(resolved, given: given)

        var steps = try flatten(resolved.steps, origin: resolved, inheritedNeeds: [])
        steps = try unrollLoops(steps, origin: resolved, values: values)
        steps = try applyExpansions(steps, formula: resolved, sources: &sources)
        for aspectName in resolved.compose.aspects {
            let aspect = try load(aspectName, from: resolved)
            guard aspect.kind == .aspect else {
                throw FormulaError(
                    path: resolved.source.path, line: resolved.source.line(ofQuoted: aspectName),
                    "'\(aspectName)' is not an aspect formula (it is \(aspect.kind.rawValue))")
            }
            sources.append(aspect.source.path)
            steps = try applyAdvice(aspect, to: steps)
        }
        if !resolved.advice.isEmpty { steps = try applyAdvice(resolved, to: steps) }
        steps = try substitute(steps, values: values, formula: resolved)
        steps = dropFalseConditions(steps, values: values)
        try validateGraph(&steps, formula: resolved)
        var unknown: [String] = []
        let description = Substitution.apply(resolved.description, values: values) { unknown.append($0) }
        return CookedFormula(
            name: resolved.name, version: resolved.version, description: description,
            vars: resolved.varOrder.compactMap { name in values[name].map { (name, $0) } }, steps: steps,
            sources: sources)
    }

    // MARK: extends

    func resolveExtends(_ formula: Formula, chain: [String], sources: inout [String]) throws -> Formula {
        guard !formula.extends.isEmpty else { return formula }
        var merged = formula
        merged.steps = []
        merged.vars = [:]
        merged.varOrder = []
        var compose = Formula.Compose()
        for parentName in formula.extends {
            if chain.contains(parentName) {
                throw FormulaError(
                    path: formula.source.path, line: formula.source.line(ofQuoted: parentName),
                    "circular extends: \((chain + [parentName]).joined(separator: " → "))")
            }
            let parent = try resolveExtends(
                try load(parentName, from: formula), chain: chain + [parentName], sources: &sources)
            sources.append(parent.source.path)
            for name in parent.varOrder where merged.vars[name] == nil {
                merged.vars[name] = parent.vars[name]
                merged.varOrder.append(name)
            }
            merged.steps = Self.mergeSteps(merged.steps, parent.steps)
            compose.aspects += parent.compose.aspects
            compose.expand += parent.compose.expand
            compose.map += parent.compose.map
            merged.advice += parent.advice
            if merged.description.isEmpty { merged.description = parent.description }
        }
        for name in formula.varOrder {
            if merged.vars[name] == nil { merged.varOrder.append(name) }
            merged.vars[name] = formula.vars[name]
        }
        merged.steps = Self.mergeSteps(merged.steps, formula.steps)
        compose.aspects += formula.compose.aspects
        compose.expand += formula.compose.expand
        compose.map += formula.compose.map
        var seen = Set<String>()
        compose.aspects = compose.aspects.filter { seen.insert($0).inserted }
        merged.compose = compose
        merged.advice += formula.advice
        return merged
    }

    /// A step with a parent's id replaces it in place; new steps are appended.
    static func mergeSteps(_ base: [FormulaStep], _ overrides: [FormulaStep]) -> [FormulaStep] {
        var result = base
        for step in overrides {
            if let index = result.firstIndex(where: { $0.id == step.id }) {
                result[index] = step
            } else {
                result.append(step)
            }
        }
        return result
    }

    // MARK: vars

    func bindVars(_ formula: Formula, given: [String: String]) throws -> [String: String] {
        let path = formula.source.path
        for name in given.keys.sorted() where formula.vars[name] == nil {
            let known = formula.varOrder.isEmpty ? "it has none" : "known: \(formula.varOrder.joined(separator: ", "))"
            throw FormulaError(
                path: path, line: nil, "unknown variable '\(name)' for formula '\(formula.name)' (\(known))",
                kind: .usage)
        }
        var values: [String: String] = [:]
        for name in formula.varOrder {
            let spec = formula.vars[name]!
            guard let value = given[name] ?? spec.defaultValue else {
                if spec.required {
                    throw FormulaError(
                        path: path, line: formula.source.line(of: "[vars.\(name)]"),
                        "missing required variable '\(name)' (pass --var \(name)=…)", kind: .usage)
                }
                continue
            }
            if let allowed = spec.allowed, !allowed.contains(value) {
                throw FormulaError(
                    path: path, line: formula.source.line(of: "[vars.\(name)]"),
                    "variable '\(name)' is '\(value)' (expected one of \(allowed.joined(separator: ", ")))",
                    kind: .usage)
            }
            if let pattern = spec.pattern, value != "<\(name)>", let regex = try? Regex(pattern),
                (try? regex.wholeMatch(in: value)) == nil
            {
                throw FormulaError(
                    path: path, line: formula.source.line(of: "[vars.\(name)]"),
                    "variable '\(name)' is '\(value)', which does not match \(pattern)", kind: .usage)
            }
            values[name] = value
        }
        return values
    }

    // MARK: children

    /// Children run side by side once their container's needs are done; the container
    /// becomes a join that waits for all (or any) of them.
    func flatten(_ steps: [FormulaStep], origin: Formula, inheritedNeeds: [String], conditions: [String] = [])
        throws -> [CookedStep]
    {
        var out: [CookedStep] = []
        for step in steps {
            var stepConditions = conditions
            if let condition = step.condition { stepConditions.append(condition) }
            if !step.children.isEmpty {
                let children = try flatten(
                    step.children, origin: origin, inheritedNeeds: inheritedNeeds + step.needs,
                    conditions: stepConditions)
                out += children
                var join = try cooked(step, origin: origin, conditions: stepConditions)
                join.needs = step.children.map(\.id)
                join.kind = .join
                join.needsAny = WaitMode(step.waitsFor ?? "all-children") == .any
                out.append(join)
            } else {
                var flat = try cooked(step, origin: origin, conditions: stepConditions)
                flat.needs = inheritedNeeds + step.needs
                if let body = step.loop?.body {
                    flat.loop?.body = body
                }
                out.append(flat)
            }
        }
        return out
    }

    func cooked(_ step: FormulaStep, origin: Formula, conditions: [String]) throws -> CookedStep {
        var cooked = CookedStep(
            key: step.id, title: step.title ?? step.id, description: step.description ?? "",
            acceptance: step.acceptance, needs: step.needs, type: step.type, priority: step.priority,
            labels: step.labels, assignee: step.assignee, gate: step.gate, checks: step.checks,
            maxAttempts: step.maxAttempts, origin: origin.name)
        if step.gate != nil { cooked.kind = .gate }
        if let waits = step.waitsFor, let mode = WaitMode(waits), step.children.isEmpty {
            cooked.needsAny = mode == .any
            if case .childrenOf(let container) = mode { cooked.waitsOn = container }
        }
        cooked.loop = step.loop
        cooked.expand = step.expand
        cooked.expandVars = step.expandVars
        for text in conditions {
            let condition = try Condition.parse(text)
            if condition.readsOutputs {
                cooked.conditions.append(condition)
            } else {
                cooked.varConditions.append(condition)
            }
        }
        return cooked
    }

    // MARK: loops

    /// A loop step becomes its body repeated: `<loop>.iter<N>.<body step>`. Each iteration
    /// starts after the previous one; an `until` loop repeats up to `max` times, each
    /// repetition skipped once `until` holds for the iteration before it.
    func unrollLoops(_ steps: [CookedStep], origin: Formula, values: [String: String] = [:]) throws -> [CookedStep] {
        var result: [CookedStep] = []
        var replaced: [String: [String]] = [:]
        for step in steps {
            guard let loop = step.loop else {
                result.append(step)
                continue
            }
            let iterations: [String?]
            if let count = loop.count {
                iterations = Array(repeating: nil, count: count)
            } else if let written = loop.range {
                let range = Substitution.apply(written, values: values) { _ in }
                guard let bounds = RangeExpression.evaluate(range), bounds.lowerBound <= bounds.upperBound else {
                    throw FormulaError(
                        path: origin.source.path, line: origin.source.line(of: range),
                        "the loop of step '\(step.key)' has an invalid range '\(range)' (expected <start>..<end>)")
                }
                iterations = bounds.map { String($0) }
            } else {
                iterations = Array(repeating: nil, count: loop.max ?? 1)
            }
            var body = try flatten(loop.body, origin: origin, inheritedNeeds: [])
            body = try unrollLoops(body, origin: origin, values: values)
            let bodyKeys = Set(body.map(\.key))
            var previousLeaves: [String] = []
            var previousMap: [String: String] = [:]
            for (index, value) in iterations.enumerated() {
                let prefix = "\(step.key).iter\(index + 1)."
                var map: [String: String] = [:]
                for item in body { map[item.key] = prefix + item.key }
                var copies: [CookedStep] = []
                for var item in body {
                    item.key = map[item.key]!
                    let inside = item.needs.filter { bodyKeys.contains($0) }
                    item.needs = item.needs.map { map[$0] ?? $0 }
                    if inside.isEmpty { item.needs = (index == 0 ? step.needs : previousLeaves) + item.needs }
                    item.conditions = item.conditions.map { Self.rename($0, map) } + step.conditions
                    item.varConditions += step.varConditions
                    if let variable = loop.variable, let value {
                        item.title = item.title.replacingOccurrences("{\(variable)}", with: value)
                        item.description = item.description.replacingOccurrences("{\(variable)}", with: value)
                    }
                    if let until = loop.until, index > 0 {
                        item.conditions.append(Self.rename(try Condition.parse(until), previousMap).negated)
                        item.skipWith = previousLeaves
                    }
                    copies.append(item)
                }
                let needed = Set(copies.flatMap(\.needs))
                previousLeaves = copies.map(\.key).filter { !needed.contains($0) }
                previousMap = map
                result += copies
            }
            replaced[step.key] = previousLeaves
        }
        return Self.rewire(result, replaced: replaced)
    }

    static func rename(_ condition: Condition, _ map: [String: String]) -> Condition {
        guard case .output(let step, let key) = condition.operand, let renamed = map[step] else { return condition }
        var copy = condition
        copy.operand = .output(step: renamed, key: key)
        return copy
    }

    /// Points every need of a replaced step at the steps that now stand for it.
    static func rewire(_ steps: [CookedStep], replaced: [String: [String]]) -> [CookedStep] {
        guard !replaced.isEmpty else { return steps }
        return steps.map { step in
            var step = step
            var needs: [String] = []
            for need in step.needs {
                for target in replaced[need] ?? [need] where !needs.contains(target) { needs.append(target) }
            }
            step.needs = needs
            return step
        }
    }

    // MARK: expansions

    /// `expand` on a step, `[[compose.expand]]` and `[[compose.map]]`: the target is replaced
    /// by the expansion's template; the template's first steps take the target's needs and
    /// whatever needed the target needs the template's last steps.
    func applyExpansions(_ steps: [CookedStep], formula: Formula, sources: inout [String]) throws -> [CookedStep] {
        var rules: [(target: String, glob: Bool, with: String, vars: [String: String])] = []
        for step in steps where step.expand != nil {
            rules.append((step.key, false, step.expand!, step.expandVars))
        }
        for rule in formula.compose.expand {
            guard steps.contains(where: { $0.key == rule.target }) else {
                throw FormulaError(
                    path: formula.source.path, line: formula.source.line(ofQuoted: rule.target),
                    "compose.expand targets unknown step '\(rule.target)'")
            }
            rules.append((rule.target, false, rule.with, rule.vars))
        }
        for rule in formula.compose.map { rules.append((rule.target, true, rule.with, rule.vars)) }
        guard !rules.isEmpty else { return steps }

        var current = steps
        var expanded = Set<String>()
        for rule in rules {
            let expansion = try load(rule.with, from: formula)
            guard expansion.kind == .expansion else {
                throw FormulaError(
                    path: formula.source.path, line: formula.source.line(ofQuoted: rule.with),
                    "'\(rule.with)' is not an expansion formula (it is \(expansion.kind.rawValue))")
            }
            if !sources.contains(expansion.source.path) { sources.append(expansion.source.path) }
            let targets = current.map(\.key).filter { key in
                !expanded.contains(key) && (rule.glob ? Glob.matches(rule.target, key) : key == rule.target)
            }
            for targetKey in targets {
                guard let index = current.firstIndex(where: { $0.key == targetKey }) else { continue }
                let target = current[index]
                var values: [String: String] = [:]
                for (name, spec) in expansion.vars { if let value = spec.defaultValue { values[name] = value } }
                values.merge(rule.vars) { $1 }
                var template = try flatten(
                    try expansion.template.map { try Self.instantiate($0, target: target, values: values) },
                    origin: expansion, inheritedNeeds: [])
                template = try unrollLoops(template, origin: expansion)
                let keys = Set(template.map(\.key))
                let needed = Set(template.flatMap(\.needs))
                var leaves = template.map(\.key).filter { !needed.contains($0) }
                if leaves.isEmpty { leaves = [template.last!.key] }
                for position in template.indices {
                    if template[position].needs.allSatisfy({ !keys.contains($0) }) {
                        template[position].needs = target.needs + template[position].needs
                    }
                    template[position].varConditions += target.varConditions
                    template[position].conditions += target.conditions
                    if leaves.contains(template[position].key), template[position].checks.isEmpty {
                        template[position].checks = target.checks
                        template[position].maxAttempts = template[position].maxAttempts ?? target.maxAttempts
                    }
                }
                expanded.formUnion(keys)
                current.replaceSubrange(index...index, with: template)
                current = Self.rewire(current, replaced: [targetKey: leaves])
            }
        }
        return current
    }

    /// `{target}`, `{target.id}`, `{target.title}`, `{target.description}` and the expansion's
    /// own `{var}`s in a template step.
    static func instantiate(_ step: FormulaStep, target: CookedStep, values: [String: String]) throws -> FormulaStep {
        func fill(_ text: String) -> String {
            var text = text.replacingOccurrences("{target.id}", with: target.key)
                .replacingOccurrences("{target.title}", with: target.title)
                .replacingOccurrences("{target.description}", with: target.description)
                .replacingOccurrences("{target}", with: target.key)
            for (name, value) in values { text = text.replacingOccurrences("{\(name)}", with: value) }
            return text
        }
        var copy = step
        copy.id = fill(step.id)
        copy.title = step.title.map(fill)
        copy.description = step.description.map(fill)
        copy.acceptance = step.acceptance.map(fill)
        copy.needs = step.needs.map(fill)
        copy.labels = step.labels.map(fill)
        copy.children = try step.children.map { try instantiate($0, target: target, values: values) }
        return copy
    }

    // MARK: aspects

    /// Inserts an aspect's advice around every step it matches: the `before` steps take the
    /// step's needs and the step needs the last of them; the `after` steps follow the step
    /// and whatever needed the step needs the last of them.
    func applyAdvice(_ aspect: Formula, to steps: [CookedStep]) throws -> [CookedStep] {
        var current = steps
        let original = steps.map(\.key)
        for rule in aspect.advice {
            for key in original where Glob.matches(rule.target, key) {
                guard let index = current.firstIndex(where: { $0.key == key }) else { continue }
                let target = current[index]
                guard aspect.pointcuts.isEmpty || aspect.pointcuts.contains(where: { Self.matches($0, target) }) else {
                    continue
                }
                func fill(_ step: FormulaStep) throws -> CookedStep {
                    var copy = step
                    func replace(_ text: String) -> String {
                        text.replacingOccurrences("{step.id}", with: target.key)
                            .replacingOccurrences("{step.title}", with: target.title)
                    }
                    copy.id = replace(step.id)
                    copy.title = step.title.map(replace)
                    copy.description = step.description.map(replace)
                    copy.acceptance = step.acceptance.map(replace)
                    var cooked = try self.cooked(copy, origin: aspect, conditions: [])
                    cooked.conditions = target.conditions
                    cooked.varConditions = target.varConditions
                    return cooked
                }
                var before = try rule.before.map(fill)
                var after = try rule.after.map(fill)
                for position in before.indices {
                    before[position].needs = position == 0 ? target.needs : [before[position - 1].key]
                }
                for position in after.indices {
                    after[position].needs = [position == 0 ? target.key : after[position - 1].key]
                }
                var updated = target
                if let last = before.last { updated.needs = [last.key] }
                current[index] = updated
                if let last = after.last {
                    let afterKeys = Set(after.map(\.key))
                    current = current.map { step in
                        guard !afterKeys.contains(step.key), step.needs.contains(key) else { return step }
                        var step = step
                        step.needs = step.needs.map { $0 == key ? last.key : $0 }
                        return step
                    }
                }
                current.replaceSubrange(index...index, with: before + [current[index]] + after)
            }
        }
        return current
    }

    static func matches(_ pointcut: Formula.Pointcut, _ step: CookedStep) -> Bool {
        if let glob = pointcut.glob, !Glob.matches(glob, step.key) { return false }
        if let type = pointcut.type, step.type != type { return false }
        if let label = pointcut.label, !step.labels.contains(label) { return false }
        return true
    }

    // MARK: variables and conditions

    func substitute(_ steps: [CookedStep], values: [String: String], formula: Formula) throws -> [CookedStep] {
        var unknown: String?
        func fill(_ text: String) -> String {
            Substitution.apply(text, values: values) { name in if unknown == nil { unknown = name } }
        }
        let result = steps.map { step in
            var step = step
            step.key = fill(step.key)
            step.needs = step.needs.map(fill)
            step.title = fill(step.title)
            step.description = fill(step.description)
            step.acceptance = step.acceptance.map(fill)
            step.labels = step.labels.map(fill)
            step.assignee = step.assignee.map(fill)
            step.checks = step.checks.map { check in
                Check(
                    run: Substitution.apply(check.run, values: values, shell: true) { name in
                        if unknown == nil { unknown = name }
                    }, timeout: check.timeout)
            }
            if var gate = step.gate {
                gate.to = gate.to.map(fill)
                gate.description = gate.description.map(fill)
                step.gate = gate
            }
            return step
        }
        for step in result {
            for condition in step.varConditions + step.conditions {
                if case .variable(let name) = condition.operand, formula.vars[name] == nil, unknown == nil {
                    unknown = name
                }
            }
        }
        if let unknown {
            throw FormulaError(
                path: formula.source.path, line: formula.source.line(of: "{{\(unknown)}}"),
                "unknown variable '{{\(unknown)}}' (not declared in [vars])")
        }
        return result
    }

    /// Drops steps whose variable conditions are false; whatever needed a dropped step needs
    /// what it needed instead.
    func dropFalseConditions(_ steps: [CookedStep], values: [String: String]) -> [CookedStep] {
        var dropped: [String: [String]] = [:]
        var kept: [CookedStep] = []
        for step in steps {
            let holds = step.varConditions.allSatisfy { condition in
                condition.holds { operand in
                    if case .variable(let name) = operand { return values[name] }
                    return nil
                }
            }
            if holds { kept.append(step) } else { dropped[step.key] = step.needs }
        }
        guard !dropped.isEmpty else { return steps }
        func resolve(_ key: String, depth: Int = 0) -> [String] {
            guard let needs = dropped[key], depth < 10_000 else { return [key] }
            return needs.flatMap { resolve($0, depth: depth + 1) }
        }
        return kept.map { step in
            var step = step
            var needs: [String] = []
            for need in step.needs.flatMap({ resolve($0) }) where !needs.contains(need) { needs.append(need) }
            step.needs = needs
            return step
        }
    }

    // MARK: graph

    func validateGraph(_ steps: inout [CookedStep], formula: Formula) throws {
        let path = formula.source.path
        var index: [String: Int] = [:]
        for (position, step) in steps.enumerated() {
            if index[step.key] != nil {
                throw FormulaError(
                    path: path, line: formula.source.line(ofQuoted: step.key), "duplicate step id '\(step.key)'")
            }
            index[step.key] = position
        }
        // waits_for = "children-of(x)": the children of container x.
        for position in steps.indices {
            guard let container = steps[position].waitsOn else { continue }
            guard let target = index[container], steps[target].kind == .join else {
                throw FormulaError(
                    path: path, line: formula.source.line(of: container),
                    "step '\(steps[position].key)' waits for children of '\(container)', which has no children")
            }
            steps[position].needs = steps[target].needs + steps[position].needs.filter { $0 != container }
        }
        for step in steps {
            for need in step.needs where index[need] == nil {
                throw FormulaError(
                    path: path, line: formula.source.line(ofQuoted: need),
                    "step '\(step.key)' needs unknown step '\(need)'")
            }
            for condition in step.conditions {
                if case .output(let source, _) = condition.operand, index[source] == nil {
                    throw FormulaError(
                        path: path, line: formula.source.line(of: condition.text),
                        "step '\(step.key)' has a condition on unknown step '\(source)'")
                }
            }
        }
        // A condition on an output is decided after the step that records it.
        for position in steps.indices {
            for condition in steps[position].conditions {
                guard case .output(let source, _) = condition.operand else { continue }
                if !Self.reaches(steps, index: index, from: steps[position].key, to: source) {
                    steps[position].needs.append(source)
                }
            }
        }
        if let cycle = Self.findCycle(steps, index: index) {
            throw FormulaError(
                path: path, line: formula.source.line(ofQuoted: cycle[0]),
                "steps form a cycle: \(cycle.joined(separator: " → "))")
        }
    }

    static func reaches(_ steps: [CookedStep], index: [String: Int], from: String, to: String) -> Bool {
        var stack = [from]
        var seen: Set<String> = [from]
        while let key = stack.popLast() {
            for need in steps[index[key]!].needs {
                if need == to { return true }
                if seen.insert(need).inserted { stack.append(need) }
            }
        }
        return false
    }

    /// One cycle in the needs graph, as the keys along it (first repeated at the end).
    static func findCycle(_ steps: [CookedStep], index: [String: Int]) -> [String]? {
        var state = [UInt8](repeating: 0, count: steps.count)  // 0 new, 1 on path, 2 done
        for start in steps.indices where state[start] == 0 {
            var path: [(Int, Int)] = [(start, 0)]
            state[start] = 1
            while let (node, next) = path.last {
                let needs = steps[node].needs
                if next < needs.count {
                    path[path.count - 1].1 += 1
                    let target = index[needs[next]]!
                    if state[target] == 1 {
                        let keys = path.map { steps[$0.0].key }
                        let from = keys.firstIndex(of: steps[target].key)!
                        return Array(keys[from...]) + [steps[target].key]
                    }
                    if state[target] == 0 {
                        state[target] = 1
                        path.append((target, 0))
                    }
                } else {
                    state[node] = 2
                    path.removeLast()
                }
            }
        }
        return nil
    }
}

extension Condition {
    var negated: Condition {
        var copy = self
        switch test {
        case .truthy: copy.test = .falsy
        case .falsy: copy.test = .truthy
        case .equals(let value): copy.test = .notEquals(value)
        case .notEquals(let value): copy.test = .equals(value)
        }
        return copy
    }
}

/// Gas Town's step globs: `*` within one id, `prefix.*`, `*.suffix`, or an exact id.
enum Glob {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        if pattern == "*" { return true }
        guard pattern.contains("*") || pattern.contains("?") else { return pattern == text }
        return match(Array(pattern.unicodeScalars), 0, Array(text.unicodeScalars), 0)
    }

    private static func match(_ p: [Unicode.Scalar], _ i: Int, _ t: [Unicode.Scalar], _ j: Int) -> Bool {
        if i == p.count { return j == t.count }
        switch p[i] {
        case "*":
            var k = j
            while true {
                if match(p, i + 1, t, k) { return true }
                if k == t.count { return false }
                k += 1
            }
        case "?": return j < t.count && match(p, i + 1, t, j + 1)
        default: return j < t.count && p[i] == t[j] && match(p, i + 1, t, j + 1)
        }
    }
}

/// `start..end` with integer arithmetic (`+ - * /` and parentheses) on each side.
enum RangeExpression {
    static func evaluate(_ text: String) -> ClosedRange<Int>? {
        let parts = text.components(separatedBy: "..")
        guard parts.count == 2, let low = arithmetic(parts[0]), let high = arithmetic(parts[1]), low <= high else {
            return nil
        }
        return low...high
    }

    static func arithmetic(_ text: String) -> Int? {
        let tokens = Array(text.filter { !$0.isWhitespace })
        var position = 0
        func peek() -> Character? { position < tokens.count ? tokens[position] : nil }
        func number() -> Int? {
            if peek() == "(" {
                position += 1
                let value = sum()
                guard peek() == ")" else { return nil }
                position += 1
                return value
            }
            if peek() == "-" {
                position += 1
                return number().map { -$0 }
            }
            var digits = ""
            while let c = peek(), c.isNumber {
                digits.append(c)
                position += 1
            }
            return Int(digits)
        }
        func product() -> Int? {
            guard var value = number() else { return nil }
            while let op = peek(), op == "*" || op == "/" {
                position += 1
                guard let rhs = number(), op == "*" || rhs != 0 else { return nil }
                value = op == "*" ? value * rhs : value / rhs
            }
            return value
        }
        func sum() -> Int? {
            guard var value = product() else { return nil }
            while let op = peek(), op == "+" || op == "-" {
                position += 1
                guard let rhs = product() else { return nil }
                value = op == "+" ? value + rhs : value - rhs
            }
            return value
        }
        let value = sum()
        return position == tokens.count ? value : nil
    }
}

extension String {
    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        return components(separatedBy: target).joined(separator: replacement)
    }

    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
