import ArgumentParser
import BeadKit
import GitKit
import MoleculeKit

#if canImport(Glibc)
    import Glibc
#endif

/// The command line of every Gasworks tool. Two executables run it: `gasworks`, which
/// leaves out TOML (and with it Foundation, three milliseconds of start-up for every
/// command), and `gasworks-formula`, which reads TOML formulas. `gasworks` hands the
/// commands that read formulas to `gasworks-formula` beside it.
public enum GasworksCommandLine {
    /// Runs the tool named by argv[0] (`git-bead`, `git-mail`, …, else `gasworks <tool>`).
    /// Inside a sandbox (`GT_BROKER` set) a command that changes state is handed to the
    /// broker outside it.
    public static func main() -> Never {
        let arguments = CommandLine.arguments
        if arguments.count > 1, arguments[1] == BrokerServer.verb { BrokerServer.main(Array(arguments.dropFirst(2))) }
        if let socket = ProcessEnvironment["GT_BROKER"], !socket.isEmpty, !readsOnly(arguments) {
            BrokerClient.forward(arguments, socket: socket)
        }
        run(arguments)
    }

    /// Runs `arguments` (argv, argv[0] naming the tool) in this process.
    static func run(_ arguments: [String]) -> Never {
        if FormulaSource.tomlParser == nil, readsFormulas(arguments) {
            execFormulaHelper(arguments)
        }
        let words = Array(arguments.dropFirst())
        switch invokedAs(arguments) {
        case "git-bead": runMain(GitBead.self, words)
        case "git-mail": runMain(GitMail.self, words)
        case "git-molecule": runMain(GitMolecule.self, words)
        case "git-witness": runMain(GitWitness.self, words)
        case "git-rig": runMain(GitRig.self, words)
        case "git-polecat": runMain(GitPolecat.self, words)
        case "git-refinery": runMain(GitRefinery.self, words)
        case "git-deacon": runMain(GitDeacon.self, words)
        default: runMain(Gasworks.self, words)
        }
    }

    static func invokedAs(_ arguments: [String]) -> String {
        arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
    }

    /// The tool (`bead`, `mail`, …) and the words after it.
    static func toolAndWords(_ arguments: [String]) -> (String, ArraySlice<String>) {
        let name = invokedAs(arguments)
        var words = arguments.dropFirst()
        if name.hasPrefix("git-") { return (String(name.dropFirst(4)), words) }
        let tool = words.first ?? ""
        words = words.dropFirst()
        return (tool, words)
    }

    /// Commands that only read, run directly inside a sandbox (nothing to broker).
    static func readsOnly(_ arguments: [String]) -> Bool {
        let (tool, words) = toolAndWords(arguments)
        let subcommand = words.first { !$0.hasPrefix("-") } ?? ""
        if words.contains(where: { $0 == "--help" || $0 == "-h" }) { return true }
        switch tool {
        case "bead":
            return ["show", "list", "search", "stats", "blocked", "export", "history"].contains(subcommand)
                || (subcommand == "ready" && !words.contains("--claim"))
        case "molecule":
            return ["show", "progress", "status", "list"].contains(subcommand)
                || (subcommand == "next" && !words.contains("--claim"))
        case "mail": return ["thread", "search", "count"].contains(subcommand)
        case "polecat": return ["prime", "status", "list"].contains(subcommand)
        case "rig":
            return ["status", "feed"].contains(subcommand)
                || (subcommand == "hook" && words.contains("commit-msg"))
        case "witness": return subcommand == "verify"
        case "refinery": return ["queue", "status"].contains(subcommand)
        default: return false
        }
    }

    /// `git molecule formula …`, `git molecule pour …` and `git polecat sling … --formula`
    /// read formula files.
    static func readsFormulas(_ arguments: [String]) -> Bool {
        let (tool, words) = toolAndWords(arguments)
        switch tool {
        case "molecule": return words.first == "formula" || words.first == "pour"
        case "polecat":
            return words.first == "sling" && words.contains { $0 == "--formula" || $0.hasPrefix("--formula=") }
        default: return false
        }
    }

    /// Replaces this process with `gasworks-formula` from the same directory, same arguments.
    static func execFormulaHelper(_ arguments: [String]) -> Never {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let executable =
            count > 0 ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        let helper =
            String(executable[..<(executable.lastIndex(of: "/") ?? executable.startIndex)]) + "/gasworks-formula"
        let cArguments = arguments.map { strdup($0) } + [nil]
        execv(helper, cArguments)
        Console.error("fatal: cannot run \(helper) to read formulas: \(String(cString: strerror(errno)))\n")
        exit(GasworksError.Kind.repository.rawValue)
    }
}

/// Parses and runs `command`, keeping errors to git's one line: `fatal: <message>`
/// (ArgumentParser's own form adds usage lines). Help goes to stdout with status 0.
func runMain<Command: ParsableCommand>(_ command: Command.Type, _ arguments: [String]) -> Never {
    do {
        var parsed = try command.parseAsRoot(arguments)
        try parsed.run()
        exit(0)
    } catch {
        let code = command.exitCode(for: error)
        if code == .success {
            Console.out(command.fullMessage(for: error) + "\n")
            exit(0)
        }
        let message = command.message(for: error)
        if !message.isEmpty {
            let firstLine = message.split(separator: "\n").first.map(String.init) ?? message
            Console.error("fatal: \(firstLine.hasPrefix("Error: ") ? String(firstLine.dropFirst(7)) : firstLine)\n")
        }
        exit(code.rawValue)
    }
}
