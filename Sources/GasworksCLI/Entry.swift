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
    public static func main() -> Never {
        if FormulaSource.tomlParser == nil, readsFormulas(CommandLine.arguments) {
            execFormulaHelper()
        }
        switch invokedAs {
        case "git-bead": runMain(GitBead.self)
        case "git-mail": runMain(GitMail.self)
        case "git-molecule": runMain(GitMolecule.self)
        case "git-witness": runMain(GitWitness.self)
        case "git-rig": runMain(GitRig.self)
        case "git-polecat": runMain(GitPolecat.self)
        case "git-refinery": runMain(GitRefinery.self)
        case "git-deacon": runMain(GitDeacon.self)
        default: runMain(Gasworks.self)
        }
    }

    static var invokedAs: String {
        CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
    }

    /// `git molecule formula …`, `git molecule pour …` and `git polecat sling … --formula`
    /// read formula files.
    static func readsFormulas(_ arguments: [String]) -> Bool {
        var words = arguments.dropFirst()
        var tool = String(invokedAs.dropFirst("git-".count))
        if !invokedAs.hasPrefix("git-") {
            tool = words.first ?? ""
            words = words.dropFirst()
        }
        switch tool {
        case "molecule": return words.first == "formula" || words.first == "pour"
        case "polecat":
            return words.first == "sling" && words.contains { $0 == "--formula" || $0.hasPrefix("--formula=") }
        default: return false
        }
    }

    /// Replaces this process with `gasworks-formula` from the same directory, same arguments.
    static func execFormulaHelper() -> Never {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let executable =
            count > 0 ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        let helper =
            String(executable[..<(executable.lastIndex(of: "/") ?? executable.startIndex)]) + "/gasworks-formula"
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv(helper, arguments)
        Console.error("fatal: cannot run \(helper) to read formulas: \(String(cString: strerror(errno)))\n")
        exit(GasworksError.Kind.repository.rawValue)
    }
}

/// Parses and runs `command`, keeping errors to git's one line: `fatal: <message>`
/// (ArgumentParser's own form adds usage lines). Help goes to stdout with status 0.
func runMain<Command: ParsableCommand>(_ command: Command.Type) -> Never {
    do {
        var parsed = try command.parseAsRoot()
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
