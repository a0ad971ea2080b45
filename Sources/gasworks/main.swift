// One multi-call binary: installed as `git-bead` (and later the other tools) so that
// `git bead …` works, or run as `gasworks bead …`.
let invokedAs = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""

switch invokedAs {
case "git-bead":
    GitBead.main()
default:
    Gasworks.main()
}
