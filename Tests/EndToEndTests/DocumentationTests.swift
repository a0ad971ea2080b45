import Foundation
import TestSupport
import Testing

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

@Suite struct DocumentationTests {
    static let tools = ["bead", "mail", "molecule", "witness", "rig", "polecat", "refinery", "deacon"]
    /// How many subcommands each tool has at least, so a lost registration shows.
    static let subcommandCounts = [
        "bead": 13, "mail": 13, "molecule": 11, "witness": 6, "rig": 11, "polecat": 14, "refinery": 7,
    ]

    @Test(arguments: tools) func gitToolHelpOpensTheManPage(tool: String) throws {
        let rig = try TemporaryRig(tools: [tool])
        let manRoot = rig.root + "/man"
        try FileManager.default.createDirectory(atPath: manRoot + "/man1", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: manRoot + "/man1/git-\(tool).1", withDestinationPath: packageRoot + "/man/git-\(tool).1")
        let result = try rig.git(
            [tool, "--help"], env: ["MANPATH": manRoot, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("NAME\n       git-\(tool) - "))
        #expect(result.stdout.contains("EXIT STATUS"))
    }

    @Test(arguments: tools) func everySubcommandIsInTheManPageAndTheManPageRendersCleanly(tool: String) throws {
        let page = try String(contentsOfFile: packageRoot + "/man/git-\(tool).1", encoding: .utf8)
        let help = try run(builtProduct("gasworks"), [tool, "--help"]).stdout
        // Subcommand lines are indented by two spaces; wrapped abstracts by more.
        let subcommands = help.components(separatedBy: "SUBCOMMANDS:").last!.split(separator: "\n")
            .filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") && !$0.hasPrefix("  See ") }
            .compactMap { $0.split(separator: " ").first.map(String.init) }
        #expect(subcommands.count >= Self.subcommandCounts[tool, default: 1])
        for subcommand in subcommands { #expect(page.contains(".SS \"git \(tool) \(subcommand)"), "\(subcommand)") }
        for code in ["0", "1", "2", "3", "64", "65", "128"] {
            #expect(page.contains(".B \(code)\n") || page.contains("\\fB\(code)\\fR"))
        }
        let groff = try run("groff", ["-man", "-ww", "-z", packageRoot + "/man/git-\(tool).1"])
        #expect(groff.status == 0 && groff.stderr.isEmpty, "\(groff.stderr)")
    }
}
