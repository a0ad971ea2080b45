import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// Installs the rig's hooks from the shipped `hooks/` folder, in one of two ways:
///
/// - `workers` (the default): complete hooks in `<common dir>/gt/hooks/`, which only
///   workers' checkouts use (each gets `core.hooksPath` through an `includeIf "gitdir:…"`
///   entry), chaining to the user's own hooks afterwards. Other checkouts run no Gasworks
///   hook at all, and the user's hook files are never touched.
/// - `everywhere`: blocks between markers in the hooks every checkout runs, keeping the
///   user's hook code (after the block, or renamed to `<name>.user`).
///
/// Both are removed again without a trace.
public struct HookInstaller {
    /// The hooks of a repository with checkouts.
    public static let names = ["prepare-commit-msg", "commit-msg", "post-commit", "pre-push", "reference-transaction"]
    /// The hooks of a bare hub that clones push to: the refinery starts on a push.
    public static let hubNames = ["post-receive"]
    static let begin = "# >>> gasworks >>> (managed by git rig hooks; your own code can follow the end marker)"
    static let beginPrefix = "# >>> gasworks >>>"
    static let end = "# <<< gasworks <<<"
    static let userSuffix = ".user"
    static let shells = ["sh", "bash", "dash", "zsh", "ksh"]
    static let modeKey = "gt.hooks"
    static let userDirectoryKey = "gt.hooks.userDirectory"

    public enum Mode: String, Sendable, CaseIterable {
        case workers, everywhere
    }

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
        /// The hook also runs code of the user's (after the block, `<name>.user`, or the
        /// user's hook it chains to).
        public var keepsUserHook: Bool
    }

    let repository: Repository
    public let mode: Mode
    /// Where the user's checkouts look for hooks: `core.hooksPath` (unless that is Gasworks'
    /// own, as seen from a worker's checkout), else the common git dir's `hooks/`.
    public let userDirectory: String
    /// Gasworks' complete hooks for workers' checkouts (`workers` mode).
    public let workerDirectory: String
    /// The config file a worker's checkout includes: it sets `core.hooksPath`.
    let includeFile: String
    let templates: String
    let target: String
    /// `names`, or `hubNames` in a bare repository (which always uses `everywhere`: it has
    /// no checkouts, so no workers).
    public let names: [String]

    /// Where the hooks of `mode` live.
    public var directory: String { mode == .workers ? workerDirectory : userDirectory }

    public init(repository: Repository, mode: Mode? = nil) throws {
        self.repository = repository
        workerDirectory = repository.commonDir + "gt/hooks"
        includeFile = repository.commonDir + "gt/hooks.config"
        names = repository.isBare ? Self.hubNames : Self.names
        if repository.isBare {
            self.mode = .everywhere
        } else if let mode {
            self.mode = mode
        } else if let configured = try repository.config(Self.modeKey), !configured.isEmpty {
            guard let mode = Mode(rawValue: configured) else {
                throw GasworksError(.usage, "invalid \(Self.modeKey) '\(configured)' (expected workers or everywhere)")
            }
            self.mode = mode
        } else {
            self.mode = .workers
        }
        if let configured = try repository.config("core.hooksPath"), configured == workerDirectory {
            // Seen from a worker's checkout, through its include: the user's own setting was
            // kept when the hooks were installed.
            userDirectory = try repository.config(Self.userDirectoryKey) ?? repository.commonDir + "hooks"
        } else if let configured = try repository.config("core.hooksPath"), !configured.isEmpty {
            let expanded =
                configured.hasPrefix("~/") ? (ProcessEnvironment["HOME"] ?? "") + configured.dropFirst() : configured
            // git takes a relative hooksPath from where hooks run: the work tree's top.
            let base = repository.workdir ?? repository.gitDir
            userDirectory = expanded.hasPrefix("/") ? expanded : (base.hasSuffix("/") ? base : base + "/") + expanded
        } else {
            userDirectory = repository.commonDir + "hooks"
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

    func path(_ name: String) -> String { userDirectory + "/" + name }

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
        return Self.begin + "\n" + code(prelude) + "\n" + code(body).replacing("@TARGET@", with: target)
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
        if mode == .workers {
            return try names.map { name in
                let file = workerDirectory + "/" + name
                let state: State =
                    read(file) == nil ? .missing : read(file) == (try workerHook(name)) ? .installed : .outdated
                return Status(name: name, path: file, state: state, keepsUserHook: LocalFile.isExecutable(path(name)))
            }
        }
        return try names.map { name in
            let file = path(name)
            let user = LocalFile.isFile(file + Self.userSuffix)
            guard let text = read(file), let found = Self.blockRange(in: text) else {
                return Status(name: name, path: file, state: .missing, keepsUserHook: read(file) != nil || user)
            }
            var rest = text
            rest.replaceSubrange(found, with: "")
            let keeps =
                user || rest.split(separator: "\n").contains { !$0.hasPrefix("#!") && !$0.allSatisfy(\.isWhitespace) }
            let state: State = String(text[found]) == (try block(name)) ? .installed : .outdated
            return Status(name: name, path: file, state: state, keepsUserHook: keeps)
        }
    }

    /// The checkouts (git dirs) whose `core.hooksPath` points at the workers' hooks.
    public func enabledCheckouts() throws -> [String] {
        try repository.configEntries(matching: "^includeif\\.gitdir:.*\\.path$")
            .filter { $0.value == includeFile }
            .map { String($0.name.dropFirst("includeif.gitdir:".count).dropLast(".path".count)) }
    }

    /// A worker's hook (`workers` mode): the block, then the user's own hook of that name.
    func workerHook(_ name: String) throws -> String {
        let user = userDirectory + "/" + name
        let quoted = ShellQuoting.quote(user, in: .plain)
        return "#!/bin/sh\n" + (try block(name)) + "if [ -x \(quoted) ]; then exec \(quoted) \"$@\"; fi\n"
    }

    /// Turns the workers' hooks on for the checkout `repository` opened, when they are
    /// installed (`workers` mode); `git rig worker` calls it.
    public static func enable(_ repository: Repository) throws {
        let includeFile = repository.commonDir + "gt/hooks.config"
        guard LocalFile.isFile(includeFile) else { return }
        try repository.setConfig("includeIf.gitdir:\(globEscaped(realGitDir(repository))).path", includeFile)
    }

    /// Turns them off for that checkout.
    public static func disable(_ repository: Repository) throws {
        try repository.unsetConfig("includeIf.gitdir:\(globEscaped(realGitDir(repository))).path")
    }

    /// A path as a literal `includeIf "gitdir:…"` pattern (git matches it as a glob).
    static func globEscaped(_ path: String) -> String {
        var out = ""
        for character in path {
            if "*?[\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    /// The checkout's git dir as git matches `includeIf "gitdir:…"`: real path, no final slash.
    static func realGitDir(_ repository: Repository) -> String {
        var gitDir = repository.gitDir
        if gitDir.hasSuffix("/") { gitDir.removeLast() }
        guard let resolved = realpath(gitDir, nil) else { return gitDir }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Git dirs of the repository's checkouts that belong to a worker.
    func workerCheckouts() -> [String] {
        var gitDirs = [repository.commonDir]
        let worktrees = repository.commonDir + "worktrees"
        for name in LocalFile.list(worktrees) { gitDirs.append(worktrees + "/" + name + "/") }
        return gitDirs.filter { LocalFile.isFile($0 + BeadStore.workerFile) }
    }

    /// Installs or updates every hook; returns what it did to each.
    @discardableResult
    public func install() throws -> [(name: String, action: String)] {
        try repository.setConfig(Self.modeKey, mode.rawValue)
        try repository.setConfig(Self.userDirectoryKey, userDirectory)
        switch mode {
        case .workers:
            // Blocks from `everywhere` would run twice through the chain.
            _ = try removeBlocks()
            LocalFile.makeDirectories(workerDirectory)
            var actions: [(String, String)] = []
            for name in names {
                let file = workerDirectory + "/" + name
                let text = try workerHook(name)
                let existing = read(file)
                if existing == text {
                    actions.append((name, "up to date"))
                    continue
                }
                try write(text, to: file)
                let chained = LocalFile.isExecutable(path(name)) ? "; then your \(name) runs" : ""
                actions.append((name, (existing == nil ? "installed for workers" : "updated") + chained))
            }
            try writeInclude()
            for gitDir in workerCheckouts() {
                let worker = try Repository.open(gitDir)
                try Self.enable(worker)
            }
            return actions
        case .everywhere:
            try removeWorkerHooks()
            return try installBlocks()
        }
    }

    func writeInclude() throws {
        do {
            let quoted = workerDirectory.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
            try LocalFile.write("[core]\n\thooksPath = \"\(quoted)\"\n", to: includeFile)
        } catch {
            throw GasworksError(.repository, "cannot write \(includeFile): \(error.reason)")
        }
    }

    /// `everywhere`: a block in each hook every checkout runs, keeping the user's code.
    func installBlocks() throws -> [(name: String, action: String)] {
        LocalFile.makeDirectories(userDirectory)
        var actions: [(String, String)] = []
        for name in names {
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
                    text = existing
                    text.replaceSubrange(found, with: block)
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

    /// Removes the workers' hooks and every checkout's include of them.
    func removeWorkerHooks() throws {
        for entry in try repository.configEntries(matching: "^includeif\\.gitdir:.*\\.path$")
        where entry.value == includeFile {
            try repository.unsetConfig(entry.name)
        }
        unlink(includeFile)
        for name in names { unlink(workerDirectory + "/" + name) }
        rmdir(workerDirectory)
    }

    /// Runs the user's hook that `install` moved aside, with the same arguments and stdin.
    static let chain = "if [ -x \"$0\(userSuffix)\" ]; then exec \"$0\(userSuffix)\" \"$@\"; fi\n"

    /// Removes the hooks of both modes, restoring the user's hooks as they were.
    @discardableResult
    public func uninstall() throws -> [(name: String, action: String)] {
        let hadWorkerHooks = names.contains { LocalFile.isFile(workerDirectory + "/" + $0) }
        try removeWorkerHooks()
        let actions = try removeBlocks()
        return actions.map { name, action in
            (name, action == "not installed" && hadWorkerHooks ? "removed" : action)
        }
    }

    func removeBlocks() throws -> [(name: String, action: String)] {
        var actions: [(String, String)] = []
        for name in names {
            let file = path(name)
            guard let existing = read(file), let found = Self.blockRange(in: existing) else {
                actions.append((name, "not installed"))
                continue
            }
            var rest = existing
            rest.replaceSubrange(found, with: "")
            rest = rest.replacing(Self.chain, with: "")
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
        guard let start = text.firstRange(of: beginPrefix),
            let stop = text[start.upperBound...].firstRange(of: end)
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
