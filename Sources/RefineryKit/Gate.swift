import BeadKit
import GitKit
import WitnessKit

/// One run of the rig's gate (with its retries) on one commit.
public struct GateResult: Sendable {
    public var commit: OID
    public var tree: OID
    public var passed: Bool
    public var exit: Int?
    public var timedOut: Bool
    /// The last run's output, stored as a blob.
    public var output: OID?
    public var outputBytes: Int
    public var milliseconds: Int
    /// How many times the command ran (0: no gate configured).
    public var runs: Int

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "commit": .string(commit.hex), "tree": .string(tree.hex), "result": .string(passed ? "pass" : "fail"),
            "runs": .int(Int64(runs)), "ms": .int(Int64(milliseconds)), "timed_out": .bool(timedOut),
        ]
        if let exit { object["exit"] = .int(Int64(exit)) }
        if let output {
            object["output"] = .string(output.hex)
            object["output_bytes"] = .int(Int64(outputBytes))
        }
        return .object(object)
    }
}

extension Refinery {
    static let mailedOutputBytes = 4_000

    /// Runs the gate on `commit` in the refinery's worktree; a red run is repeated up to
    /// `gt.refinery.retries` times (a flaky gate passes if any run passes).
    func gate(_ commit: OID, requests: [String]) throws -> GateResult {
        let tree = try repository.commit(commit).tree
        guard let command = settings.gate else {
            return GateResult(
                commit: commit, tree: tree, passed: true, exit: nil, timedOut: false, output: nil, outputBytes: 0,
                milliseconds: 0, runs: 0)
        }
        if let checkout {
            try checkout.switchTo(commit)
        } else {
            checkout = try Checkout(repository: repository, commit: commit, label: "gate", role: "refinery")
        }
        guard let path = checkout?.path else { throw GasworksError(.repository, "no refinery worktree") }
        // The lease outlasts the gate (and its retries): a live refinery is never taken over.
        try lease?.renew(for: Int64(settings.gateTimeout * (settings.retries + 1) + 60), current: requests)
        let environment = ChildProcess.environment(adding: [
            "GT_REFINERY": "1", "GT_COMMIT": commit.hex, "GT_TREE": tree.hex, "GT_TARGET": target,
            "GT_MERGE_REQUESTS": requests.joined(separator: " "),
        ])
        var result: GateResult!
        for attempt in 0...settings.retries {
            if attempt > 0 { log("  gate red on \(commit.hex.prefix(12)); running it again (flaky?)\n") }
            let outcome = try ChildProcess.run(
                ["/bin/sh", "-c", command], in: path, environment: environment,
                timeout: Double(settings.gateTimeout))
            gateRuns += 1
            var bytes = outcome.output
            if outcome.droppedBytes > 0 { bytes += Array("\n[… \(outcome.droppedBytes) more bytes not kept]\n".utf8) }
            if outcome.timedOut { bytes += Array("\n[killed after \(settings.gateTimeout)s]\n".utf8) }
            result = GateResult(
                commit: commit, tree: tree, passed: outcome.status == 0 && !outcome.timedOut,
                exit: Int(outcome.status), timedOut: outcome.timedOut, output: try repository.writeBlob(bytes),
                outputBytes: outcome.output.count + outcome.droppedBytes,
                milliseconds: Int((outcome.seconds * 1000).rounded()), runs: attempt + 1)
            log(
                "  gate \(result.passed ? "green" : "red") on \(commit.hex.prefix(12)) "
                    + "(\(requests.count) request\(requests.count == 1 ? "" : "s"), \(result.milliseconds) ms)\n")
            if result.passed { break }
        }
        if result.passed { green.insert(commit) }
        return result
    }

    /// Whether `commit`'s tree is known to pass the gate: the refinery landed it (or tested
    /// it) and noted a green gate bound to that tree.
    func isKnownGreen(_ commit: OID) throws -> Bool {
        if settings.gate == nil || green.contains(commit) { return true }
        guard let text = try repository.note(on: commit, notesRef: Self.notesRef) else { return false }
        let tree = try repository.commit(commit).tree
        let gate = settings.gate ?? ""
        return text.split(separator: "\n").contains { line in
            guard let json = try? JSONValue.parse(line), let result = json["gate"] else { return false }
            return result["result"]?.stringValue == "pass" && result["tree"]?.stringValue == tree.hex
                && json["gate_command"]?.stringValue == gate
        }
    }

    /// The gate's failing output as text: the command, the end of its output, its status.
    func failureText(_ result: GateResult) throws -> String {
        try Witness.failureText(
            command: settings.gate ?? "", output: result.output, exit: result.exit, timedOut: result.timedOut,
            timeoutSeconds: settings.gateTimeout, in: repository, keeping: Self.mailedOutputBytes)
    }

    /// Tests the stacked candidates and lands what passes. A red batch is bisected: the
    /// longest green prefix lands, the first request that turns it red bounces with the
    /// gate's output, the rest stay queued.
    func testAndLand(_ candidates: [Candidate], base: OID) throws -> RoundOutcome {
        let ids = candidates.map(\.request.id)
        let top = try gate(candidates[candidates.count - 1].commit, requests: ids)
        if top.passed {
            return try land(candidates, base: base, gate: top) ? .done : .moved
        }
        // Prefix `low` is green (0: the target, not known yet); prefix `high` is red.
        var low = 0
        var high = candidates.count
        var red = top
        var greenGate: GateResult?
        while high - low > 1 {
            let middle = (low + high) / 2
            let result = try gate(candidates[middle - 1].commit, requests: Array(ids[..<middle]))
            if result.passed {
                low = middle
                greenGate = result
            } else {
                high = middle
                red = result
            }
        }
        if low == 0, try !isKnownGreen(base) {
            // Red with only the first request on top: is the target itself red?
            let result = try gate(base, requests: [])
            if !result.passed {
                try reportTargetRed(result, waiting: ids)
                return .targetRed
            }
            try noteGreenTarget(result)
        }
        if low > 0, let greenGate, try !land(Array(candidates[..<low]), base: base, gate: greenGate) {
            return .moved
        }
        let culprit = candidates[high - 1]
        try bounce(
            culprit.request,
            reason: "the gate fails with it merged onto \(target)"
                + (high > 1 ? " (after \(high - 1) request\(high == 2 ? "" : "s") that pass)" : "") + ":\n"
                + (try failureText(red)),
            short: "gate red", output: red.output)
        return .done
    }

    /// The target is red without any merge request: nobody in the queue is blamed; the
    /// overseer is mailed and the queue waits.
    func reportTargetRed(_ result: GateResult, waiting: [String]) throws {
        let body =
            "The gate fails on \(target) itself (\(result.commit.hex.prefix(12))), without any merge request, "
            + "so no request is blamed and the queue waits: \(waiting.joined(separator: ", ")).\n"
            + "Fix \(target) (or gt.refinery.gate), then run git refinery run.\n\n" + (try failureText(result))
        try mail(
            to: ["overseer"], type: "escalation", subject: "Target \(target) is red: the refinery waits", body: body)
        try repository.appendNoteLine(
            JSONValue.object([
                "result": .string("target-red"), "gate": result.json, "gate_command": .string(settings.gate ?? ""),
                "by": .string(Self.actor), "at": .string(beads.now),
            ]).compactText(), on: result.commit, notesRef: Self.notesRef)
        record(.init(kind: .targetRed, request: waiting.first ?? "", commit: result.commit, reason: "\(target) is red"))
    }

    func noteGreenTarget(_ result: GateResult) throws {
        try repository.appendNoteLine(
            JSONValue.object([
                "result": .string("target-green"), "gate": result.json, "gate_command": .string(settings.gate ?? ""),
                "by": .string(Self.actor), "at": .string(beads.now),
            ]).compactText(), on: result.commit, notesRef: Self.notesRef)
    }
}
