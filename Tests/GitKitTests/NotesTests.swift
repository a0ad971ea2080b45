import Foundation
import GitKit
import TestSupport
import Testing

@Suite struct NotesTests {
    @Test func notesRoundTripAndAppendKeepsEarlierLines() throws {
        let repo = try TemporaryRepository()
        let code = try #require(OID(hex: try repo.commitFile("a.txt", "a")))
        let opened = try Repository.open(repo.path)

        try opened.setNote("{\"bead\":\"gw-1\"}\n", on: code, notesRef: "refs/notes/gt/beads")
        try opened.appendNoteLine("{\"step\":\"gw-1.2\"}", on: code, notesRef: "refs/notes/gt/beads")
        try opened.appendNoteLine("{\"bead\":\"gw-1\"}", on: code, notesRef: "refs/notes/gt/beads")

        let expected = "{\"bead\":\"gw-1\"}\n{\"step\":\"gw-1.2\"}\n"
        #expect(try opened.note(on: code, notesRef: "refs/notes/gt/beads") == expected)
        #expect(try repo.gitOutput("notes", "--ref=refs/notes/gt/beads", "show", code.hex) + "\n" == expected)
        #expect(try repo.gitOutput("log", "--format=%s", "refs/notes/gt/beads").split(separator: "\n").count == 2)

        try opened.removeNote(on: code, notesRef: "refs/notes/gt/beads")
        #expect(try opened.note(on: code, notesRef: "refs/notes/gt/beads") == nil)
        #expect(try repo.git("notes", "--ref=refs/notes/gt/beads", "show", code.hex).status != 0)
    }

    @Test func notesWrittenByGitAreReadAndMovedIntoTheFanOut() throws {
        let repo = try TemporaryRepository()
        let code = try #require(OID(hex: try repo.commitFile("a.txt", "a")))
        // git writes a flat tree while a notes ref holds few notes.
        _ = try repo.gitOutput("notes", "--ref=refs/notes/gt/witness", "add", "-m", "{\"pass\":true}", code.hex)
        #expect(try repo.gitOutput("ls-tree", "--name-only", "refs/notes/gt/witness") == code.hex)

        let opened = try Repository.open(repo.path)
        #expect(try opened.note(on: code, notesRef: "refs/notes/gt/witness") == "{\"pass\":true}\n")
        try opened.appendNoteLine("{\"pass\":false}", on: code, notesRef: "refs/notes/gt/witness")

        let fanout = String(code.hex.prefix(2))
        #expect(try repo.gitOutput("ls-tree", "--name-only", "refs/notes/gt/witness") == fanout)
        #expect(
            try repo.gitOutput("notes", "--ref=refs/notes/gt/witness", "show", code.hex)
                == "{\"pass\":true}\n{\"pass\":false}")
        #expect(try opened.notes(notesRef: "refs/notes/gt/witness").map(\.annotated) == [code])
    }

    @Test func tenThousandNotesReadBackByObjectAndGitAgreesWithEveryOne() throws {
        let repo = try TemporaryRepository()
        let opened = try Repository.open(repo.path)
        let objects = try opened.withObjectBatch { batch in
            try (0..<10_000).map { try batch.writeBlob("annotated \($0)\n") }
        }
        // Twenty commits of 500 notes, half of them packed, half loose.
        for (index, start) in stride(from: 0, to: objects.count, by: 500).enumerated() {
            let edits = objects[start..<(start + 500)].map { NoteEdit.set($0, "{\"of\":\"\($0.hex)\"}\n") }
            try opened.editNotes(
                notesRef: "refs/notes/gt/beads", edits, message: "batch \(index)", packed: index.isMultiple(of: 2))
        }

        for object in objects {
            #expect(try opened.note(on: object, notesRef: "refs/notes/gt/beads") == "{\"of\":\"\(object.hex)\"}\n")
        }
        let listed = try opened.notes(notesRef: "refs/notes/gt/beads")
        #expect(listed.map(\.annotated) == objects.sorted())

        // git's own reading: `git notes list` pairs every object with the same blob, and
        // the blobs' text is what GitKit wrote.
        let gitList = try repo.gitOutput("notes", "--ref=refs/notes/gt/beads", "list")
        let gitPairs = Dictionary(
            uniqueKeysWithValues: gitList.split(separator: "\n").map { line -> (String, String) in
                let parts = line.split(separator: " ")
                return (String(parts[1]), String(parts[0]))
            })
        #expect(gitPairs.count == 10_000)
        for note in listed { #expect(gitPairs[note.annotated.hex] == note.blob.hex) }
        let batch = try repo.git("cat-file", "--batch", input: listed.map(\.blob.hex).joined(separator: "\n") + "\n")
        let texts = Set(batch.stdout.split(separator: "\n").filter { $0.hasPrefix("{") })
        #expect(texts.count == 10_000)
        for note in listed { #expect(texts.contains("{\"of\":\"\(note.annotated.hex)\"}")) }

        let topLevel = try repo.gitOutput("ls-tree", "refs/notes/gt/beads").split(separator: "\n")
        #expect(topLevel.count == 256)
        #expect(topLevel.allSatisfy { $0.contains(" tree ") })
        #expect(try repo.git("fsck", "--strict").status == 0)
    }
}
