import BeadKit
import GitKit

/// A mailbox address: a role (`overseer`, `mayor`, `witness`, `refinery`, `deacon`) or a
/// named worker (`polecat/<name>`, `crew/<name>`).
public struct Address: Hashable, Sendable, CustomStringConvertible, Comparable {
    public static let roles = ["overseer", "mayor", "witness", "refinery", "deacon"]
    public static let kinds = ["polecat", "crew"]

    public let value: String

    /// Validates `text` as a single mailbox address.
    public init(_ text: String) throws {
        if Self.roles.contains(text) {
            value = text
            return
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, Self.kinds.contains(String(parts[0])), Self.isValidName(parts[1]) else {
            throw GasworksError(
                .usage,
                "invalid address '\(text)' (expected \(Self.roles.joined(separator: ", ")), polecat/<name>, crew/<name> or a list)"
            )
        }
        value = text
    }

    static func isValidName(_ name: Substring) -> Bool {
        !name.isEmpty && name.count <= 64 && name.first != "-" && name.first != "."
            && name.unicodeScalars.allSatisfy {
                $0.isASCII
                    && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == ".")
            } && !name.contains("..") && !name.hasSuffix(".lock")
    }

    public var refName: String { Mailbox.refPrefix + value }
    public var description: String { value }
    public static func < (a: Address, b: Address) -> Bool { a.value < b.value }
}

/// Expands recipients: addresses, the group `polecats` (every polecat with a mailbox or a
/// worker record), and named lists from git config (`gt.list.<name>`, multi-valued).
public struct AddressBook {
    let repository: Repository

    public init(repository: Repository) { self.repository = repository }

    public func expand(_ recipients: [String]) throws -> [Address] {
        var out: [Address] = []
        var seen = Set<String>()
        func add(_ address: Address) {
            if seen.insert(address.value).inserted { out.append(address) }
        }
        for recipient in recipients {
            for address in try expand(recipient, depth: 0) { add(address) }
        }
        return out
    }

    private func expand(_ recipient: String, depth: Int) throws -> [Address] {
        if recipient == "polecats" { return try polecats() }
        if Address.roles.contains(recipient) || recipient.contains("/") { return [try Address(recipient)] }
        let members = try repository.configValues("gt.list.\(recipient)")
        guard !members.isEmpty, depth < 8 else {
            throw GasworksError(
                .usage,
                "invalid address '\(recipient)' (expected \(Address.roles.joined(separator: ", ")), polecat/<name>, crew/<name>, polecats or a list in gt.list.<name>)"
            )
        }
        return try members.flatMap { try expand($0, depth: depth + 1) }
    }

    /// Every polecat the rig knows: worker records and existing polecat mailboxes.
    public func polecats() throws -> [Address] {
        let records = try repository.references(withPrefix: "refs/gt/polecats/").map {
            String($0.name.dropFirst("refs/gt/polecats/".count))
        }
        let boxes = try repository.references(withPrefix: Mailbox.refPrefix + "polecat/").map {
            String($0.name.dropFirst((Mailbox.refPrefix + "polecat/").count))
        }
        return try Set(records + boxes).filter { !$0.contains("/") }.sorted().map { try Address("polecat/" + $0) }
    }
}
