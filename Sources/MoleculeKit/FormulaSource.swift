import BeadKit

#if canImport(Glibc)
    import Glibc
#endif

/// A formula file as read from disk: its text, parsed into plain values, with the means to
/// point an error at the line it is about.
public struct FormulaSource: Sendable {
    public let path: String
    public let text: String
    public let document: JSONValue

    /// Parses TOML (`*.formula.toml`) or JSON (`*.formula.json`) text.
    public init(path: String, text: String) throws {
        self.path = path
        self.text = text
        if path.hasSuffix(".json") {
            do {
                document = try JSONValue.parse(text)
            } catch {
                throw FormulaError(path: path, line: nil, "not valid JSON")
            }
        } else {
            guard let parse = Self.tomlParser else {
                throw GasworksError(
                    .repository, "cannot read TOML formulas here: run the formula commands through gasworks-formula")
            }
            document = try parse(path, text)
        }
        guard document.objectValue != nil else { throw FormulaError(path: path, line: nil, "not a table") }
    }

    /// Turns TOML text into plain values, throwing `FormulaError` with the line of a syntax
    /// error. Set once at start-up by the executable that links a TOML library
    /// (`gasworks-formula`); nil elsewhere, which keeps Foundation out of the other tools.
    nonisolated(unsafe) public static var tomlParser: (@Sendable (_ path: String, _ text: String) throws -> JSONValue)?

    public static func read(path: String) throws -> FormulaSource {
        let bytes: [UInt8]
        do {
            bytes = try LocalFile.read(path)
        } catch {
            throw FormulaError(path: path, line: nil, "cannot read: \(error.reason)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw FormulaError(path: path, line: nil, "not UTF-8 text")
        }
        return try FormulaSource(path: path, text: text)
    }

    /// The first line on which `needle` appears (after `after`, when given): TOML values carry
    /// no positions once parsed, so errors about a value point at where its text is.
    public func line(of needle: String, after: String? = nil) -> Int? {
        var seen = after == nil
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if !seen {
                seen = line.contains(after!)
            } else if line.contains(needle) {
                return number + 1
            }
        }
        return nil
    }

    /// The line of a quoted value, e.g. a step id `"design"` used in `needs`.
    public func line(ofQuoted value: String) -> Int? { line(of: "\"\(value)\"") }
}

/// A formula that cannot be used: file, line where known, and one reason.
public struct FormulaError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var line: Int?
    public var reason: String
    /// Usage for variables given on the command line; bad data for the formula itself.
    public var kind: GasworksError.Kind

    public init(path: String, line: Int?, _ reason: String, kind: GasworksError.Kind = .badData) {
        self.path = path
        self.line = line
        self.reason = reason
        self.kind = kind
    }

    public var description: String { "\(path)\(line.map { ":\($0)" } ?? ""): \(reason)" }

    public var asGasworksError: GasworksError { GasworksError(kind, description) }
}
