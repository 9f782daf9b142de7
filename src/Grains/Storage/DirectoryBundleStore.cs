using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace Magneton.Grains.Storage;

/// <summary>
/// Bundles and reports under one local directory (<c>--storage-dir</c>):
/// <code>
/// &lt;root&gt;/uploads/&lt;runId&gt;/&lt;file&gt;              chunks of an upload in progress, written at their offsets
/// &lt;root&gt;/bundles/&lt;runId&gt;/&lt;file&gt;, manifest.json  a stored bundle (the upload directory, renamed at commit)
/// &lt;root&gt;/reports/&lt;jobId&gt;.json                 finished reports (written to a temp file, then renamed)
/// &lt;root&gt;/locks/&lt;n&gt;.lock                       per-run locks shared with other processes on the same root
/// </code>
/// A commit checks every file's length and SHA-256 against the manifest, writes manifest.json into the upload
/// directory and renames the directory into bundles/ in one step, so a bundle directory is always complete.
/// </summary>
public sealed class DirectoryBundleStore : IBundleStore
{
    readonly string _bundles, _uploads, _reports;
    readonly StripedFileLock _runLocks;

    public DirectoryBundleStore(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
        _bundles = Path.Combine(Root, "bundles");
        _uploads = Path.Combine(Root, "uploads");
        _reports = Path.Combine(Root, "reports");
        Directory.CreateDirectory(_bundles);
        Directory.CreateDirectory(_uploads);
        Directory.CreateDirectory(_reports);
        _runLocks = new StripedFileLock(Path.Combine(Root, "locks"));
    }

    /// <summary>The store's root directory (full path).</summary>
    public string Root { get; }

    public string Location => $"directory {Root}";

    string BundleDir(string runId) => Path.Combine(_bundles, runId);
    string UploadDir(string runId) => Path.Combine(_uploads, runId);
    string ManifestPath(string runId) => Path.Combine(BundleDir(runId), BundleStoreNames.ManifestFile);

    public async Task<BundleManifest?> GetManifestAsync(string runId, CancellationToken ct = default)
    {
        BundleStoreNames.CheckRunId(runId);
        var path = ManifestPath(runId);
        byte[] json;
        try
        {
            json = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        return BundleStoreNames.DeserializeManifest(json, path);
    }

    public async Task WriteChunkAsync(string runId, string file, long offset, ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        BundleStoreNames.CheckRunId(runId);
        BundleStoreNames.CheckFileName(file);
        if (offset < 0) throw new BundleStoreException($"{runId}: {file}: negative chunk offset {offset}");
        using var _ = await LockRunAsync(runId, ct).ConfigureAwait(false);
        if (File.Exists(ManifestPath(runId))) return; // already stored: a late retry changes nothing

        var dir = UploadDir(runId);
        Directory.CreateDirectory(dir);
        await using var fs = new FileStream(Path.Combine(dir, file), FileMode.OpenOrCreate, FileAccess.Write,
            FileShare.ReadWrite, bufferSize: 0, FileOptions.Asynchronous);
        // Chunks come in increasing offset order (a retry repeats one); a gap means a chunk was lost, and a
        // file with a hole would pass the length check at commit.
        if (offset > fs.Length)
            throw new BundleStoreException(
                $"{runId}: {file}: chunk at offset {offset} but only {fs.Length} bytes were written before it (a chunk is missing)");
        fs.Position = offset;
        await fs.WriteAsync(data, ct).ConfigureAwait(false);
    }

    public async Task CommitAsync(BundleManifest manifest, Func<string, Task>? verify = null, CancellationToken ct = default)
    {
        BundleStoreNames.CheckManifest(manifest);
        var runId = manifest.RunId;
        using var _ = await LockRunAsync(runId, ct).ConfigureAwait(false);
        if (File.Exists(ManifestPath(runId)))
        {
            DeleteDirectory(UploadDir(runId)); // stored already; leftovers of a second upload go
            return;
        }

        var dir = UploadDir(runId);
        if (!Directory.Exists(dir))
        {
            if (manifest.Files.FirstOrDefault(f => f.Length > 0) is { } first)
                throw new BundleStoreException($"{runId}: {first.Name}: not uploaded (the manifest says {first.Length} bytes)");
            Directory.CreateDirectory(dir);
        }

        var expected = manifest.Files.ToDictionary(f => f.Name, StringComparer.Ordinal);
        foreach (var entry in Directory.EnumerateFileSystemEntries(dir))
        {
            var name = Path.GetFileName(entry);
            if (name == BundleStoreNames.ManifestFile) continue; // from a commit that stopped before the rename
            if (!expected.ContainsKey(name) || Directory.Exists(entry))
                throw new BundleStoreException($"{runId}: {BundleStoreNames.Printable(name)}: uploaded but not in the manifest");
        }

        foreach (var f in manifest.Files)
        {
            var path = Path.Combine(dir, f.Name);
            if (!File.Exists(path))
            {
                if (f.Length != 0) throw new BundleStoreException($"{runId}: {f.Name}: not uploaded (the manifest says {f.Length} bytes)");
                await File.WriteAllBytesAsync(path, [], ct).ConfigureAwait(false);
            }
            await using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
            if (fs.Length != f.Length)
                throw new BundleStoreException($"{runId}: {f.Name}: {fs.Length} bytes uploaded, the manifest says {f.Length}");
            var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(fs, ct).ConfigureAwait(false));
            if (hash != f.Sha256)
                throw new BundleStoreException($"{runId}: {f.Name}: SHA-256 of the uploaded bytes is {hash}, the manifest says {f.Sha256}");
            fs.Flush(flushToDisk: true);
        }

        if (verify is not null)
        {
            try
            {
                await verify(dir).ConfigureAwait(false);
            }
            catch
            {
                DeleteDirectory(dir); // refused: nothing of it stays
                throw;
            }
        }

        await WriteDurableAsync(Path.Combine(dir, BundleStoreNames.ManifestFile), BundleStoreNames.SerializeManifest(manifest), ct)
            .ConfigureAwait(false);

        var target = BundleDir(runId);
        if (Directory.Exists(target)) DeleteDirectory(target); // no manifest in it (checked above): not a stored bundle
        try
        {
            Directory.Move(dir, target);
        }
        catch (IOException) when (File.Exists(ManifestPath(runId)))
        {
            DeleteDirectory(dir); // another process stored the same run meanwhile
        }
    }

    public async Task AbortUploadAsync(string runId, CancellationToken ct = default)
    {
        BundleStoreNames.CheckRunId(runId);
        using var _ = await LockRunAsync(runId, ct).ConfigureAwait(false);
        DeleteDirectory(UploadDir(runId));
    }

    public async Task<int> ExpireUploadsAsync(TimeSpan olderThan, CancellationToken ct = default)
    {
        int expired = 0;
        var cutoff = DateTime.UtcNow - olderThan;
        foreach (var dir in Directory.EnumerateDirectories(_uploads))
        {
            var name = Path.GetFileName(dir);
            if (!BundleStoreNames.IsValidName(name)) continue;
            // The newest chunk says when the upload was last active.
            var last = Directory.EnumerateFiles(dir).Select(File.GetLastWriteTimeUtc).Append(Directory.GetLastWriteTimeUtc(dir)).Max();
            if (last >= cutoff) continue;
            if (name.Contains(".forgotten-", StringComparison.Ordinal)) { DeleteDirectory(dir); continue; }
            using var _ = await LockRunAsync(name, ct).ConfigureAwait(false);
            DeleteDirectory(dir);
            expired++;
        }
        return expired;
    }

    public async Task ForgetAsync(string runId, CancellationToken ct = default)
    {
        BundleStoreNames.CheckRunId(runId);
        using var _ = await LockRunAsync(runId, ct).ConfigureAwait(false);
        var dir = BundleDir(runId);
        if (!Directory.Exists(dir)) return;
        // Renamed aside first, so no reader sees a bundle directory half deleted.
        var gone = Path.Combine(_uploads, $"{runId}.forgotten-{Guid.NewGuid():N}");
        Directory.Move(dir, gone);
        DeleteDirectory(gone);
    }

    /// <summary>The store's own directory: nothing is evicted, so nothing needs holding.</summary>
    public async Task<BundleCopy> OpenAsync(string runId, CancellationToken ct = default) =>
        new(await MaterializeAsync(runId, ct).ConfigureAwait(false), hold: null);

    public async Task<string> MaterializeAsync(string runId, CancellationToken ct = default)
    {
        var manifest = await GetManifestAsync(runId, ct).ConfigureAwait(false)
                       ?? throw new BundleStoreException($"{runId}: not stored in {Location}");
        // Listed but damaged (a file deleted or cut short behind the store's back): the caller forgets the listing
        // so the bundle can be uploaded again, as the blob store's checked download does.
        var dir = BundleDir(runId);
        foreach (var f in manifest.Files)
        {
            var file = new FileInfo(Path.Combine(dir, f.Name));
            if (!file.Exists || file.Length != f.Length)
                throw new BundleStoreException($"{runId}: {f.Name} is {(file.Exists ? $"{file.Length} bytes, not {f.Length}" : "missing")} in {Location}");
        }
        return dir;
    }

    public async IAsyncEnumerable<BundleManifest> ListAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        foreach (var dir in Directory.EnumerateDirectories(_bundles))
        {
            ct.ThrowIfCancellationRequested();
            var runId = Path.GetFileName(dir);
            if (!BundleStoreNames.IsValidName(runId)) continue;
            BundleManifest? m;
            try
            {
                m = await GetManifestAsync(runId, ct).ConfigureAwait(false);
            }
            catch (BundleStoreException)
            {
                continue; // a broken manifest must not hide the other runs
            }
            if (m is not null) yield return m;
        }
    }

    public async Task PutReportAsync(string jobId, Func<Stream, CancellationToken, Task> write, CancellationToken ct = default)
    {
        BundleStoreNames.CheckJobId(jobId);
        await WriteDurableAsync(Path.Combine(_reports, jobId + ".json"), write, ct).ConfigureAwait(false);
    }

    public async Task<ReportChunk?> GetReportSliceAsync(string jobId, long offset, int maxBytes, CancellationToken ct = default)
    {
        BundleStoreNames.CheckJobId(jobId);
        FileStream fs;
        try
        {
            // A report is replaced by a rename, never rewritten in place: an open handle reads one whole version.
            fs = new FileStream(Path.Combine(_reports, jobId + ".json"), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete,
                0, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        await using (fs)
        {
            var data = new byte[ReportSlice.Length(jobId, offset, maxBytes, fs.Length)];
            fs.Position = offset;
            await fs.ReadExactlyAsync(data, ct).ConfigureAwait(false);
            return new ReportChunk(data, fs.Length);
        }
    }

    public async Task<byte[]?> GetReportAsync(string jobId, CancellationToken ct = default)
    {
        BundleStoreNames.CheckJobId(jobId);
        try
        {
            return await File.ReadAllBytesAsync(Path.Combine(_reports, jobId + ".json"), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Writes a temp file next to <paramref name="path"/>, flushes it to disk and renames it over the target.</summary>
    internal static Task WriteDurableAsync(string path, ReadOnlyMemory<byte> bytes, CancellationToken ct) =>
        WriteDurableAsync(path, (fs, c) => fs.WriteAsync(bytes, c).AsTask(), ct);

    /// <summary>Written beside the file, flushed to disk, then renamed over it: a crash leaves the old file or the new one.</summary>
    internal static async Task WriteDurableAsync(string path, Func<Stream, CancellationToken, Task> write, CancellationToken ct)
    {
        var tmp = $"{path}.tmp-{Guid.NewGuid():N}";
        try
        {
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await write(fs, ct).ConfigureAwait(false);
                await fs.FlushAsync(ct).ConfigureAwait(false);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    static void DeleteDirectory(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>Writes, commits and aborts of one run exclude each other, also across processes sharing the root.</summary>
    Task<IDisposable> LockRunAsync(string runId, CancellationToken ct) => _runLocks.AcquireAsync(runId, ct);
}
