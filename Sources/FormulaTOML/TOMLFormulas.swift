import BeadKit
import MoleculeKit
import TOMLKit

/// Reading `*.formula.toml` with TOMLKit: linked only into `gasworks-formula`, because
/// TOMLKit brings Foundation, whose start-up every other command would pay.
public enum TOMLFormulas {
    /// Makes `FormulaSource` read TOML in this process.
    public static func install() {
        FormulaSource.tomlParser = { path, text in
            do {
                return .object(convert(try TOMLTable(string: text)))
            } catch let error as TOMLParseError {
                throw FormulaError(path: path, line: error.source.begin.line, "invalid TOML: \(error.description)")
            }
        }
    }

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
