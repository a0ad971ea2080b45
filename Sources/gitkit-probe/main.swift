// Drives GitKit from a separate process so tests can race many writers against one
// repository and kill a writer at any instant. Not installed; used by tests and benchmarks.
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

func emit(_ text: String, to fd: Int32) {
    var bytes = Array(text.utf8)
    _ = write(fd, &bytes, bytes.count)
}

func fail(_ message: String) -> Never {
    emit("gitkit-probe: \(message)\n", to: STDERR_FILENO)
    exit(2)
}

/// Reads the counter stored in the commit `tip` points at (0 when there is none).
func counter(in repository: Repository, _ tip: OID?) throws -> Int {
    guard let tip else { return 0 }
    let tree = try repository.commit(tip).tree
    guard let entry = try repository.treeEntry(tree, path: "counter") else { return 0 }
    return Int(try repository.readBlobText(entry.id)) ?? 0
}

func commitCounter(_ value: Int, parent: OID?, in repository: Repository) throws -> OID {
    let blob = try repository.writeBlob("\(value)")
    let tree = try repository.writeTree([TreeEntry(name: "counter", id: blob, kind: .blob)])
    let who = try Signature.committer(in: repository)
    return try repository.writeCommit(
        tree: tree, parents: parent.map { [$0] } ?? [], message: "counter \(value)\n", author: who)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else { fail("usage: gitkit-probe <command> <repo> …") }

do {
    switch command {
    case "cas-increment":
        // cas-increment <repo> <ref> <count>: count read-increment-write cycles, retrying on conflict.
        guard arguments.count == 4, let count = Int(arguments[3]) else {
            fail("usage: cas-increment <repo> <ref> <count>")
        }
        let repository = try Repository.open(arguments[1])
        for _ in 0..<count {
            try repository.updateReference(arguments[2], message: "increment") { tip in
                (.set(try commitCounter(try counter(in: repository, tip) + 1, parent: tip, in: repository)), ())
            }
        }
    case "create-race":
        // create-race <repo> <count>: tries to create refs/gt/race/0..<count> (each expected
        // absent) with a commit of its own, and prints the indexes it created.
        guard arguments.count == 3, let count = Int(arguments[2]) else { fail("usage: create-race <repo> <count>") }
        let repository = try Repository.open(arguments[1])
        var won: [String] = []
        for index in 0..<count {
            let mine = try commitCounter(Int(getpid()), parent: nil, in: repository)
            do {
                try repository.setReference("refs/gt/race/\(index)", to: mine, expecting: nil, message: "race")
                won.append(String(index))
            } catch let error as GitError where error.code == .exists || error.code == .locked {
                continue
            }
        }
        emit(won.joined(separator: " ") + "\n", to: STDOUT_FILENO)
    case "churn":
        // churn <repo>: updates refs, transactions and notes in a loop until killed.
        guard arguments.count == 2 else { fail("usage: churn <repo>") }
        let repository = try Repository.open(arguments[1])
        emit("ready\n", to: STDOUT_FILENO)
        var round = 0
        while true {
            round += 1
            // Every write goes through the retry path, as real writers do: a lock a killed
            // predecessor left behind is waited out and cleared once stale.
            let name = "refs/gt/churn/\(round % 7)"
            let next = try repository.updateReference(name, message: "churn") { tip -> (ReferenceChange, OID) in
                let next = try commitCounter(round, parent: tip, in: repository)
                return (.set(next), next)
            }
            let pairName = "refs/gt/pair/\(round % 3)"
            try repository.withRetry(touching: [pairName, "refs/gt/pair/last"]) {
                try repository.updateReferences(
                    [
                        ReferenceUpdate(
                            name: pairName, expected: try repository.referenceTarget(pairName), target: next),
                        ReferenceUpdate(
                            name: "refs/gt/pair/last", expected: try repository.referenceTarget("refs/gt/pair/last"),
                            target: next),
                    ], message: "churn pair")
            }
            try repository.appendNoteLine("{\"round\":\(round)}", on: next, notesRef: "refs/notes/gt/churn")
        }
    case "notes-batch":
        // notes-batch <repo> <notes-ref> <object-list-file>: one note per listed object, one commit.
        guard arguments.count == 4, let list = fopen(arguments[3], "r") else {
            fail("usage: notes-batch <repo> <ref> <file>")
        }
        defer { fclose(list) }
        var edits: [NoteEdit] = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, list) > 0 {
            let hex = String(cString: line!).trimmingCharacters(in: " \n")
            guard let id = OID(hex: hex) else { fail("not an object id: '\(hex)'") }
            edits.append(.set(id, "{\"object\":\"\(hex)\"}\n"))
        }
        free(line)
        let repository = try Repository.open(arguments[1])
        try repository.editNotes(notesRef: arguments[2], edits, message: "notes-batch", packed: true)
    default:
        fail("unknown command '\(command)'")
    }
} catch {
    fail("\(error)")
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var scalars = Substring(self)
        while let last = scalars.last, set.contains(last) { scalars.removeLast() }
        while let first = scalars.first, set.contains(first) { scalars.removeFirst() }
        return String(scalars)
    }
}
