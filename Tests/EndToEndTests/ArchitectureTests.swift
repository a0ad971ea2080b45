import Foundation
import Testing

@Suite struct ArchitectureTests {
    /// GitKit is the only module that touches libgit2. Swift can call a C function only
    /// through its module, so no other Swift source may import CLibgit2, and no other target
    /// may depend on it.
    @Test func noLibgit2SymbolOutsideGitKit() throws {
        var checked = 0
        for root in [packageRoot + "/Sources", packageRoot + "/Benchmarks", packageRoot + "/Tests"] {
            let walker = try #require(FileManager.default.enumerator(atPath: root))
            for case let path as String in walker where path.hasSuffix(".swift") {
                if root.hasSuffix("/Sources"), path.hasPrefix("GitKit/") { continue }
                let text = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
                checked += 1
                let importsLibgit2 = text.split(separator: "\n").contains { $0.hasPrefix("import CLibgit2") }
                #expect(!importsLibgit2, "\(path) imports CLibgit2")
            }
        }
        #expect(checked > 20)
        let manifest = try String(contentsOfFile: packageRoot + "/Package.swift", encoding: .utf8)
        let dependents = manifest.split(separator: "\n").filter {
            $0.contains("\"CLibgit2\"") && $0.contains("dependencies")
        }
        #expect(dependents.count == 1 && dependents[0].contains("name: \"GitKit\""), "\(dependents)")
    }
}
