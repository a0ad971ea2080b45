import GitKit

extension Repository {
    /// A whole-number setting of at least `minimum`, `fallback` when unset; anything else is
    /// a usage error naming the key.
    public func configNumber(_ key: String, default fallback: Int, minimum: Int) throws -> Int {
        guard let text = try config(key), !text.isEmpty else { return fallback }
        guard let value = Int(text), value >= minimum else {
            throw GasworksError(.usage, "\(key) must be a whole number of at least \(minimum), not '\(text)'")
        }
        return value
    }
}
