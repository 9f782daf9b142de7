using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace Magneton.Grains.Storage;

/// <summary>
/// Bundles and reports in one Azure Blob container (Azurite locally, <c>--blob-connection</c>):
/// <code>
/// bundles/&lt;runId&gt;/&lt;file&gt;          block blobs; every chunk is one block whose id encodes its offset
/// bundles/&lt;runId&gt;/manifest.json  written last, after every file's block list was committed
/// reports/&lt;jobId&gt;.json
/// </code>
/// A chunk staged twice (a retry) replaces the same block, so chunks are idempotent; a commit orders each file's
/// uncommitted blocks by offset, checks they cover [0, length) without a gap, commits them and then writes the
/// manifest (only if there is none yet). Bundles are read from a local download cache
/// (<c>&lt;cacheDirectory&gt;/&lt;runId&gt;</c>) that is filled in a temp directory, checked against the manifest
/// (length and SHA-256) and renamed into place, and bounded (<see cref="CacheMaxBytes"/>). Transient failures (Azurite restarting, a dropped connection)
/// are retried by the client's retry policy (<see cref="CreateClientOptions"/>).
/// </summary>
public sealed partial class BlobBundleStore : IBundleStore
{
    /// <summary>The service version Azurite 3.37.0 accepts (the SDK's default, 2026-10-06, is newer).</summary>
    public const BlobClientOptions.ServiceVersion ServiceVersion = BlobClientOptions.ServiceVersion.V2026_06_06;

    const string BundlesPrefix = "bundles/";
    const string ReportsPrefix = "reports/";
    const string BlockIdPrefix = "o";
    const string OffsetFormat = "D19"; // fixed width: every block id of a blob must have the same length

    readonly BlobContainerClient _container;
    readonly ConcurrentDictionary<string, SemaphoreSlim> _materializeLocks = new(StringComparer.Ordinal);
    readonly object _ensureLock = new();
    Task? _ensured;

    /// <param name="cacheMaxBytes">what the download cache may hold; past it, the least recently opened bundles that
    /// nobody holds are deleted (null: <see cref="DefaultCacheMaxBytes"/>)</param>
    public BlobBundleStore(BlobServiceClient client, string container, string cacheDirectory, long? cacheMaxBytes = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        CheckContainerName(container);
        ArgumentException.ThrowIfNullOrWhiteSpace(cacheDirectory);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cacheMaxBytes ?? 1, nameof(cacheMaxBytes));
        _container = client.GetBlobContainerClient(container);
        CacheDirectory = Path.GetFullPath(cacheDirectory);
        CacheMaxBytes = cacheMaxBytes ?? DefaultCacheMaxBytes;
    }

    static string BundleBlob(string runId, string file) => $"{BundlesPrefix}{runId}/{file}";
    static string ManifestBlob(string runId) => BundleBlob(runId, BundleStoreNames.ManifestFile);
    static string ReportBlob(string jobId) => $"{ReportsPrefix}{jobId}.json";

    /// <summary>The block id of the chunk at <paramref name="offset"/>: base64 of "o" and 19 decimal digits.</summary>
    public static string BlockIdOf(long offset) =>
        Convert.ToBase64String(Encoding.ASCII.GetBytes(BlockIdPrefix + offset.ToString(OffsetFormat, CultureInfo.InvariantCulture)));

    static bool TryParseBlockId(string blockId, out long offset)
    {
        offset = -1;
        Span<byte> bytes = stackalloc byte[64];
        if (!Convert.TryFromBase64String(blockId, bytes, out var n) || n != 20 || bytes[0] != (byte)'o') return false;
        return long.TryParse(Encoding.ASCII.GetString(bytes[1..n]), NumberStyles.None, CultureInfo.InvariantCulture, out offset);
    }

    Task EnsureContainerAsync(CancellationToken ct)
    {
        lock (_ensureLock)
        {
            if (_ensured is { IsFaulted: false, IsCanceled: false }) return _ensured;
            return _ensured = _container.CreateIfNotExistsAsync(cancellationToken: ct);
        }
    }

    /// <summary>
    /// A write to the container. A server that lost the container (an Azurite killed -9 forgets its last seconds of
    /// writes, the container's creation among them) answers ContainerNotFound; without forgetting that the container
    /// was made, every later write would fail the same way. The error still reaches the caller, whose retry then
    /// creates the container again.
    /// </summary>
    async Task WriteAsync(Func<Task> write, CancellationToken ct)
    {
        await EnsureContainerAsync(ct).ConfigureAwait(false);
        try
        {
            await write().ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.ErrorCode == BlobErrorCode.ContainerNotFound)
        {
            lock (_ensureLock) _ensured = null;
            throw;
        }
    }

    public async Task<BundleManifest?> GetManifestAsync(string runId, CancellationToken ct = default)
    {
        BundleStoreNames.CheckRunId(runId);
        await EnsureContainerAsync(ct).ConfigureAwait(false);
        var bytes = await TryDownloadAsync(_container.GetBlobClient(ManifestBlob(runId)), ct).ConfigureAwait(false);
        return bytes is null ? null : BundleStoreNames.DeserializeManifest(bytes, $"{Location}/{ManifestBlob(runId)}");
    }

    public async Task WriteChunkAsync(string runId, string file, long offset, ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        BundleStoreNames.CheckRunId(runId);
        BundleStoreNames.CheckFileName(file);
        if (offset < 0) throw new BundleStoreException($"{runId}: {file}: negative chunk offset {offset}");
        if (data.IsEmpty) return; // an empty file has no blocks; the commit creates it empty
        var blob = _container.GetBlockBlobClient(BundleBlob(runId, file));
        await WriteAsync(async () =>
        {
            // BinaryData's stream is seekable, so the retry policy can send the same bytes again.
            using var content = BinaryData.FromBytes(data).ToStream();
            await blob.StageBlockAsync(BlockIdOf(offset), content, new BlockBlobStageBlockOptions(), ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    public Task CommitAsync(BundleManifest manifest, Func<string, Task>? verify = null, CancellationToken ct = default)
    {
        BundleStoreNames.CheckManifest(manifest);
        return WriteAsync(() => CommitCheckedAsync(manifest, verify, ct), ct);
    }

    async Task CommitCheckedAsync(BundleManifest manifest, Func<string, Task>? verify, CancellationToken ct)
    {
        var runId = manifest.RunId;
        var manifestBlob = _container.GetBlobClient(ManifestBlob(runId));
        if (await manifestBlob.ExistsAsync(ct).ConfigureAwait(false)) return;

        // Nothing is committed until every file checks out, so a bad commit leaves the upload as it was.
        var plan = new List<(BlockBlobClient Blob, List<string>? Blocks)>();
        var expected = manifest.Files.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        await foreach (var item in _container.GetBlobsAsync(
                           new GetBlobsOptions { Prefix = $"{BundlesPrefix}{runId}/", States = BlobStates.Uncommitted }, ct)
                           .ConfigureAwait(false))
        {
            var name = item.Name[(BundlesPrefix.Length + runId.Length + 1)..];
            if (!expected.Contains(name) && name != BundleStoreNames.ManifestFile)
                throw new BundleStoreException($"{runId}: {BundleStoreNames.Printable(name)}: uploaded but not in the manifest");
        }
        foreach (var f in manifest.Files)
            plan.Add(await PlanFileAsync(runId, f, ct).ConfigureAwait(false));

        foreach (var (blob, blocks) in plan)
            if (blocks is not null)
                await blob.CommitBlockListAsync(blocks, new CommitBlockListOptions(), ct).ConfigureAwait(false);

        if (verify is not null)
        {
            // The reader needs files: the committed blobs, downloaded and checked, into a scratch directory.
            var scratch = Path.Combine(CacheDirectory, $"{runId}.verify-{Guid.NewGuid():N}");
            Directory.CreateDirectory(scratch);
            try
            {
                foreach (var f in manifest.Files)
                    await DownloadCheckedAsync(runId, f, Path.Combine(scratch, f.Name), ct).ConfigureAwait(false);
                try
                {
                    await verify(scratch).ConfigureAwait(false);
                }
                catch
                {
                    await ForgetAsync(runId, ct).ConfigureAwait(false); // refused: nothing of it stays
                    throw;
                }
            }
            finally
            {
                try { Directory.Delete(scratch, recursive: true); } catch (IOException) { }
            }
        }

        try
        {
            await manifestBlob.UploadAsync(BinaryData.FromBytes(BundleStoreNames.SerializeManifest(manifest)),
                new BlobUploadOptions
                {
                    Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
                    HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" },
                }, ct).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            // Stored meanwhile (another commit of the same run), or our own first try got through and its
            // answer was lost: either way the run is stored.
        }
    }

    /// <summary>
    /// The block list to commit for one file (null: the file is committed already with the right length).
    /// Throws <see cref="BundleStoreException"/> when the uploaded blocks do not make exactly the manifest's length.
    /// </summary>
    async Task<(BlockBlobClient, List<string>?)> PlanFileAsync(string runId, BundleFileEntry f, CancellationToken ct)
    {
        var blob = _container.GetBlockBlobClient(BundleBlob(runId, f.Name));
        BlockList list;
        try
        {
            list = (await blob.GetBlockListAsync(BlockListTypes.All, cancellationToken: ct).ConfigureAwait(false)).Value;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            if (f.Length == 0) return (blob, []);
            throw new BundleStoreException($"{runId}: {f.Name}: not uploaded (the manifest says {f.Length} bytes)");
        }

        var uncommitted = list.UncommittedBlocks?.ToList() ?? [];
        if (uncommitted.Count == 0)
        {
            // Committed by an earlier commit that stopped before the manifest, or an empty file.
            var committed = list.CommittedBlocks?.Sum(b => b.SizeLong) ?? 0;
            if (committed == f.Length) return (blob, list.CommittedBlocks?.Any() == true ? null : []);
            throw new BundleStoreException($"{runId}: {f.Name}: {committed} bytes uploaded, the manifest says {f.Length}");
        }

        var blocks = new Dictionary<long, (string Id, long Size)>();
        long written = 0;
        foreach (var b in uncommitted)
        {
            if (!TryParseBlockId(b.Name, out var offset))
                throw new BundleStoreException($"{runId}: {f.Name}: block '{BundleStoreNames.Printable(b.Name)}' was not written by a Magneton store");
            blocks[offset] = (b.Name, b.SizeLong);
            written = Math.Max(written, offset + b.SizeLong);
        }
        if (written != f.Length)
            throw new BundleStoreException($"{runId}: {f.Name}: {written} bytes uploaded, the manifest says {f.Length}");

        var ids = new List<string>();
        for (long pos = 0; pos < f.Length;)
        {
            if (!blocks.TryGetValue(pos, out var block) || block.Size <= 0)
                throw new BundleStoreException($"{runId}: {f.Name}: no chunk starts at offset {pos} (a chunk is missing)");
            ids.Add(block.Id);
            pos += block.Size;
            if (pos > f.Length)
                throw new BundleStoreException($"{runId}: {f.Name}: chunks overlap the end at offset {pos} (the manifest says {f.Length} bytes)");
        }
        return (blob, ids);
    }

    public Task AbortUploadAsync(string runId, CancellationToken ct = default)
    {
        BundleStoreNames.CheckRunId(runId);
        // Deletes are writes: the listing is often the first call to find the container lost (an upload starting over).
        return WriteAsync(() => AbortCheckedAsync(runId, ct), ct);
    }

    async Task AbortCheckedAsync(string runId, CancellationToken ct)
    {
        if (await _container.GetBlobClient(ManifestBlob(runId)).ExistsAsync(ct).ConfigureAwait(false)) return; // stored: keep
        var names = new List<string>();
        await foreach (var item in _container.GetBlobsAsync(
                           new GetBlobsOptions { Prefix = $"{BundlesPrefix}{runId}/", States = BlobStates.Uncommitted }, ct)
                           .ConfigureAwait(false))
            names.Add(item.Name);
        foreach (var name in names)
        {
            var blob = _container.GetBlockBlobClient(name);
            // A blob with only uncommitted blocks cannot be deleted: committing an empty list drops its blocks.
            await blob.CommitBlockListAsync([], new CommitBlockListOptions(), ct).ConfigureAwait(false);
            await blob.DeleteIfExistsAsync(cancellationToken: ct).ConfigureAwait(false);
        }
    }

    public async Task<int> ExpireUploadsAsync(TimeSpan olderThan, CancellationToken ct = default)
    {
        int expired = 0;
        await WriteAsync(async () => expired = await ExpireCheckedAsync(olderThan, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
        return expired;
    }

    async Task<int> ExpireCheckedAsync(TimeSpan olderThan, CancellationToken ct)
    {
        var cutoff = DateTimeOffset.UtcNow - olderThan;
        // Runs with blobs (the listing includes uncommitted ones), and when their newest blob changed.
        var uploads = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        await foreach (var item in _container.GetBlobsAsync(
                           new GetBlobsOptions { Prefix = BundlesPrefix, States = BlobStates.Uncommitted }, ct).ConfigureAwait(false))
        {
            var rest = item.Name[BundlesPrefix.Length..];
            var slash = rest.IndexOf('/');
            if (slash <= 0) continue;
            var runId = rest[..slash];
            var changed = item.Properties.LastModified ?? item.Properties.CreatedOn ?? DateTimeOffset.MaxValue; // unknown: kept
            uploads[runId] = uploads.TryGetValue(runId, out var seen) && seen > changed ? seen : changed;
        }
        int expired = 0;
        foreach (var (runId, changed) in uploads)
        {
            if (changed >= cutoff || !BundleStoreNames.IsValidName(runId)) continue;
            if (await _container.GetBlobClient(ManifestBlob(runId)).ExistsAsync(ct).ConfigureAwait(false)) continue; // stored
            await AbortUploadAsync(runId, ct).ConfigureAwait(false);
            expired++;
        }
        return expired;
    }

    public async Task ForgetAsync(string runId, CancellationToken ct = default)
    {
        BundleStoreNames.CheckRunId(runId);
        await WriteAsync(async () =>
        {
            await _container.GetBlobClient(ManifestBlob(runId)).DeleteIfExistsAsync(cancellationToken: ct).ConfigureAwait(false);
            var names = new List<string>();
            await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = $"{BundlesPrefix}{runId}/" }, ct).ConfigureAwait(false))
                names.Add(item.Name);
            foreach (var name in names)
                await _container.GetBlobClient(name).DeleteIfExistsAsync(cancellationToken: ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        try { Directory.Delete(Path.Combine(CacheDirectory, runId), recursive: true); } catch (DirectoryNotFoundException) { }
    }

    public async IAsyncEnumerable<BundleManifest> ListAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await EnsureContainerAsync(ct).ConfigureAwait(false);
        var manifests = new List<string>();
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = BundlesPrefix }, ct).ConfigureAwait(false))
        {
            var rest = item.Name.AsSpan(BundlesPrefix.Length);
            var slash = rest.IndexOf('/');
            if (slash > 0 && rest[(slash + 1)..].SequenceEqual(BundleStoreNames.ManifestFile)
                          && BundleStoreNames.IsValidName(rest[..slash].ToString()))
                manifests.Add(item.Name);
        }
        foreach (var name in manifests)
        {
            var bytes = await TryDownloadAsync(_container.GetBlobClient(name), ct).ConfigureAwait(false);
            if (bytes is null) continue;
            BundleManifest m;
            try
            {
                m = BundleStoreNames.DeserializeManifest(bytes, $"{Location}/{name}");
            }
            catch (BundleStoreException)
            {
                continue; // a broken manifest must not hide the other runs
            }
            yield return m;
        }
    }

    public async Task PutReportAsync(string jobId, Func<Stream, CancellationToken, Task> write, CancellationToken ct = default)
    {
        BundleStoreNames.CheckJobId(jobId);
        await WriteAsync(async () =>
        {
            // Staged block by block and committed at the end: readers see the old report until then.
            await using var stream = new BlockStagingStream(_container.GetBlockBlobClient(ReportBlob(jobId)));
            await write(stream, ct).ConfigureAwait(false);
            await stream.CommitAsync(new BlobHttpHeaders { ContentType = "application/json" }, ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    public async Task<ReportChunk?> GetReportSliceAsync(string jobId, long offset, int maxBytes, CancellationToken ct = default)
    {
        BundleStoreNames.CheckJobId(jobId);
        await EnsureContainerAsync(ct).ConfigureAwait(false);
        var blob = _container.GetBlobClient(ReportBlob(jobId));
        try
        {
            var properties = (await blob.GetPropertiesAsync(cancellationToken: ct).ConfigureAwait(false)).Value;
            int count = ReportSlice.Length(jobId, offset, maxBytes, properties.ContentLength);
            if (count == 0) return new ReportChunk([], properties.ContentLength);
            // The version measured above, or a failed call (retried by the caller), never a slice of a newer one.
            var slice = await blob.DownloadContentAsync(new BlobDownloadOptions
            {
                Range = new HttpRange(offset, count),
                Conditions = new BlobRequestConditions { IfMatch = properties.ETag },
            }, ct).ConfigureAwait(false);
            return new ReportChunk(slice.Value.Content.ToArray(), properties.ContentLength);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<byte[]?> GetReportAsync(string jobId, CancellationToken ct = default)
    {
        BundleStoreNames.CheckJobId(jobId);
        await EnsureContainerAsync(ct).ConfigureAwait(false);
        return await TryDownloadAsync(_container.GetBlobClient(ReportBlob(jobId)), ct).ConfigureAwait(false);
    }

    static async Task<byte[]?> TryDownloadAsync(BlobClient blob, CancellationToken ct)
    {
        try
        {
            var result = await blob.DownloadContentAsync(ct).ConfigureAwait(false);
            return result.Value.Content.ToArray();
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }
}
