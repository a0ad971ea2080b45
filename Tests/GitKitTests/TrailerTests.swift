import GitKit
import Testing

@Suite struct TrailerTests {
    @Test func theLastParagraphsKeyValueLinesAreTrailers() {
        let message = "Subject\n\nBody: not a trailer, it is the body\nmore body\n\nGt-Bead: gw-1\ngt-step: gw-2.1\n"
        #expect(Trailer.parse(message).map { "\($0.key)=\($0.value)" } == ["Gt-Bead=gw-1", "gt-step=gw-2.1"])
        #expect(Trailer.values("Gt-Step", in: message) == ["gw-2.1"])
        #expect(Trailer.parse("Only: a subject\n").isEmpty)
    }

    @Test func crlfMessagesAreRead() {
        #expect(Trailer.values("Gt-Step", in: "Subject\r\n\r\nGt-Step: gw-2.1\r\n") == ["gw-2.1"])
    }

    @Test func nothingBelowTheScissorsLineCounts() {
        let verbose =
            "Subject\n\n# Please enter the commit message\n# ------------------------ >8 ------------------------\n"
            + "# Do not modify or remove the line above.\ndiff --git a/x b/x\n+Gt-Step: gw-9.9\n"
        #expect(Trailer.parse(verbose).isEmpty)
        let added = Trailer.appending(["Gt-Step: gw-2.1"], to: verbose)
        let scissors = added.firstRange(of: "# ------------------------ >8")!.lowerBound
        let step = added.firstRange(of: "Gt-Step: gw-2.1")!.lowerBound
        #expect(step < scissors)
        #expect(added.hasSuffix("+Gt-Step: gw-9.9\n"))
        #expect(Trailer.values("Gt-Step", in: added) == ["gw-2.1"])
    }

    @Test func appendingJoinsAnExistingBlockBeforeTheEditorsComments() {
        let message = "Subject\n\nSigned-off-by: A <a@b>\n\n# Please enter the commit message\n"
        #expect(
            Trailer.appending(["Gt-Bead: gw-1"], to: message)
                == "Subject\n\nSigned-off-by: A <a@b>\nGt-Bead: gw-1\n\n# Please enter the commit message\n")
    }
}
