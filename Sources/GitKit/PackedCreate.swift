import CLibgit2

#if canImport(Glibc)
    import Glibc
#endif

extension Repository {
    /// Creates many references at once by adding them to `packed-refs` in one rename:
    /// readers see all of them or none, and no loose ref file is written per reference.
    ///
    /// Every name must be new. Like git's own transactions it holds `packed-refs.lock` and
    /// each new ref's `<ref>.lock` while it checks and writes, so a concurrent writer
    /// creating one of the same names waits (`.locked`) and then finds it taken. Throws
    /// `.exists` (nothing written) when a name already exists, `.locked` when a lock is held.
    public func createReferencesPacked(_ references: [Reference]) throws {
        guard !references.isEmpty else { return }
        for reference in references { try ReferenceGuard.check?(reference.name, false) }
        let common = commonDir
        for reference in references {
            var valid: Int32 = 0
            try check(git_reference_name_is_valid(&valid, reference.name), "git_reference_name_is_valid")
            guard valid == 1, reference.name.hasPrefix("refs/") else {
                throw GitError(
                    code: .other(GIT_EINVALIDSPEC.rawValue), message: "invalid reference name '\(reference.name)'",
                    function: "createReferencesPacked")
            }
        }
        var held: [String] = []
        defer { for path in held { unlink(path) } }
        func lock(_ path: String) throws {
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            guard fd >= 0 else {
                if errno == ENOENT { return }  // no directory yet: no loose ref can be there either
                throw GitError(
                    code: .locked, message: "'\(path)' is locked by another writer", function: "createReferencesPacked")
            }
            close(fd)
            held.append(path)
        }
        let packedPath = common + "packed-refs"
        try lock(packedPath + ".lock")
        for reference in references.sorted(by: { $0.name < $1.name }) { try lock(common + reference.name + ".lock") }

        var existing = PackedRefs.read(packedPath)
        var seen = Set<String>()
        for reference in references {
            var info = stat()
            if !seen.insert(reference.name).inserted || existing.entries[reference.name] != nil
                || stat(common + reference.name, &info) == 0
            {
                throw GitError(
                    code: .exists, message: "reference '\(reference.name)' already exists",
                    function: "createReferencesPacked")
            }
        }
        for reference in references {
            existing.entries[reference.name] = reference.target.hex + " " + reference.name + "\n"
        }
        let lockPath = packedPath + ".lock"
        guard let file = fopen(lockPath, "w") else {
            throw GitError(code: .other(-1), message: "cannot write '\(lockPath)'", function: "createReferencesPacked")
        }
        let bytes = Array(existing.render().utf8)
        let written = fwrite(bytes, 1, bytes.count, file)
        let flushed = fflush(file) == 0 && fsync(fileno(file)) == 0
        fclose(file)
        guard written == bytes.count, flushed, rename(lockPath, packedPath) == 0 else {
            throw GitError(
                code: .other(-1), message: "cannot write '\(packedPath)'", function: "createReferencesPacked")
        }
        held.removeFirst()  // the packed-refs lock became packed-refs itself
    }
}

/// The `packed-refs` file: a header of traits, then `<id> <name>` lines, each optionally
/// followed by a `^<id>` line with the tag's peeled target.
struct PackedRefs {
    var traits: Set<String>
    /// Name → its line(s), verbatim.
    var entries: [String: String]

    static func read(_ path: String) -> PackedRefs {
        var result = PackedRefs(traits: ["peeled", "fully-peeled"], entries: [:])
        guard let file = fopen(path, "r") else { return result }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var last: String?
        var first = true
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            if first, text.hasPrefix("# pack-refs with:") {
                result.traits = Set(
                    text.dropFirst("# pack-refs with:".count).split(separator: " ").map {
                        String($0).trimmingCharacters()
                    })
            } else if text.hasPrefix("^"), let last {
                result.entries[last, default: ""] += text
            } else if let space = text.firstIndex(of: " ") {
                let name = String(text[text.index(after: space)...]).trimmingCharacters()
                result.entries[name] = text.hasSuffix("\n") ? text : text + "\n"
                last = name
            }
            first = false
        }
        if first { result.traits = ["peeled", "fully-peeled"] }
        return result
    }

    /// Sorted by name bytewise, as git requires for the `sorted` trait.
    func render() -> String {
        var traits = self.traits.filter { !$0.isEmpty }
        traits.insert("sorted")
        let header =
            "# pack-refs with: " + ["peeled", "fully-peeled", "sorted"].filter(traits.contains).joined(separator: " ")
            + " \n"
        let names = entries.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return header + names.map { entries[$0]! }.joined()
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String {
        var text = Substring(self)
        while let last = text.last, last == "\n" || last == " " || last == "\r" { text.removeLast() }
        return String(text)
    }
}
