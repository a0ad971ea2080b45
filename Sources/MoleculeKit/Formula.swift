import BeadKit

/// A reusable workflow read from a `*.formula.toml` file, in Gas Town's formula language plus
/// Gasworks' `check` and `max_attempts` on steps.
public struct Formula: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case workflow, expansion, aspect, convoy
    }

    public var name: String
    public var description: String
    public var version: Int
    public var kind: Kind
    public var vars: [String: VarSpec]
    /// Declaration order of `vars`, for display.
    public var varOrder: [String]
    public var steps: [FormulaStep]
    public var extends: [String]
    public var compose: Compose
    /// Expansion formulas: the steps that replace a target step.
    public var template: [FormulaStep]
    /// Aspect formulas: steps inserted around the steps they match.
    public var advice: [Advice]
    public var pointcuts: [Pointcut]
    public var source: FormulaSource

    public struct VarSpec: Sendable, Equatable {
        public var description: String?
        public var required: Bool
        public var defaultValue: String?
        public var allowed: [String]?
        public var pattern: String?
    }

    public struct Compose: Sendable {
        public var aspects: [String] = []
        public var expand: [ExpandRule] = []
        public var map: [ExpandRule] = []
    }

    /// `[[compose.expand]]` (`target` is a step id) or `[[compose.map]]` (`target` is a glob).
    public struct ExpandRule: Sendable {
        public var target: String
        public var with: String
        public var vars: [String: String]
    }

    public struct Advice: Sendable {
        public var target: String
        public var before: [FormulaStep]
        public var after: [FormulaStep]
    }

    public struct Pointcut: Sendable {
        public var glob: String?
        public var type: String?
        public var label: String?
    }
}

/// One step as written in a formula (before cooking).
public struct FormulaStep: Sendable {
    public var id: String
    public var title: String?
    public var description: String?
    public var acceptance: String?
    public var needs: [String] = []
    public var type: String?
    public var priority: Int?
    public var labels: [String] = []
    public var assignee: String?
    public var condition: String?
    public var children: [FormulaStep] = []
    public var waitsFor: String?
    public var gate: Gate?
    public var loop: Loop?
    public var expand: String?
    public var expandVars: [String: String] = [:]
    public var checks: [Check] = []
    public var maxAttempts: Int?

    public init(id: String) { self.id = id }

    public struct Gate: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable { case human, timer, mail }
        public var kind: Kind
        /// Seconds: how long a timer gate waits, or how long a human or mail gate may wait
        /// before the overseer is told.
        public var timeout: Int?
        /// The address a mail gate writes to and waits for a reply from (default overseer).
        public var to: String?
        public var description: String?
    }

    public struct Loop: Sendable {
        public var count: Int?
        public var until: String?
        public var max: Int?
        public var range: String?
        public var variable: String?
        public var body: [FormulaStep]
    }
}

/// A command the witness runs to decide that a step is done: exit status 0 within `timeout`.
public struct Check: Sendable, Equatable {
    public var run: String
    public var timeout: Int

    public static let defaultTimeout = 600

    public init(run: String, timeout: Int = Check.defaultTimeout) {
        self.run = run
        self.timeout = timeout
    }

    public var json: JSONValue { .object(["run": .string(run), "timeout": .int(Int64(timeout))]) }
}

// MARK: - reading

extension Formula {
    static let topLevelKeys: Set<String> = [
        "formula", "description", "version", "type", "vars", "steps", "extends", "compose", "template", "advice",
        "pointcuts", "phase", "source", "requires_skills", "runbooks", "pour", "inputs", "prompts", "output", "legs",
        "synthesis", "aspects", "squash", "presets",
    ]

    /// Reads a formula's structure; references between steps are checked when it is cooked.
    public init(source: FormulaSource) throws {
        let reader = Reader(source: source)
        let top = source.document.objectValue ?? [:]
        self.source = source
        name = try reader.string(top["formula"], "formula") ?? Self.nameFromPath(source.path)
        description = try reader.string(top["description"], "description") ?? ""
        version = try reader.int(top["version"], "version") ?? 1
        guard version >= 1 else { throw reader.error("version must be at least 1", near: "version") }
        let typeText = try reader.string(top["type"], "type") ?? "workflow"
        guard let kind = Kind(rawValue: typeText) else {
            throw reader.error(
                "unknown formula type '\(typeText)' (expected \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))",
                near: "type")
        }
        self.kind = kind
        extends = try reader.strings(top["extends"], "extends")
        (vars, varOrder) = try reader.vars(top["vars"])
        steps = try reader.steps(top["steps"], context: "steps")
        template = try reader.steps(top["template"], context: "template")
        compose = try reader.compose(top["compose"])
        advice = try reader.advice(top["advice"])
        pointcuts = try reader.pointcuts(top["pointcuts"])
        switch kind {
        case .expansion where template.isEmpty:
            throw reader.error("expansion formula '\(name)' has no [[template]] steps", near: "type")
        case .aspect where advice.isEmpty:
            throw reader.error("aspect formula '\(name)' has no [[advice]]", near: "type")
        default: break
        }
    }

    static func nameFromPath(_ path: String) -> String {
        var base = String(path.split(separator: "/").last ?? "")
        for suffix in [".formula.toml", ".formula.json", ".toml", ".json"] where base.hasSuffix(suffix) {
            base.removeLast(suffix.count)
            break
        }
        return base
    }
}

/// Turns parsed values into formula parts, pointing errors at the file and line.
struct Reader {
    let source: FormulaSource

    func error(_ reason: String, near needle: String? = nil) -> FormulaError {
        FormulaError(path: source.path, line: needle.flatMap { source.line(of: $0) }, reason)
    }

    func string(_ value: JSONValue?, _ key: String) throws -> String? {
        switch value {
        case nil, .null: return nil
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        default: throw error("'\(key)' must be a string", near: key)
        }
    }

    func int(_ value: JSONValue?, _ key: String) throws -> Int? {
        switch value {
        case nil, .null: return nil
        case .int(let i): return Int(i)
        case .string(let s):
            guard let i = Int(s) else { throw error("'\(key)' must be an integer", near: key) }
            return i
        default: throw error("'\(key)' must be an integer", near: key)
        }
    }

    func bool(_ value: JSONValue?, _ key: String) throws -> Bool? {
        switch value {
        case nil, .null: return nil
        case .bool(let b): return b
        default: throw error("'\(key)' must be true or false", near: key)
        }
    }

    func strings(_ value: JSONValue?, _ key: String) throws -> [String] {
        switch value {
        case nil, .null: return []
        case .string(let s): return [s]
        case .array(let items):
            return try items.map { item in
                guard let s = item.stringValue else { throw error("'\(key)' must be a list of strings", near: key) }
                return s
            }
        default: throw error("'\(key)' must be a list of strings", near: key)
        }
    }

    func table(_ value: JSONValue?, _ key: String) throws -> [String: JSONValue]? {
        switch value {
        case nil, .null: return nil
        case .object(let o): return o
        default: throw error("'\(key)' must be a table", near: key)
        }
    }

    func tables(_ value: JSONValue?, _ key: String) throws -> [[String: JSONValue]] {
        switch value {
        case nil, .null: return []
        case .object(let o): return [o]
        case .array(let items):
            return try items.map { item in
                guard let o = item.objectValue else { throw error("'\(key)' must be an array of tables", near: key) }
                return o
            }
        default: throw error("'\(key)' must be an array of tables", near: key)
        }
    }

    func stringMap(_ value: JSONValue?, _ key: String) throws -> [String: String] {
        guard let table = try table(value, key) else { return [:] }
        var out: [String: String] = [:]
        for (name, value) in table { out[name] = try string(value, "\(key).\(name)") ?? "" }
        return out
    }

    func vars(_ value: JSONValue?) throws -> ([String: Formula.VarSpec], [String]) {
        guard let table = try table(value, "vars") else { return ([:], []) }
        var specs: [String: Formula.VarSpec] = [:]
        for (name, value) in table {
            guard Substitution.isIdentifier(name) else { throw error("invalid variable name '\(name)'", near: name) }
            switch value {
            case .string, .int, .bool:
                // The shorthand `name = "default"`.
                specs[name] = .init(required: false, defaultValue: try string(value, name))
            case .object(let fields):
                let spec = Formula.VarSpec(
                    description: try string(fields["description"], "\(name).description"),
                    required: try bool(fields["required"], "\(name).required") ?? false,
                    defaultValue: try string(fields["default"], "\(name).default"),
                    allowed: fields["enum"] == nil ? nil : try strings(fields["enum"], "\(name).enum"),
                    pattern: try string(fields["pattern"], "\(name).pattern"))
                if spec.required, spec.defaultValue != nil {
                    throw error("variable '\(name)' is required and has a default", near: "[vars.\(name)]")
                }
                if let pattern = spec.pattern, (try? Regex(pattern)) == nil {
                    throw error("variable '\(name)' has an invalid pattern '\(pattern)'", near: "pattern")
                }
                specs[name] = spec
            default:
                throw error("variable '\(name)' must be a string or a table", near: name)
            }
        }
        // Parsed tables keep no order: declaration order is the order of the lines.
        let lines = Dictionary(
            uniqueKeysWithValues: table.keys.map {
                ($0, source.line(of: "[vars.\($0)]") ?? source.line(of: "\($0) =") ?? 0)
            })
        let order = table.keys.sorted { (lines[$0]!, $0) < (lines[$1]!, $1) }
        return (specs, order)
    }

    static let stepKeys: Set<String> = [
        "id", "title", "description", "acceptance", "needs", "depends_on", "type", "priority", "labels", "assignee",
        "condition", "children", "waits_for", "gate", "loop", "expand", "expand_vars", "check", "max_attempts",
        "notes", "on_complete", "parallel", "requires_skills", "decision", "args", "output",
    ]

    func steps(_ value: JSONValue?, context: String) throws -> [FormulaStep] {
        try tables(value, context).map { try step($0, context: context) }
    }

    func step(_ fields: [String: JSONValue], context: String) throws -> FormulaStep {
        guard let id = try string(fields["id"], "id"), !id.isEmpty else {
            let title = try? string(fields["title"], "title")
            throw error("a step in \(context) has no id", near: title.map { "\"\($0)\"" })
        }
        let near = "\"\(id)\""
        if let unknown = fields.keys.first(where: { !Self.stepKeys.contains($0) }) {
            throw error("step '\(id)' has an unknown field '\(unknown)'", near: unknown)
        }
        var step = FormulaStep(id: id)
        step.title = try string(fields["title"], "title")
        step.description = try string(fields["description"], "description")
        step.acceptance = try string(fields["acceptance"], "acceptance")
        step.needs = try strings(fields["needs"], "needs") + strings(fields["depends_on"], "depends_on")
        step.type = try string(fields["type"], "type")
        step.priority = try int(fields["priority"], "priority")
        if let priority = step.priority, !(0...4).contains(priority) {
            throw error("step '\(id)' has priority \(priority) (expected 0-4)", near: near)
        }
        step.labels = try strings(fields["labels"], "labels")
        step.assignee = try string(fields["assignee"], "assignee")
        step.condition = try string(fields["condition"], "condition")
        if let condition = step.condition {
            do {
                _ = try Condition.parse(condition)
            } catch let reason as ConditionError {
                throw error("step '\(id)': \(reason.message)", near: condition)
            }
        }
        step.children = try steps(fields["children"], context: "children of '\(id)'")
        step.waitsFor = try string(fields["waits_for"], "waits_for")
        if let waits = step.waitsFor, WaitMode(waits) == nil {
            throw error(
                "step '\(id)' has waits_for '\(waits)' (expected all-children, any-children or children-of(<step>))",
                near: waits)
        }
        step.gate = try gate(fields["gate"], step: id)
        step.loop = try loop(fields["loop"], step: id)
        step.expand = try string(fields["expand"], "expand")
        step.expandVars = try stringMap(fields["expand_vars"], "expand_vars")
        step.checks = try checks(fields["check"], step: id)
        step.maxAttempts = try int(fields["max_attempts"], "max_attempts")
        if let attempts = step.maxAttempts, attempts < 1 {
            throw error("step '\(id)' has max_attempts \(attempts) (expected at least 1)", near: "max_attempts")
        }
        if step.title == nil, step.expand == nil, step.loop == nil, step.description == nil {
            throw error("step '\(id)' has no title", near: near)
        }
        return step
    }

    func gate(_ value: JSONValue?, step: String) throws -> FormulaStep.Gate? {
        guard let fields = try table(value, "gate") else { return nil }
        let typeText = try string(fields["type"], "gate.type") ?? "human"
        guard let kind = FormulaStep.Gate.Kind(rawValue: typeText) else {
            throw error(
                "step '\(step)' has gate type '\(typeText)' (expected human, timer or mail)", near: "\"\(typeText)\"")
        }
        let timeout = try fields["timeout"].map { try duration($0, "gate.timeout") }
        if kind == .timer, timeout == nil {
            throw error("step '\(step)' has a timer gate without a timeout", near: "\"timer\"")
        }
        return .init(
            kind: kind, timeout: timeout, to: try string(fields["to"], "gate.to"),
            description: try string(fields["description"], "gate.description"))
    }

    func loop(_ value: JSONValue?, step: String) throws -> FormulaStep.Loop? {
        guard let fields = try table(value, "loop") else { return nil }
        let loop = FormulaStep.Loop(
            count: try int(fields["count"], "loop.count"),
            until: try string(fields["until"], "loop.until"),
            max: try int(fields["max"], "loop.max"),
            range: try string(fields["range"], "loop.range"),
            variable: try string(fields["var"], "loop.var"),
            body: try steps(fields["body"], context: "the loop of '\(step)'"))
        let kinds = [loop.count != nil, loop.until != nil, loop.range != nil].filter { $0 }.count
        guard kinds == 1 else {
            throw error("the loop of step '\(step)' needs exactly one of count, until or range", near: "\"\(step)\"")
        }
        if loop.until != nil, loop.max == nil {
            throw error("the loop of step '\(step)' has until without max", near: "until")
        }
        if let count = loop.count, count < 1 { throw error("the loop of step '\(step)' has count \(count)") }
        if let until = loop.until {
            do {
                _ = try Condition.parse(until)
            } catch let reason as ConditionError {
                throw error("the loop of step '\(step)': \(reason.message)", near: "until")
            }
        }
        guard !loop.body.isEmpty else { throw error("the loop of step '\(step)' has no body", near: "\"\(step)\"") }
        return loop
    }

    /// `check = "cmd"`, `check = ["a", "b"]`, `check = { run = "cmd", timeout = "5m" }` or
    /// `[[steps.check]]` tables.
    func checks(_ value: JSONValue?, step: String) throws -> [Check] {
        func one(_ value: JSONValue) throws -> Check {
            switch value {
            case .string(let run):
                guard !run.allSatisfy(\.isWhitespace) else { throw error("step '\(step)' has an empty check") }
                return Check(run: run)
            case .object(let fields):
                guard let run = try string(fields["run"], "check.run"), !run.allSatisfy(\.isWhitespace) else {
                    throw error("a check of step '\(step)' has no 'run' command", near: "check")
                }
                if let unknown = fields.keys.first(where: { $0 != "run" && $0 != "timeout" }) {
                    throw error("a check of step '\(step)' has an unknown field '\(unknown)'", near: unknown)
                }
                return Check(run: run, timeout: try fields["timeout"].map { try duration($0, "check.timeout") } ?? 600)
            default:
                throw error("a check of step '\(step)' must be a command or a table", near: "check")
            }
        }
        switch value {
        case nil, .null: return []
        case .array(let items): return try items.map(one)
        case .some(let value): return [try one(value)]
        }
    }

    /// Seconds from an integer or a duration such as "90s", "5m", "1h30m".
    func duration(_ value: JSONValue, _ key: String) throws -> Int {
        if let seconds = value.intValue, seconds > 0 { return Int(seconds) }
        guard let text = value.stringValue, let seconds = Self.parseDuration(text), seconds > 0 else {
            throw error(
                "'\(key)' must be a duration such as 90s, 5m or 1h",
                near: key.split(separator: ".").last.map(String.init))
        }
        return seconds
    }

    static func parseDuration(_ text: String) -> Int? {
        if let seconds = Int(text) { return seconds }
        var total = 0
        var number = ""
        for character in text {
            if character.isNumber {
                number.append(character)
                continue
            }
            guard let value = Int(number) else { return nil }
            switch character {
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            case "d": total += value * 86400
            default: return nil
            }
            number = ""
        }
        return number.isEmpty ? total : nil
    }

    func compose(_ value: JSONValue?) throws -> Formula.Compose {
        guard let fields = try table(value, "compose") else { return .init() }
        func rules(_ key: String, targetKey: String) throws -> [Formula.ExpandRule] {
            try tables(fields[key], "compose.\(key)").map { rule in
                guard let target = try string(rule[targetKey], targetKey), let with = try string(rule["with"], "with")
                else { throw error("compose.\(key) needs '\(targetKey)' and 'with'", near: "compose.\(key)") }
                return .init(target: target, with: with, vars: try stringMap(rule["vars"], "vars"))
            }
        }
        return .init(
            aspects: try strings(fields["aspects"], "aspects"),
            expand: try rules("expand", targetKey: "target"),
            map: try rules("map", targetKey: "select"))
    }

    func advice(_ value: JSONValue?) throws -> [Formula.Advice] {
        try tables(value, "advice").map { rule in
            guard let target = try string(rule["target"], "target") else {
                throw error("an [[advice]] has no target", near: "[[advice]]")
            }
            var before = try adviceSteps(rule["before"], "before")
            var after = try adviceSteps(rule["after"], "after")
            if let around = try table(rule["around"], "around") {
                before += try adviceSteps(around["before"], "around.before")
                after += try adviceSteps(around["after"], "around.after")
            }
            guard !before.isEmpty || !after.isEmpty else {
                throw error("the advice for '\(target)' inserts no steps", near: "\"\(target)\"")
            }
            // An advice step's title defaults to its id.
            for index in before.indices where before[index].title == nil { before[index].title = before[index].id }
            for index in after.indices where after[index].title == nil { after[index].title = after[index].id }
            return .init(target: target, before: before, after: after)
        }
    }

    private func adviceSteps(_ value: JSONValue?, _ key: String) throws -> [FormulaStep] {
        try tables(value, key).map { fields in
            var fields = fields
            if fields["title"] == nil, let id = fields["id"] { fields["title"] = id }
            return try step(fields, context: "advice \(key)")
        }
    }

    func pointcuts(_ value: JSONValue?) throws -> [Formula.Pointcut] {
        try tables(value, "pointcuts").map { fields in
            .init(
                glob: try string(fields["glob"], "glob"), type: try string(fields["type"], "type"),
                label: try string(fields["label"], "label"))
        }
    }
}

/// How a step waits for the steps it needs.
public enum WaitMode: Sendable, Equatable {
    case all
    case any
    /// All children of the named container step.
    case childrenOf(String)

    public init?(_ text: String) {
        switch text {
        case "all-children", "all": self = .all
        case "any-children", "any": self = .any
        default:
            guard text.hasPrefix("children-of("), text.hasSuffix(")") else { return nil }
            let inner = text.dropFirst("children-of(".count).dropLast()
            guard !inner.isEmpty else { return nil }
            self = .childrenOf(String(inner))
        }
    }
}
