import BeadKit
import GitKit

/// One check command as the witness ran it.
public struct CheckRun: Sendable, Equatable {
    public var run: String
    public var timeoutSeconds: Int
    /// Exit status; nil when the command was not run (an earlier check failed).
    public var exit: Int?
    public var timedOut: Bool
    public var milliseconds: Int
    /// The captured output, stored as a blob: `git cat-file -p <output>` shows it.
    public var output: OID?
    public var outputBytes: Int

    public var passed: Bool { exit == 0 && !timedOut }

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "run": .string(run), "timeout_s": .int(Int64(timeoutSeconds)), "duration_ms": .int(Int64(milliseconds)),
            "output_bytes": .int(Int64(outputBytes)),
        ]
        if let exit { object["exit"] = .int(Int64(exit)) } else { object["not_run"] = .bool(true) }
        if timedOut { object["timed_out"] = .bool(true) }
        if let output { object["output"] = .string(output.hex) }
        return .object(object)
    }

    init(run: String, timeoutSeconds: Int) {
        self.run = run
        self.timeoutSeconds = timeoutSeconds
        exit = nil
        timedOut = false
        milliseconds = 0
        output = nil
        outputBytes = 0
    }

    init(json: JSONValue) {
        run = json["run"]?.stringValue ?? ""
        timeoutSeconds = Int(json["timeout_s"]?.intValue ?? 0)
        exit = json["exit"]?.intValue.map(Int.init)
        timedOut = json["timed_out"] == .bool(true)
        milliseconds = Int(json["duration_ms"]?.intValue ?? 0)
        output = json["output"]?.stringValue.flatMap { OID(hex: $0) }
        outputBytes = Int(json["output_bytes"]?.intValue ?? 0)
    }
}

/// The witness's judgement of one submission: a note line on the submitted commit in
/// `refs/notes/gt/witness`, bound to that commit's tree.
public struct Verdict: Sendable {
    public static let notesRef = "refs/notes/gt/witness"

    public var step: String
    public var molecule: String
    public var commit: OID
    public var tree: OID
    public var attempt: Int
    public var passed: Bool
    public var checks: [CheckRun]
    public var at: String
    public var by: String
    /// A detached signature of `payload` (see `VerdictSigner`), when signing is on.
    public var signature: String?
    public var signatureFormat: String?

    /// The canonical JSON that is signed: everything but the signature.
    public var payload: String { body.compactText() }

    var body: JSONValue {
        .object([
            "step": .string(step), "molecule": .string(molecule), "commit": .string(commit.hex),
            "tree": .string(tree.hex), "attempt": .int(Int64(attempt)), "result": .string(passed ? "pass" : "fail"),
            "checks": .array(checks.map(\.json)), "at": .string(at), "by": .string(by),
        ])
    }

    /// The note line: the payload plus the signature, if any.
    public var line: String {
        guard let signature, var object = body.objectValue else { return payload }
        object["sig"] = .object(["format": .string(signatureFormat ?? "openpgp"), "signature": .string(signature)])
        return JSONValue.object(object).compactText()
    }

    /// What the step bead keeps of it (under `verdict` when it passed).
    public var summary: JSONValue {
        var object: [String: JSONValue] = [
            "commit": .string(commit.hex), "tree": .string(tree.hex), "attempt": .int(Int64(attempt)),
            "result": .string(passed ? "pass" : "fail"), "at": .string(at), "by": .string(by),
        ]
        if signature != nil { object["signed"] = .bool(true) }
        return .object(object)
    }

    public init(
        step: String, molecule: String, commit: OID, tree: OID, attempt: Int, passed: Bool, checks: [CheckRun],
        at: String, by: String
    ) {
        self.step = step
        self.molecule = molecule
        self.commit = commit
        self.tree = tree
        self.attempt = attempt
        self.passed = passed
        self.checks = checks
        self.at = at
        self.by = by
    }

    /// Parses a note line; nil for lines that are not verdicts.
    public init?(line: some StringProtocol) {
        guard let json = try? JSONValue.parse(line), let step = json["step"]?.stringValue,
            let commit = json["commit"]?.stringValue.flatMap({ OID(hex: $0) }),
            let tree = json["tree"]?.stringValue.flatMap({ OID(hex: $0) })
        else { return nil }
        self.step = step
        molecule = json["molecule"]?.stringValue ?? ""
        self.commit = commit
        self.tree = tree
        attempt = Int(json["attempt"]?.intValue ?? 0)
        passed = json["result"]?.stringValue == "pass"
        checks = json["checks"]?.arrayValue?.map(CheckRun.init(json:)) ?? []
        at = json["at"]?.stringValue ?? ""
        by = json["by"]?.stringValue ?? ""
        signature = json["sig"]?["signature"]?.stringValue
        signatureFormat = json["sig"]?["format"]?.stringValue
    }

    /// Every verdict noted on `commit`, in the order written.
    public static func all(on commit: OID, in repository: Repository) throws -> [Verdict] {
        guard let text = try repository.note(on: commit, notesRef: notesRef) else { return [] }
        return text.split(separator: "\n").compactMap { Verdict(line: $0) }
    }
}
