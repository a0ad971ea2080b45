import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// Signs and checks verdicts with git's own signing setup: `gpg.format` (`openpgp`, the
/// default, or `ssh`), `user.signingKey`, `gpg.program` / `gpg.ssh.program`, and for ssh
/// `gpg.ssh.allowedSignersFile`. The signed payload is the verdict's canonical JSON.
public struct VerdictSigner {
    public enum Format: String, Sendable { case openpgp, ssh }

    /// The namespace of ssh signatures, so a verdict signature is never valid as a commit's.
    static let namespace = "gasworks-verdict"

    let repository: Repository
    public let format: Format
    let key: String?
    let program: String
    let allowedSigners: String?

    public init(repository: Repository) throws {
        self.repository = repository
        let formatName = try repository.config("gpg.format") ?? "openpgp"
        guard let format = Format(rawValue: formatName) else {
            throw GasworksError(.usage, "gpg.format '\(formatName)' is not supported for verdicts (use openpgp or ssh)")
        }
        self.format = format
        key = try repository.config("user.signingKey").map(Self.expandHome)
        program =
            try (format == .ssh ? repository.config("gpg.ssh.program") : repository.config("gpg.program"))
            ?? (format == .ssh ? "ssh-keygen" : "gpg")
        allowedSigners = try repository.config("gpg.ssh.allowedSignersFile").map(Self.expandHome)
    }

    static func expandHome(_ path: String) -> String {
        guard path.hasPrefix("~/"), let home = ProcessEnvironment["HOME"] else { return path }
        return home + path.dropFirst()
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
            outcome = try ChildProcess.run([program, "-Y", "sign", "-n", Self.namespace, "-f", key, file])
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
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.write("verdict", payload)
        let signatureFile = try scratch.write("verdict.sig", signature)
        switch format {
        case .ssh:
            guard let allowedSigners else { return nil }
            let found = try ChildProcess.run([
                program, "-Y", "find-principals", "-f", allowedSigners, "-s", signatureFile,
            ])
            guard found.status == 0, let principal = found.text.split(separator: "\n").first.map(String.init) else {
                return nil
            }
            // `-Y verify` reads the payload on stdin: a shell feeds it from the file.
            let checked = try ChildProcess.run([
                "/bin/sh", "-c", "exec \"$0\" -Y verify -f \"$1\" -I \"$2\" -n \"$3\" -s \"$4\" < \"$5\"", program,
                allowedSigners, principal, Self.namespace, signatureFile, file,
            ])
            return checked.status == 0 ? principal : nil
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

    func remove() {
        _ = try? ChildProcess.run(["rm", "-rf", path])
    }
}
