import BeadKit
import TOMLKit

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
            do {
                document = .object(Self.convert(try TOMLTable(string: text)))
            } catch let error as TOMLParseError {
                throw FormulaError(path: path, line: error.source.begin.line, "invalid TOML: \(error.description)")
            }
        }
        guard document.objectValue != nil else { throw FormulaError(path: path, line: nil, "not a table") }
    }

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

    static func convert(_ table: TOMLTable) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for (key, value) in table { out[key] = convert(value) }
        return out
    }

    static func convert(_ value: TOMLValueConvertible) -> JSONValue {
        switch value.type {
        case .table: return .object(convert(value.table!))
        case .array: return .array(value.array!.map { convert($0) })
        case .string: return .string(value.string!)
        case .int: return .int(Int64(value.int!))
        case .double: return .double(value.double!)
        case .bool: return .bool(value.bool!)
        case .date, .time, .dateTime: return .string(value.tomlValue.debugDescription)
        }
    }
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
