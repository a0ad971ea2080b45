import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// The rig's own signing keys, made by `git rig init` when none is configured: one for the
/// supervisors (the witness's and refinery's verdicts) and one for the overseer (approvals
/// and skips). They live in `<common dir>/gt/private/`, which no sandboxed agent can see
/// (the sandbox mounts an empty directory over it); their public halves are listed in
/// `<common dir>/gt/allowed-signers` (ssh's allowed signers format), which agents can read
/// but not change.
public enum RigKeys {
    public enum Role: String, Sendable, CaseIterable {
        case supervisor, overseer
        /// The principal its key is listed under in the allowed signers file.
        public var principal: String { "gasworks-" + rawValue }
        /// What its signatures are for: a verdict signature is never valid as an approval's.
        public var namespace: String { self == .supervisor ? "gasworks-verdict" : "gasworks-approval" }
    }

    /// The directory agents never see.
    public static func privateDirectory(_ repository: Repository) -> String { repository.commonDir + "gt/private" }
    public static func key(_ role: Role, in repository: Repository) -> String {
        privateDirectory(repository) + "/" + role.rawValue
    }
    public static func allowedSigners(_ repository: Repository) -> String {
        repository.commonDir + "gt/allowed-signers"
    }

    /// Makes the keys (ed25519, `ssh-keygen`) and the allowed signers file where missing;
    /// returns what it made.
    public static func ensure(_ repository: Repository) throws -> [String] {
        var made: [String] = []
        let directory = privateDirectory(repository)
        LocalFile.makeDirectories(directory)
        chmod(directory, 0o700)
        var lines: [String] = []
        for role in Role.allCases {
            let path = key(role, in: repository)
            if !LocalFile.isFile(path) {
                let outcome = try ChildProcess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", role.principal, "-f", path])
                guard outcome.status == 0 else {
                    throw GasworksError(.repository, "cannot make the \(role.rawValue) key: \(outcome.text.firstLine)")
                }
                made.append("\(role.rawValue) key \(path)")
            }
            guard let publicKey = try? LocalFile.read(path + ".pub") else {
                throw GasworksError(.repository, "cannot read \(path).pub")
            }
            let fields = String(decoding: publicKey, as: UTF8.self).split(separator: " ")
            guard fields.count >= 2 else { throw GasworksError(.badData, "\(path).pub is not an ssh public key") }
            lines.append("\(role.principal) namespaces=\"\(role.namespace)\" \(fields[0]) \(fields[1])")
        }
        let file = allowedSigners(repository)
        let existing = (try? LocalFile.read(file)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let missing = lines.filter { !existing.split(separator: "\n").contains(Substring($0)) }
        if !missing.isEmpty {
            do {
                try LocalFile.write(existing + missing.map { $0 + "\n" }.joined(), to: file)
            } catch {
                throw GasworksError(.repository, "cannot write \(file): \(error.reason)")
            }
            made.append("allowed signers \(file)")
        }
        return made
    }
}

/// Signs and checks verdicts and approvals. By default with the rig's own ssh keys
/// (`RigKeys`; `gt.witness.signingKey` and `gt.witness.allowedSigners` name others);
/// in a rig without them, with git's own signing setup: `gpg.format` (`openpgp`, the
/// default, or `ssh`), `user.signingKey`, `gpg.program` / `gpg.ssh.program`, and for ssh
/// `gpg.ssh.allowedSignersFile`. The signed payload is the verdict's canonical JSON.
public struct VerdictSigner {
    public enum Format: String, Sendable { case openpgp, ssh }

    let repository: Repository
    public let format: Format
    let key: String?
    let program: String
    let allowedSigners: String?
    /// The ssh signature namespace, so a verdict signature is never valid as a commit's.
    let namespace: String
    /// The principal the rig's own key is listed under, tried first when verifying.
    var expected: String? = nil

    /// Other setups whose signatures are trusted too (the rig's keys and git's own signing
    /// setup, whichever this one is not): a verdict signed under either counts.
    var others: [VerdictSigner] = []

    public init(repository: Repository, role: RigKeys.Role = .supervisor) throws {
        let configuredKey = try role == .supervisor ? repository.config("gt.witness.signingKey") : nil
        // Git's own signing setup, when the overseer asked for it (`gt.witness.sign=true`
        // with `user.signingKey`), comes before the rig's key.
        let gitSigning =
            try role == .supervisor && configuredKey == nil && repository.configBool("gt.witness.sign") == true
            && repository.config("user.signingKey") != nil
        let rigKey = configuredKey != nil || LocalFile.isFile(RigKeys.key(role, in: repository))
        let hasGitSetup =
            try role == .supervisor
            && (repository.config("user.signingKey") != nil || repository.config("gpg.ssh.allowedSignersFile") != nil)
        if !gitSigning, rigKey {
            try self.init(rigKeysOf: repository, role: role, key: configuredKey)
            if hasGitSetup { others = [try VerdictSigner(gitSetupOf: repository)] }
        } else {
            try self.init(gitSetupOf: repository)
            if rigKey { others = [try VerdictSigner(rigKeysOf: repository, role: role, key: configuredKey)] }
        }
    }

    init(rigKeysOf repository: Repository, role: RigKeys.Role, key configuredKey: String?) throws {
        self.repository = repository
        namespace = role.namespace
        expected = configuredKey == nil ? role.principal : nil
        format = .ssh
        key = configuredKey.map(LocalFile.expandingHome) ?? RigKeys.key(role, in: repository)
        program = try repository.config("gpg.ssh.program") ?? "ssh-keygen"
        allowedSigners =
            try repository.config("gt.witness.allowedSigners").map(LocalFile.expandingHome)
            ?? RigKeys.allowedSigners(repository)
    }

    init(gitSetupOf repository: Repository) throws {
        self.repository = repository
        namespace = RigKeys.Role.supervisor.namespace
        let formatName = try repository.config("gpg.format") ?? "openpgp"
        guard let format = Format(rawValue: formatName) else {
            throw GasworksError(.usage, "gpg.format '\(formatName)' is not supported for verdicts (use openpgp or ssh)")
        }
        self.format = format
        key = try repository.config("user.signingKey").map(LocalFile.expandingHome)
        program =
            try (format == .ssh ? repository.config("gpg.ssh.program") : repository.config("gpg.program"))
            ?? (format == .ssh ? "ssh-keygen" : "gpg")
        allowedSigners = try repository.config("gpg.ssh.allowedSignersFile").map(LocalFile.expandingHome)
    }

    /// Whether this process can sign as `role`: the rig's key is there (not in a sandbox)
    /// or a key is configured.
    public static func canSign(_ repository: Repository, role: RigKeys.Role = .supervisor) -> Bool {
        if LocalFile.isFile(RigKeys.key(role, in: repository)) { return true }
        guard role == .supervisor else { return false }
        return ((try? repository.config("gt.witness.signingKey")) ?? nil) != nil
            || ((try? repository.config("user.signingKey")) ?? nil) != nil
    }

    /// A detached, armored signature of `payload`.
    public func sign(_ payload: String) throws -> String {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.write("verdict", payload)
        let outcome: ChildOutcome
        switch format {
        case .ssh:
            guard let key else { throw GasworksError(.usage, "cannot sign verdicts: user.signingKey is not set") }
            outcome = try ChildProcess.run([program, "-Y", "sign", "-n", namespace, "-f", key, file])
            guard outcome.status == 0,
                let signature = (try? LocalFile.read(file + ".sig")).map({ String(decoding: $0, as: UTF8.self) })
            else {
                throw GasworksError(.refused, "cannot sign the verdict: \(Self.firstLine(outcome.text))")
            }
            return signature
        case .openpgp:
            var arguments = [program, "--batch", "--yes", "--armor", "--detach-sign", "-o", file + ".asc"]
            if let key { arguments += ["--local-user", key] }
            outcome = try ChildProcess.run(arguments + [file])
            guard outcome.status == 0,
                let signature = (try? LocalFile.read(file + ".asc")).map({ String(decoding: $0, as: UTF8.self) })
            else {
                throw GasworksError(.refused, "cannot sign the verdict: \(Self.firstLine(outcome.text))")
            }
            return signature
        }
    }

    /// Who signed `payload` with `signature`, when the signature is good and the signer is
    /// trusted (ssh: listed in the allowed signers file); nil otherwise.
    public func signer(of payload: String, signature: String) throws -> String? {
        if let who = try ownSigner(of: payload, signature: signature) { return who }
        for other in others {
            if let who = try other.ownSigner(of: payload, signature: signature) { return who }
        }
        return nil
    }

    func ownSigner(of payload: String, signature: String) throws -> String? {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.write("verdict", payload)
        let signatureFile = try scratch.write("verdict.sig", signature)
        switch format {
        case .ssh:
            guard let allowedSigners else { return nil }
            // `-Y verify` reads the payload on stdin: a shell feeds it from the file.
            func verify(as principal: String) throws -> Bool {
                try ChildProcess.run([
                    "/bin/sh", "-c", "exec \"$0\" -Y verify -f \"$1\" -I \"$2\" -n \"$3\" -s \"$4\" < \"$5\"",
                    program, allowedSigners, principal, namespace, signatureFile, file,
                ]).status == 0
            }
            // The rig's own principal first (one process); any other listed signer after.
            if let expected, try verify(as: expected) { return expected }
            let found = try ChildProcess.run([
                program, "-Y", "find-principals", "-f", allowedSigners, "-s", signatureFile,
            ])
            guard found.status == 0, let principal = found.text.split(separator: "\n").first.map(String.init),
                principal != expected
            else {
                return nil
            }
            return try verify(as: principal) ? principal : nil
        case .openpgp:
            let checked = try ChildProcess.run([program, "--batch", "--status-fd=1", "--verify", signatureFile, file])
            guard checked.status == 0 else { return nil }
            let status = checked.text.split(separator: "\n")
            // A good signature from a key the keyring does not trust is not enough.
            guard
                status.contains(where: {
                    $0.hasPrefix("[GNUPG:] TRUST_FULLY") || $0.hasPrefix("[GNUPG:] TRUST_ULTIMATE")
                })
            else { return nil }
            let good = status.first { $0.hasPrefix("[GNUPG:] GOODSIG ") }
            return good.map { String($0.dropFirst("[GNUPG:] GOODSIG ".count)) }
        }
    }

    static func firstLine(_ text: String) -> String {
        text.split(separator: "\n").first.map(String.init) ?? "no output"
    }
}

/// A private temporary directory for files handed to other programs.
struct Scratch {
    let path: String

    init() throws {
        var template = Array(((ProcessEnvironment["TMPDIR"] ?? "/tmp") + "/gasworks-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw GasworksError(.repository, "cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw GasworksError(.repository, "cannot write \(file)") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw GasworksError(.repository, "cannot write \(file)") }
            written += count
        }
        return file
    }

    /// Removes the files this scratch directory holds (it has no subdirectories), then it.
    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != ".", name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}
