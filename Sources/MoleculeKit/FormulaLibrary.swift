import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// Where formulas are found, first match wins: the rig's own `formulas/` (and Gas Town's
/// `.beads/formulas/`), then the user's directory (`$GT_FORMULA_PATH` entries, then
/// `~/.config/gasworks/formulas` and `~/.beads/formulas`), then the formulas shipped with
/// Gasworks (`$GASWORKS_FORMULAS`, else `<prefix>/share/gasworks/formulas` beside the installed
/// binary, else the `formulas/` folder of the source tree the binary was built in).
public struct FormulaLibrary: Sendable {
    public let directories: [String]

    public static let suffixes = [".formula.toml", ".formula.json"]

    public init(directories: [String]) { self.directories = directories }

    public init(rigRoot: String?) {
        var directories: [String] = []
        if let rigRoot {
            directories += [rigRoot + "/formulas", rigRoot + "/.beads/formulas"]
        }
        let environment = ProcessEnvironment.self
        if let path = environment["GT_FORMULA_PATH"] {
            directories += path.split(separator: ":").map(String.init)
        }
        if let home = environment["HOME"], !home.isEmpty {
            let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.config"
            directories += [config + "/gasworks/formulas", home + "/.beads/formulas"]
        }
        if let shipped = environment["GASWORKS_FORMULAS"], !shipped.isEmpty {
            directories.append(shipped)
        } else if let shipped = Self.shippedDirectory() {
            directories.append(shipped)
        }
        var seen = Set<String>()
        self.directories = directories.filter { seen.insert($0).inserted }
    }

    /// The shipped set, found from the running executable's real path.
    static func shippedDirectory() -> String? { LocalFile.shippedDirectory("formulas") }

    /// A formula by name (or by path, when the argument names a file).
    public func source(named name: String) throws -> FormulaSource {
        if name.contains("/") || name.hasSuffix(".toml") || name.hasSuffix(".json") {
            guard isFile(name) else { throw GasworksError(.notFound, "no formula file '\(name)'") }
            return try load(name)
        }
        guard Self.isValidName(name) else { throw GasworksError(.usage, "invalid formula name '\(name)'") }
        for directory in directories {
            for suffix in Self.suffixes where isFile(directory + "/" + name + suffix) {
                return try load(directory + "/" + name + suffix)
            }
        }
        throw GasworksError(
            .notFound,
            "no formula '\(name)' (searched \(directories.isEmpty ? "nothing" : directories.joined(separator: ", ")))")
    }

    public func formula(named name: String) throws -> Formula {
        let source = try source(named: name)
        do {
            return try Formula(source: source)
        } catch let error as FormulaError {
            throw error.asGasworksError
        }
    }

    private func load(_ path: String) throws -> FormulaSource {
        do {
            return try FormulaSource.read(path: path)
        } catch let error as FormulaError {
            throw error.asGasworksError
        }
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }

    public struct Entry: Sendable {
        public var name: String
        public var path: String
        /// A formula of the same name earlier in the search path hides this one.
        public var shadowed: Bool
    }

    /// Every formula file on the search path, in search order.
    public func entries() -> [Entry] {
        var seen = Set<String>()
        var entries: [Entry] = []
        for directory in directories {
            for file in listDirectory(directory).sorted() {
                guard let suffix = Self.suffixes.first(where: { file.hasSuffix($0) }) else { continue }
                let name = String(file.dropLast(suffix.count))
                entries.append(Entry(name: name, path: directory + "/" + file, shadowed: !seen.insert(name).inserted))
            }
        }
        return entries
    }
}

func isFile(_ path: String) -> Bool { LocalFile.isFile(path) }
func listDirectory(_ path: String) -> [String] { LocalFile.list(path) }
