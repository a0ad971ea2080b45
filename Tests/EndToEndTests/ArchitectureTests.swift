import Foundation
import Testing

@Suite struct ArchitectureTests {
    /// GitKit is the only module that touches libgit2: no other source imports CLibgit2 or
    /// calls a `git_*` function.
    @Test func noLibgit2SymbolOutsideGitKit() throws {
        let sources = packageRoot + "/Sources"
        let benchmarks = packageRoot + "/Benchmarks"
        var checked = 0
        for root in [sources, benchmarks] {
            let walker = try #require(FileManager.default.enumerator(atPath: root))
            for case let path as String in walker where path.hasSuffix(".swift") {
                if root == sources, path.hasPrefix("GitKit/") || path.hasPrefix("CLibgit2/") { continue }
                let text = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
                checked += 1
                #expect(!text.contains("import CLibgit2"), "\(path) imports CLibgit2")
                let call = try Regex(#"\bgit_[a-z0-9_]+\s*\("#)
                #expect(text.firstMatch(of: call) == nil, "\(path) calls libgit2 directly")
            }
        }
        #expect(checked > 10)
    }
}
