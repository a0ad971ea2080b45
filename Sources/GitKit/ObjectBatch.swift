import CLibgit2

extension Repository {
    /// Runs `body` against a second handle whose object writes collect in memory, then
    /// stores them all as one pack before returning. Thousands of small objects cost one
    /// pack file instead of thousands of loose files.
    ///
    /// `body` must only write objects: a reference published before the pack is stored
    /// could point at objects a crash would lose. Publish references after this returns.
    public func withObjectBatch<T>(_ body: (Repository) throws -> T) throws -> T {
        let batch = try Repository.open(gitDir)
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, batch.pointer), "git_repository_odb")
        defer { git_odb_free(odb) }
        var mempack: UnsafeMutablePointer<git_odb_backend>?
        try check(git_mempack_new(&mempack), "git_mempack_new")
        // The odb owns the backend once added and frees it with the odb.
        try check(git_odb_add_backend(odb, mempack, 1000), "git_odb_add_backend")
        batch.batchWrites = []
        let result = try body(batch)
        let written = batch.batchWrites ?? []
        if !written.isEmpty { try storePack(of: written, from: batch) }
        return result
    }

    /// Packs exactly the objects `batch` wrote (git_mempack_dump would keep only what
    /// commits reach) and indexes the pack into this repository's object store.
    private func storePack(of ids: [OID], from batch: Repository) throws {
        var builder: OpaquePointer?
        try check(git_packbuilder_new(&builder, batch.pointer), "git_packbuilder_new")
        defer { git_packbuilder_free(builder) }
        git_packbuilder_set_threads(builder, 1)
        for id in Set(ids) {
            var raw = id.raw
            try check(git_packbuilder_insert(builder, &raw, nil), "git_packbuilder_insert(\(id))")
        }
        var pack = git_buf()
        defer { git_buf_dispose(&pack) }
        try check(git_packbuilder_write_buf(&pack, builder), "git_packbuilder_write_buf")

        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, pointer), "git_repository_odb")
        defer { git_odb_free(odb) }
        var writer: UnsafeMutablePointer<git_odb_writepack>?
        try check(git_odb_write_pack(&writer, odb, nil, nil), "git_odb_write_pack")
        defer { writer!.pointee.free(writer) }
        var progress = git_indexer_progress()
        try check(writer!.pointee.append(writer, pack.ptr, pack.size, &progress), "git_odb_writepack.append")
        try check(writer!.pointee.commit(writer, &progress), "git_odb_writepack.commit")
        try check(git_odb_refresh(odb), "git_odb_refresh")
    }
}
