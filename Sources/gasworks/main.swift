import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

// One multi-call binary: installed as `git-bead` (and later the other tools) so that
// `git bead …` works, or run as `gasworks bead …`.
let invokedAs = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""

switch invokedAs {
case "git-bead":
    runMain(GitBead.self)
case "git-mail":
    runMain(GitMail.self)
case "git-molecule":
    runMain(GitMolecule.self)
case "git-witness":
    runMain(GitWitness.self)
case "git-rig":
    runMain(GitRig.self)
default:
    runMain(Gasworks.self)
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
