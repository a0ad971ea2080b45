import FormulaTOML
import GasworksCLI

// `gasworks` with TOML formulas: `gasworks` runs this for `git molecule formula …` and
// `git molecule pour …`, which read `*.formula.toml` files.
TOMLFormulas.install()
GasworksCommandLine.main()
