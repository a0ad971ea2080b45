// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Gasworks",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "gasworks", targets: ["gasworks"]),
        .executable(name: "gasworks-hook", targets: ["gasworks-hook"]),
        .executable(name: "gasworks-formula", targets: ["gasworks-formula"]),
        .library(name: "GitKit", targets: ["GitKit"]),
        .library(name: "BeadKit", targets: ["BeadKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibgit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]
        ),
        // Replaces the CA-bundle loading libgit2 does at start-up (see startup.c).
        .target(name: "CLibgit2Startup"),
        // posix_spawn and pipe extensions of glibc (see spawn.c).
        .target(name: "CSpawn"),
        .target(name: "GitKit", dependencies: ["CLibgit2", "CLibgit2Startup", "CSpawn"]),
        .target(name: "BeadKit", dependencies: ["GitKit"]),
        .target(name: "MailKit", dependencies: ["GitKit", "BeadKit"]),
        .target(name: "MoleculeKit", dependencies: ["GitKit", "BeadKit", "MailKit"]),
        // TOML formulas: TOMLKit brings Foundation, so only gasworks-formula links it.
        .target(name: "FormulaTOML", dependencies: ["BeadKit", "MoleculeKit", .product(name: "TOMLKit", package: "TOMLKit")]),
        .target(name: "WitnessKit", dependencies: ["GitKit", "BeadKit", "MailKit", "MoleculeKit"]),
        // The commit-msg hook's check: GitKit and BeadKit only, so its executable starts fast.
        .target(name: "HookKit", dependencies: ["GitKit", "BeadKit"]),
        .executableTarget(name: "gasworks-hook", dependencies: ["HookKit", "BeadKit", "GitKit"]),
        .target(name: "RigKit", dependencies: ["GitKit", "BeadKit", "MailKit", "MoleculeKit", "WitnessKit", "HookKit"]),
        .target(
            name: "PolecatKit", dependencies: ["GitKit", "BeadKit", "MailKit", "MoleculeKit", "HookKit", "RigKit"]),
        .target(
            name: "DeaconKit",
            dependencies: ["GitKit", "BeadKit", "MailKit", "MoleculeKit", "HookKit", "RigKit", "PolecatKit"]),
        .target(
            name: "RefineryKit",
            dependencies: ["GitKit", "BeadKit", "MailKit", "MoleculeKit", "HookKit", "WitnessKit", "PolecatKit"]),
        // Every tool's command line, run by both executables below.
        .target(
            name: "GasworksCLI",
            dependencies: [
                "BeadKit", "GitKit", "MailKit", "MoleculeKit", "WitnessKit", "RigKit", "HookKit", "PolecatKit",
                "RefineryKit", "DeaconKit", "CSpawn", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The multi-call binary (git-bead, git-mail, …) without TOML or Foundation.
        .executableTarget(name: "gasworks", dependencies: ["GasworksCLI"]),
        // The same with TOML formulas: gasworks runs it for `git molecule formula|pour`.
        .executableTarget(name: "gasworks-formula", dependencies: ["GasworksCLI", "FormulaTOML"]),
        // Drives GitKit from separate processes: concurrency, crash and benchmark tests use it.
        .executableTarget(name: "gitkit-probe", dependencies: ["GitKit"]),
        .executableTarget(
            name: "gasworks-bench",
            dependencies: ["GitKit", "BeadKit", "TestSupport"],
            path: "Benchmarks/Sources/gasworks-bench"
        ),
        .target(name: "TestSupport", dependencies: ["CSpawn"], path: "Tests/TestSupport"),
        .testTarget(name: "GitKitTests", dependencies: ["GitKit", "TestSupport", "gitkit-probe"]),
        .testTarget(name: "BeadKitTests", dependencies: ["BeadKit", "GitKit", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["GitKit", "TestSupport", "gasworks", "gasworks-hook", "gasworks-formula"]),
    ]
)
