import ArgumentParser
import BeadKit
import GitKit
import MoleculeKit
import RigKit

struct GitRig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rig",
        abstract:
            "Set a repository up as a rig: config, refspecs for its state, and the hooks that enforce step order.",
        discussion: """
            Exit status: 0 success; 1 refused (a hook refusing a commit, problems git rig doctor \
            left, a convoy that has landed or a bead that is not one, a sync whose remote kept moving \
            or that found one bead id created on both sides); 2 unknown remote, bead, rig or \
            directory; 3 ambiguous id prefix; 64 invalid arguments; 65 corrupt stored data; 128 not \
            a git repository, a file could not be written, or git fetch or push failed.
            """,
        subcommands: [
            RigInit.self, RigStatus.self, RigFeed.self, RigSync.self, RigDoctor.self, RigTown.self, RigConvoy.self,
            RigReport.self,
            RigHooks.self,
            RigHook.self,
            RigWorker.self,
        ])
}

struct RigInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Make this repository a rig: prefix, target branch, refspecs for refs/gt and its notes, hooks.")
    @OptionGroup var common: CommonOptions
    @Option(name: .long, help: "Bead id prefix (gt.prefix); default: kept, or derived from the directory name.")
    var prefix: String?
    @Option(name: .long, help: "The branch only the refinery advances (gt.target); default main.") var target: String?
    @Option(name: .long, help: "Add refspecs to this remote only (repeatable; default every remote).")
    var remote: [String] = []
    @Flag(name: .long, help: "Add fetch refspecs only, so plain git push is unchanged.") var noPushRefspecs = false
    @Flag(name: .long, help: "Do not install the hooks.") var noHooks = false
    @Option(
        name: .long,
        help: ArgumentHelp(
            "workers: hooks run in workers' checkouts only (default); everywhere: in every checkout.",
            valueName: "mode"))
    var hooks: HookInstaller.Mode?

    func run() throws {
        try reportingErrors {
            let repository = try common.openRepository()
            var options = Rig.Options()
            options.prefix = prefix
            options.target = target
            options.remotes = remote.isEmpty ? nil : remote
            options.pushRefspecs = !noPushRefspecs
            options.hooks = !noHooks
            options.hookMode = hooks
            let done = try Rig.initialize(repository, options)
            if common.json {
                Console.out(
                    JSONValue.object([
                        "prefix": .string(try repository.config("gt.prefix") ?? ""),
                        "target": .string(try Rig.target(repository)), "changes": .array(done.map { .string($0) }),
                    ]).compactText() + "\n")
            } else if !common.quiet {
                Console.out(done.isEmpty ? "rig already set up; nothing changed\n" : done.map { $0 + "\n" }.joined())
            }
        }
    }
}

struct RigHooks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hooks", abstract: "Show, install or remove the rig's hooks.",
        subcommands: [RigHooksStatus.self, RigHooksInstall.self, RigHooksUninstall.self],
        defaultSubcommand: RigHooksStatus.self)
}

struct RigHooksStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Each hook: installed, outdated or missing, and whether it keeps yours.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let installer = try HookInstaller(repository: try common.openRepository())
            let statuses = try installer.status()
            if common.json {
                Console.out(
                    JSONValue.object([
                        "directory": .string(installer.directory), "mode": .string(installer.mode.rawValue),
                        "checkouts": .array(try installer.enabledCheckouts().map { .string($0) }),
                        "hooks": .array(
                            statuses.map {
                                .object([
                                    "name": .string($0.name), "path": .string($0.path),
                                    "state": .string($0.state.rawValue),
                                    "keeps_user_hook": .bool($0.keepsUserHook),
                                ])
                            }),
                    ]).compactText() + "\n")
                return
            }
            Console.out("hooks (\(installer.mode.rawValue)) in \(installer.directory)\n")
            for status in statuses {
                let mark = status.state == .installed ? "✓" : "✗"
                Console.out(
                    "  \(mark) \(status.name.padding(21)) \(status.state.rawValue)"
                        + (status.keepsUserHook ? " (keeps your hook)" : "") + "\n")
            }
            if installer.mode == .workers {
                let enabled = try installer.enabledCheckouts()
                Console.out(
                    enabled.isEmpty
                        ? "no worker's checkout uses them yet (git rig worker <name> in one)\n"
                        : "used by \(enabled.count) worker checkout\(enabled.count == 1 ? "" : "s"):\n"
                            + enabled.map { "  \($0)\n" }.joined())
            }
            if statuses.contains(where: { $0.state != .installed }) {
                Console.out("run git rig hooks install to install or update them\n")
            }
        }
    }
}

struct RigHooksInstall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install", abstract: "Install or update the hooks, keeping any hook of yours.")
    @OptionGroup var common: CommonOptions
    @Option(
        name: .long,
        help: ArgumentHelp(
            "workers: hooks run in workers' checkouts only; everywhere: in every checkout (default: as before, else workers).",
            valueName: "mode"))
    var mode: HookInstaller.Mode?

    func run() throws {
        try reportingErrors {
            let actions = try HookInstaller(repository: try common.openRepository(), mode: mode).install()
            if !common.quiet { Console.out(actions.map { "\($0.name): \($0.action)\n" }.joined()) }
        }
    }
}

struct RigHooksUninstall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall", abstract: "Remove the hooks' blocks, restoring your own hooks as they were.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let actions = try HookInstaller(repository: try common.openRepository()).uninstall()
            if !common.quiet { Console.out(actions.map { "\($0.name): \($0.action)\n" }.joined()) }
        }
    }
}

struct RigHook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook", abstract: "Run one hook's work (the installed hooks call this).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "commit-msg or post-commit.") var name: String
    @Argument(parsing: .captureForPassthrough, help: "The arguments git gave the hook.") var arguments: [String] = []

    func run() throws {
        try reportingErrors {
            let hooks = CommitHooks(molecules: try common.openMolecules())
            switch name {
            case "commit-msg":
                guard let file = arguments.first else {
                    throw GasworksError(.usage, "commit-msg needs the message file")
                }
                try hooks.check.commitMessage(file: file)
            case "post-commit":
                // A commit is made already: report trouble, never fail it.
                do {
                    for step in try hooks.postCommit() {
                        Console.error("gasworks: submitted \(step) to the witness (Gt-Step-Done)\n")
                    }
                } catch let error as GasworksError {
                    Console.error("gasworks: warning: \(error.message)\n")
                }
            default:
                throw GasworksError(.usage, "unknown hook '\(name)' (commit-msg or post-commit)")
            }
        }
    }
}

struct RigWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Show, set or clear the worker this checkout belongs to (the hooks act for it).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "polecat/<name> or crew/<name>.") var worker: String?
    @Flag(name: .long, help: "This checkout belongs to no worker.") var clear = false

    func validate() throws {
        if clear, worker != nil { throw ValidationError("give a worker or --clear, not both") }
        if let worker {
            let parts = worker.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, ["polecat", "crew"].contains(String(parts[0])), !parts[1].isEmpty,
                parts[1].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." })
            else { throw ValidationError("invalid worker '\(worker)' (expected polecat/<name> or crew/<name>)") }
        }
    }

    func run() throws {
        try reportingErrors {
            let repository = try common.openRepository()
            if clear || worker != nil {
                try Rig.setWorker(clear ? nil : worker, in: repository)
            }
            let current = BeadStore.worker(of: repository)
            if common.json {
                Console.out(JSONValue.object(["worker": current.map { .string($0) } ?? .null]).compactText() + "\n")
            } else {
                Console.out((current ?? "no worker") + "\n")
            }
        }
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

extension HookInstaller.Mode: ExpressibleByArgument {}
