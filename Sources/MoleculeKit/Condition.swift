import BeadKit

/// A step's `condition` (or a loop's `until`): `{{x}}`, `!{{x}}`, `{{x}} == v` or `{{x}} != v`,
/// where `x` is a formula variable or an output recorded by an earlier step
/// (`{{<step>.output.<key>}}`). Conditions on variables are decided when the formula is
/// cooked; conditions on outputs when the step would otherwise unlock.
public struct Condition: Sendable, Equatable {
    public enum Operand: Sendable, Equatable, Hashable {
        case variable(String)
        case output(step: String, key: String)
    }

    public enum Test: Sendable, Equatable {
        case truthy, falsy
        case equals(String)
        case notEquals(String)
    }

    public var operand: Operand
    public var test: Test
    public let text: String

    public static func parse(_ text: String) throws -> Condition {
        var rest = Substring(text.trimmingWhitespace())
        var negated = false
        if rest.hasPrefix("!") {
            negated = true
            rest = rest.dropFirst().trimmingPrefixWhitespace()
        }
        guard rest.hasPrefix("{{"), let close = rest.firstRange(of: "}}") else {
            throw ConditionError(message: "condition '\(text)' must start with {{name}}")
        }
        let name = String(rest[rest.index(rest.startIndex, offsetBy: 2)..<close.lowerBound]).trimmingWhitespace()
        let operand = try Self.operand(name, in: text)
        let tail = rest[close.upperBound...].trimmingPrefixWhitespace()
        if tail.isEmpty { return Condition(operand: operand, test: negated ? .falsy : .truthy, text: text) }
        guard !negated else {
            throw ConditionError(message: "condition '\(text)': '!' cannot be combined with a comparison")
        }
        for (symbol, isEqual) in [("==", true), ("!=", false)] where tail.hasPrefix(symbol) {
            var value = String(tail.dropFirst(2)).trimmingWhitespace()
            if value.count >= 2, let first = value.first, first == value.last, first == "'" || first == "\"" {
                value = String(value.dropFirst().dropLast())
            }
            return Condition(operand: operand, test: isEqual ? .equals(value) : .notEquals(value), text: text)
        }
        throw ConditionError(message: "condition '\(text)': expected == or != after {{\(name)}}")
    }

    static func operand(_ name: String, in text: String) throws -> Operand {
        if Substitution.isIdentifier(name) { return .variable(name) }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if let marker = parts.firstIndex(of: "output"), marker > 0, marker == parts.count - 2,
            !parts[parts.count - 1].isEmpty
        {
            return .output(step: parts[..<marker].joined(separator: "."), key: parts[parts.count - 1])
        }
        throw ConditionError(
            message: "condition '\(text)': '\(name)' is neither a variable nor <step>.output.<key>")
    }

    /// The condition's verdict, with `value` giving each operand's value (nil when unset).
    public func holds(_ value: (Operand) -> String?) -> Bool {
        let actual = value(operand)
        switch test {
        case .truthy: return Self.isTruthy(actual)
        case .falsy: return !Self.isTruthy(actual)
        case .equals(let expected): return (actual ?? "") == expected
        case .notEquals(let expected): return (actual ?? "") != expected
        }
    }

    public static func isTruthy(_ value: String?) -> Bool {
        guard let value else { return false }
        return !["", "false", "0", "no", "off"].contains(value.lowercased())
    }

    public var readsOutputs: Bool {
        if case .output = operand { return true }
        return false
    }
}

public struct ConditionError: Error, Sendable {
    public var message: String
}

/// `{{name}}` substitution of formula variables.
public enum Substitution {
    public static func isIdentifier(_ text: some StringProtocol) -> Bool {
        guard let first = text.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return text.unicodeScalars.allSatisfy {
            $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
        }
    }

    /// Replaces every `{{name}}` with its value; a name with no value is reported through
    /// `unknown` and left in place. `{{step.output.key}}` forms are left for conditions.
    public static func apply(
        _ text: String, values: [String: String], shell: Bool = false, unknown: (String) -> Void
    ) -> String {
        guard text.contains("{{") else { return text }
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstRange(of: "{{") {
            out += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            guard let close = after.firstRange(of: "}}") else {
                out += rest[open.lowerBound...]
                return out
            }
            let name = String(after[..<close.lowerBound]).trimmingWhitespace()
            if isIdentifier(name) {
                if let value = values[name] {
                    // In a shell command a value is data, never code: quoted for where it stands.
                    out += shell ? ShellQuoting.quote(value, in: ShellQuoting.state(after: out)) : value
                } else {
                    unknown(name)
                    out += rest[open.lowerBound..<close.upperBound]
                }
            } else {
                out += rest[open.lowerBound..<close.upperBound]
            }
            rest = after[close.upperBound...]
        }
        return out + rest
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    func trimmingPrefixWhitespace() -> Substring { Substring(self).drop(while: \.isWhitespace) }
}
