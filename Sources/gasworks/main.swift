import GasworksCLI

// The multi-call binary: installed as `git-bead`, `git-mail`, `git-molecule`, `git-witness`
// and `git-rig` (so `git bead …` works), or run as `gasworks <tool> …`.
GasworksCommandLine.main()
