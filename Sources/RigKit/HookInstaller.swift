import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// Installs the rig's hooks from the shipped `hooks/` folder as blocks between markers, so a
/// user's own hook code keeps working, and removes them again without a trace.
public struct HookInstaller {
    public static let names = ["prepare-commit-msg", "commit-msg", "post-commit", "pre-push", "reference-transaction"]
    static let begin = "# >>> gasworks >>> (managed by git rig hooks; your own code can follow the end marker)"
    static let beginPrefix = "# >>> gasworks >>>"
    static let end = "# <<< gasworks <<<"
    static let userSuffix = ".user"
    static let shells = ["sh", "bash", "dash", "zsh", "ksh"]

    public enum State: String, Sendable {
        /// The block is there and matches the shipped one.
        case installed
        /// The block is there but differs (an older Gasworks, or another target branch).
        case outdated
        case missing
    }

    public struct Status: Sendable {
        public var name: String
        public var path: String
        public var state: State
        /// The hook also runs code of the user's (after the block, or `<name>.user`).
        public var keepsUserHook: Bool
    }

    let repository: Repository
    public let directory: String
    let templates: String
    let target: String

    public init(repository: Repository) throws {
        self.repository = repository
        if let configured = try repository.config("core.hooksPath"), !configured.isEmpty {
            let expanded =
                configured.hasPrefix("~/") ? (ProcessEnvironment["HOME"] ?? "") + configured.dropFirst() : configured
            // git takes a relative hooksPath from where hooks run: the work tree's top.
            let base = repository.workdir ?? repository.gitDir
            directory = expanded.hasPrefix("/") ? expanded : (base.hasSuffix("/") ? base : base + "/") + expanded
        } else {
            directory = repository.commonDir + "hooks"
        }
        guard
            let templates = ProcessEnvironment["GASWORKS_HOOKS"].flatMap({ $0.isEmpty ? nil : $0 })
                ?? LocalFile.shippedDirectory("hooks")
        else {
            throw GasworksError(
                .repository, "cannot find the shipped hooks (set GASWORKS_HOOKS to the hooks/ folder of Gasworks)")
        }
        self.templates = templates
        target = try Rig.target(repository)
    }

    func path(_ name: String) -> String { directory + "/" + name }

    /// The block for `name`: the shared prelude and the hook's body, between the markers.
    public func block(_ name: String) throws -> String {
        let prelude = try template("prelude.sh")
        let body = try template(name)
        func code(_ text: String) -> String {
            text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("#!") }
                .joined(separator: "\n")
                .trimmingCharacters(in: "\n")
        }
        return Self.begin + "\n" + code(prelude) + "\n" + code(body).replacingOccurrences(of: "@TARGET@", with: target)
            + "\n" + Self.end + "\n"
    }

    func template(_ name: String) throws -> String {
        do {
            return String(decoding: try LocalFile.read(templates + "/" + name), as: UTF8.self)
        } catch {
            throw GasworksError(.repository, "cannot read the shipped hook \(templates)/\(name): \(error.reason)")
        }
    }

    public func status() throws -> [Status] {
        try Self.names.map { name in
            let file = path(name)
            let user = LocalFile.isFile(file + Self.userSuffix)
            guard let text = read(file), let found = Self.blockRange(in: text) else {
                return Status(name: name, path: file, state: .missing, keepsUserHook: read(file) != nil || user)
            }
            let rest = text.replacingCharacters(in: found, with: "")
            let keeps =
                user || rest.split(separator: "\n").contains { !$0.hasPrefix("#!") && !$0.allSatisfy(\.isWhitespace) }
            let state: State = String(text[found]) == (try block(name)) ? .installed : .outdated
            return Status(name: name, path: file, state: state, keepsUserHook: keeps)
        }
    }

    /// Installs or updates every hook; returns what it did to each.
    @discardableResult
    public func install() throws -> [(name: String, action: String)] {
        LocalFile.makeDirectories(directory)
        var actions: [(String, String)] = []
        for name in Self.names {
            let file = path(name)
            let block = try block(name)
            let action: String
            var text: String
            if let existing = read(file) {
                if let found = Self.blockRange(in: existing) {
                    if String(existing[found]) == block {
                        actions.append((name, "up to date"))
                        continue
                    }
                    text = existing.replacingCharacters(in: found, with: block)
                    action = "updated"
                } else if LocalFile.isExecutable(file), let interpreter = Self.shellInterpreter(existing) {
                    let lines = existing.split(separator: "\n", omittingEmptySubsequences: false)
                    text = lines[0] + "\n" + block + lines.dropFirst().joined(separator: "\n")
                    action = "added before your \(interpreter) code"
                } else {
                    guard rename(file, file + Self.userSuffix) == 0 else {
                        throw GasworksError(
                            .repository, "cannot keep your hook \(file): \(String(cString: strerror(errno)))")
                    }
                    text = "#!/bin/sh\n" + block + Self.chain
                    action = "installed; your hook now runs as \(name)\(Self.userSuffix)"
                }
            } else {
                text = "#!/bin/sh\n" + block
                action = "installed"
            }
            try write(text, to: file)
            actions.append((name, action))
        }
        return actions
    }

    /// Runs the user's hook that `install` moved aside, with the same arguments and stdin.
    static let chain = "if [ -x \"$0\(userSuffix)\" ]; then exec \"$0\(userSuffix)\" \"$@\"; fi\n"

    /// Removes every block, restoring the user's hooks as they were.
    @discardableResult
    public func uninstall() throws -> [(name: String, action: String)] {
        var actions: [(String, String)] = []
        for name in Self.names {
            let file = path(name)
            guard let existing = read(file), let found = Self.blockRange(in: existing) else {
                actions.append((name, "not installed"))
                continue
            }
            var rest = existing.replacingCharacters(in: found, with: "")
            rest = rest.replacingOccurrences(of: Self.chain, with: "")
            let meaningful = rest.split(separator: "\n").contains {
                !$0.hasPrefix("#!") && !$0.allSatisfy(\.isWhitespace)
            }
            if meaningful {
                try write(rest, to: file)
                actions.append((name, "removed; your code stays"))
            } else {
                unlink(file)
                if LocalFile.isFile(file + Self.userSuffix) {
                    guard rename(file + Self.userSuffix, file) == 0 else {
                        throw GasworksError(.repository, "cannot restore your hook \(file)\(Self.userSuffix)")
                    }
                    actions.append((name, "removed; your hook is back"))
                } else {
                    actions.append((name, "removed"))
                }
            }
        }
        return actions
    }

    func read(_ file: String) -> String? {
        (try? LocalFile.read(file)).map { String(decoding: $0, as: UTF8.self) }
    }

    func write(_ text: String, to file: String) throws {
        // Keep the hook's own mode when it has one (at least executable by its owner).
        var info = stat()
        let mode = stat(file, &info) == 0 ? (info.st_mode & 0o7777) | 0o100 : 0o755
        do {
            try LocalFile.write(text, to: file, mode: mode)
        } catch {
            throw GasworksError(.repository, "cannot write hook \(file): \(error.reason)")
        }
    }

    /// The range of the managed block, markers and final newline included.
    static func blockRange(in text: String) -> Range<String.Index>? {
        guard let start = text.range(of: beginPrefix),
            let stop = text.range(of: end, range: start.upperBound..<text.endIndex)
        else { return nil }
        let lineStart = text[..<start.lowerBound].lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
        var upper = stop.upperBound
        if upper < text.endIndex, text[upper] == "\n" { upper = text.index(after: upper) }
        return lineStart..<upper
    }

    /// The shell a hook script runs in, when it is a POSIX-family shell.
    static func shellInterpreter(_ text: String) -> String? {
        guard text.hasPrefix("#!") else { return nil }
        let line = text.prefix { $0 != "\n" }.dropFirst(2)
        let words = line.split(separator: " ").map(String.init)
        guard var program = words.first.map({ String($0.split(separator: "/").last ?? "") }) else { return nil }
        if program == "env", words.count > 1 { program = words[1] }
        return shells.contains(program) ? program : nil
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }

    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let found = rest.range(of: target) {
            result += rest[..<found.lowerBound] + replacement
            rest = rest[found.upperBound...]
        }
        return result + rest
    }
}
