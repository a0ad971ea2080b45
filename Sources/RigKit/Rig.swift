import BeadKit
import GitKit
import HookKit

/// Setting a repository up as a rig: its config, its remotes' refspecs and its hooks.
public enum Rig {
    public static func target(_ repository: Repository) throws -> String { try RigConfig.target(repository) }

    public static func isRig(_ repository: Repository) throws -> Bool { try RigConfig.isRig(repository) }

    /// Where a remote's copy of the rig's state is fetched to, kept apart from local state
    /// (`git rig sync` merges it in).
    public static func fetchRefspecs(remote: String) -> [String] {
        ["+refs/gt/*:refs/gt-sync/\(remote)/gt/*", "+refs/notes/gt/*:refs/gt-sync/\(remote)/notes/gt/*"]
    }

    /// Push refspecs: the current branch first (so plain `git push` still pushes it), then
    /// the state, never forced, without what describes this host only (`Sync.hostLocal`).
    public static let pushRefspecs =
        ["HEAD", "refs/gt/*:refs/gt/*", "refs/notes/gt/*:refs/notes/gt/*"] + Sync.hostLocalRefspecs

    public struct Options: Sendable {
        public var prefix: String?
        public var target: String?
        public var remotes: [String]?
        public var pushRefspecs = true
        public var hooks = true
        /// How the hooks are installed (nil: as configured, else `workers`).
        public var hookMode: HookInstaller.Mode?

        public init() {}
    }

    /// Makes `repository` a rig; running it again changes only what differs.
    public static func initialize(_ repository: Repository, _ options: Options) throws -> [String] {
        var done: [String] = []
        if let prefix = options.prefix {
            guard BeadID.isValidPrefix(prefix) else {
                throw GasworksError(.usage, "invalid prefix '\(prefix)' (letters, digits and _, at most 16)")
            }
            if try repository.config("gt.prefix") != prefix {
                try repository.setConfig("gt.prefix", prefix)
                done.append("gt.prefix = \(prefix)")
            }
        } else if try repository.config("gt.prefix") == nil {
            let prefix = try BeadStore(repository: repository).prefix()
            try repository.setConfig("gt.prefix", prefix)
            done.append("gt.prefix = \(prefix)")
        }
        if let target = options.target {
            guard isValidBranch(target) else { throw GasworksError(.usage, "invalid target branch '\(target)'") }
            if try repository.config("gt.target") != target {
                try repository.setConfig("gt.target", target)
                done.append("gt.target = \(target)")
            }
        } else if try repository.config("gt.target") == nil {
            let target = try defaultTarget(repository)
            try repository.setConfig("gt.target", target)
            done.append("gt.target = \(target)")
        }
        let remotes = try options.remotes ?? repository.remoteNames()
        for remote in remotes {
            guard try repository.config("remote.\(remote).url") != nil else {
                throw GasworksError(.notFound, "no remote '\(remote)'")
            }
            let fetch = try repository.configValues("remote.\(remote).fetch")
            for spec in fetchRefspecs(remote: remote) where !fetch.contains(spec) {
                try repository.addConfigValue("remote.\(remote).fetch", spec)
                done.append("remote.\(remote).fetch += \(spec)")
            }
            if options.pushRefspecs {
                let push = try repository.configValues("remote.\(remote).push")
                for spec in pushRefspecs where !push.contains(spec) {
                    try repository.addConfigValue("remote.\(remote).push", spec)
                    done.append("remote.\(remote).push += \(spec)")
                }
            }
        }
        // The supervisors' and overseer's signing keys, where agents cannot read them.
        done += try RigKeys.ensure(repository)
        if options.hooks {
            let installer = try HookInstaller(repository: repository, mode: options.hookMode)
            for (name, action) in try installer.install() where action != "up to date" {
                done.append("hook \(name): \(action)")
            }
        }
        return done
    }

    /// `main` when it exists or nothing does yet, else the branch checked out.
    static func defaultTarget(_ repository: Repository) throws -> String {
        if try repository.referenceTarget("refs/heads/main") != nil { return "main" }
        if let head = try repository.symbolicTarget("HEAD"), head.hasPrefix("refs/heads/") {
            return String(head.dropFirst("refs/heads/".count))
        }
        return "main"
    }

    static func isValidBranch(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix("-") && !name.hasPrefix("/") && !name.hasSuffix("/")
            && !name.hasSuffix(".lock") && !name.contains("..") && !name.contains("//")
            && name.unicodeScalars.allSatisfy {
                $0.value > 32 && $0.value != 127 && !"~^:?*[\\'\"`$".unicodeScalars.contains($0)
            }
    }

    /// Marks the checkout `repository` opened as `worker`'s (or, with nil, as no one's):
    /// hooks then treat its commits as that worker's.
    public static func setWorker(_ worker: String?, in repository: Repository) throws {
        let file = repository.gitDir + BeadStore.workerFile
        guard let worker else {
            unlink(file)
            try HookInstaller.disable(repository)
            return
        }
        LocalFile.makeDirectories(repository.gitDir + "gt")
        do {
            try LocalFile.write(worker + "\n", to: file)
        } catch {
            throw GasworksError(.repository, "cannot write \(file): \(error.reason)")
        }
        try HookInstaller.enable(repository)
    }
}

#if canImport(Glibc)
    import Glibc
#endif
