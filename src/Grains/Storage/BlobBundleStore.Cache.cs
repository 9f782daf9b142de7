using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs.Models;

namespace Magneton.Grains.Storage;

/// <summary>
/// The local download cache a silo reads bundles from: filled in a temp directory, checked against the manifest
/// (length and SHA-256) and renamed into place, so a reader never sees a half-written bundle. Bounded: once a download
/// takes it past <see cref="CacheMaxBytes"/>, the least recently opened bundles go, except those held. A hold is a
/// shared advisory lock (flock, through FileShare) on <c>.locks/&lt;runId&gt;</c>, taken before the bundle is looked
/// for and kept while it is read (<see cref="OpenAsync"/>); eviction takes it exclusively or leaves the bundle. It
/// works across processes, so silos of one machine may share a cache directory.
/// </summary>
public sealed partial class BlobBundleStore
{
    const string LocksDirectory = ".locks";
    static readonly Lock EvictionGate = new();

    public async Task<BundleCopy> OpenAsync(string runId, CancellationToken ct = default)
    {
        BundleStoreNames.CheckRunId(runId);
        var hold = await HoldAsync(runId, ct).ConfigureAwait(false);
        try
        {
            var dir = await MaterializeAsync(runId, ct).ConfigureAwait(false);
            Directory.SetLastWriteTimeUtc(dir, DateTime.UtcNow); // recency, for eviction
            return new BundleCopy(dir, hold);
        }
        catch
        {
            hold.Dispose();
            throw;
        }
    }

    /// <summary>The shared lock; retried while an eviction holds it exclusively (for the length of a rename).</summary>
    async Task<FileStream> HoldAsync(string runId, CancellationToken ct)
    {
        var path = LockPath(runId);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                // Read-only with sharing: .NET takes flock(LOCK_SH) for it, which any number of readers may hold.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite);
            }
            catch (IOException) when (attempt < 500)
            {
                await Task.Delay(10, ct).ConfigureAwait(false);
            }
        }
    }

    string LockPath(string runId) => Path.Combine(CacheDirectory, LocksDirectory, runId);

    /// <summary>
    /// Deletes the least recently opened bundles that nobody holds until the cache is within its bound, never
    /// <paramref name="keep"/> (the one just downloaded). A bundle is renamed aside while its lock is held
    /// exclusively, then deleted; a lock file stays (an empty file), so a reader never locks a file that is gone.
    /// </summary>
    void EvictBeyondLimit(string keep)
    {
        try
        {
            Evict(keep);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the bundle just downloaded is in place; another process may be changing the cache meanwhile.
        }
    }

    void Evict(string keep)
    {
        lock (EvictionGate)
        {
            // Renamed aside to be deleted (here or by MaterializeAsync): what a process that died meanwhile left.
            foreach (var stale in Directory.EnumerateDirectories(CacheDirectory, "*.stale-*"))
                try { Directory.Delete(stale, recursive: true); } catch (IOException) { }
            var bundles = new DirectoryInfo(CacheDirectory).EnumerateDirectories()
                .Where(d => d.Name != keep && BundleStoreNames.IsValidName(d.Name) && !d.Name.StartsWith('.')
                            && File.Exists(Path.Combine(d.FullName, BundleStoreNames.ManifestFile)) && !IsScratch(d.Name))
                .Select(d => (Dir: d, Bytes: SizeOf(d.FullName)))
                .OrderBy(b => b.Dir.LastWriteTimeUtc)
                .ToList();
            long total = bundles.Sum(b => b.Bytes) + SizeOf(Path.Combine(CacheDirectory, keep));
            foreach (var (dir, bytes) in bundles)
            {
                if (total <= CacheMaxBytes) return;
                string? aside = null;
                try
                {
                    using (new FileStream(LockPath(dir.Name), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
                    {
                        aside = $"{dir.FullName}.stale-{Guid.NewGuid():N}";
                        dir.MoveTo(aside);
                    }
                }
                catch (IOException)
                {
                    continue; // held by a reader (or gone meanwhile)
                }
                total -= bytes;
                try { Directory.Delete(aside, recursive: true); } catch (IOException) { }
            }
        }
    }

    static bool IsScratch(string name) =>
        name.Contains(".tmp-", StringComparison.Ordinal) || name.Contains(".stale-", StringComparison.Ordinal)
        || name.Contains(".verify-", StringComparison.Ordinal);

    /// <summary>0 for a directory that is gone (another process evicted it meanwhile).</summary>
    static long SizeOf(string dir)
    {
        try
        {
            return new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        }
        catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
        {
            return 0;
        }
    }

    public async Task<string> MaterializeAsync(string runId, CancellationToken ct = default)
    {
        BundleStoreNames.CheckRunId(runId);
        var sem = _materializeLocks.GetOrAdd(runId, _ => new SemaphoreSlim(1, 1));
        await sem.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var manifest = await GetManifestAsync(runId, ct).ConfigureAwait(false)
                           ?? throw new BundleStoreException($"{runId}: not stored in {Location}");
            var final = Path.Combine(CacheDirectory, runId);
            if (IsComplete(final, manifest)) return final;

            Directory.CreateDirectory(CacheDirectory);
            var tmp = Path.Combine(CacheDirectory, $"{runId}.tmp-{Guid.NewGuid():N}");
            Directory.CreateDirectory(tmp);
            try
            {
                foreach (var f in manifest.Files)
                    await DownloadCheckedAsync(runId, f, Path.Combine(tmp, f.Name), ct).ConfigureAwait(false);
                await DirectoryBundleStore.WriteDurableAsync(Path.Combine(tmp, BundleStoreNames.ManifestFile),
                    BundleStoreNames.SerializeManifest(manifest), ct).ConfigureAwait(false);

                if (Directory.Exists(final))
                {
                    if (IsComplete(final, manifest))
                    {
                        Directory.Delete(tmp, recursive: true); // another process filled it meanwhile
                        return final;
                    }
                    // Incomplete or damaged: move it aside first, so a reader never sees it half deleted.
                    var stale = $"{final}.stale-{Guid.NewGuid():N}";
                    try
                    {
                        Directory.Move(final, stale);
                        Directory.Delete(stale, recursive: true);
                    }
                    catch (IOException)
                    {
                    }
                }
                try
                {
                    Directory.Move(tmp, final);
                }
                catch (IOException) when (IsComplete(final, manifest))
                {
                    Directory.Delete(tmp, recursive: true); // another process filled it meanwhile
                }
                EvictBeyondLimit(keep: runId);
                return final;
            }
            catch
            {
                try { if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true); } catch (IOException) { }
                throw;
            }
        }
        finally
        {
            sem.Release();
        }
    }

    static bool IsComplete(string dir, BundleManifest manifest)
    {
        if (!File.Exists(Path.Combine(dir, BundleStoreNames.ManifestFile))) return false;
        foreach (var f in manifest.Files)
        {
            var info = new FileInfo(Path.Combine(dir, f.Name));
            if (!info.Exists || info.Length != f.Length) return false;
        }
        return true;
    }

    async Task DownloadCheckedAsync(string runId, BundleFileEntry f, string path, CancellationToken ct)
    {
        var blob = _container.GetBlobClient(BundleBlob(runId, f.Name));
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long length = 0;
        await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous))
        {
            if (f.Length > 0)
            {
                BlobDownloadStreamingResult download;
                try
                {
                    download = (await blob.DownloadStreamingAsync(cancellationToken: ct).ConfigureAwait(false)).Value;
                }
                catch (RequestFailedException e) when (e.Status == 404)
                {
                    throw new BundleStoreException($"{runId}: {f.Name}: listed in the manifest but missing from {Location}");
                }
                using (download)
                {
                    var buffer = new byte[1 << 20];
                    int n;
                    while ((n = await download.Content.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                    {
                        sha.AppendData(buffer, 0, n);
                        await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                        length += n;
                    }
                }
            }
            file.Flush(flushToDisk: true);
        }
        if (length != f.Length)
            throw new BundleStoreException($"{runId}: {f.Name}: {length} bytes stored, the manifest says {f.Length}");
        var hash = Convert.ToHexStringLower(sha.GetHashAndReset());
        if (hash != f.Sha256)
            throw new BundleStoreException($"{runId}: {f.Name}: SHA-256 of the stored bytes is {hash}, the manifest says {f.Sha256}");
    }
}
