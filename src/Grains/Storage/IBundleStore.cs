namespace Magneton.Grains.Storage;

/// <summary>
/// Where a cluster keeps uploaded capture bundles and finished reports: a local directory on one machine
/// (<c>--storage-dir</c>), Azure Blob storage (Azurite locally) in a cluster (<c>--blob-connection</c>).
/// A bundle is written in chunks, then committed; the manifest is written last, so a bundle whose manifest
/// exists is complete. Every operation is idempotent: a retried chunk or commit changes nothing.
/// Transient storage failures are retried with backoff inside the store; what still fails surfaces as the
/// storage client's exception. Problems with the data itself (lengths that do not add up, an unknown file)
/// throw <see cref="BundleStoreException"/>.
/// </summary>
public interface IBundleStore
{
    /// <summary>Where the store is, for logs and <c>magneton runs</c> ("directory /srv/magneton", "blob http://…/magneton").</summary>
    string Location { get; }

    /// <summary>The manifest of a complete (committed) bundle, or null if the run is not stored.</summary>
    Task<BundleManifest?> GetManifestAsync(string runId, CancellationToken ct = default);

    /// <summary>
    /// Writes bytes [offset, offset + data.Length) of one bundle file of an upload in progress. Chunks of a file
    /// may arrive more than once (retries) but are written in increasing offset order.
    /// </summary>
    Task WriteChunkAsync(string runId, string file, long offset, ReadOnlyMemory<byte> data, CancellationToken ct = default);

    /// <summary>
    /// Makes the uploaded chunks the stored bundle: checks that every file of the manifest was written with
    /// exactly its length and hash, lets <paramref name="verify"/> read the complete files in a local directory
    /// (the bundle reader: a bundle it refuses is dropped, nothing is listed), then writes the manifest.
    /// Committing a run that is already stored does nothing.
    /// </summary>
    Task CommitAsync(BundleManifest manifest, Func<string, Task>? verify = null, CancellationToken ct = default);

    /// <summary>
    /// Drops uploads begun before <paramref name="olderThan"/> ago and never committed (a client that went away);
    /// returns how many. Stored bundles are not touched.
    /// </summary>
    Task<int> ExpireUploadsAsync(TimeSpan olderThan, CancellationToken ct = default);

    /// <summary>Drops the chunks of an upload that will not be committed (a restarted or abandoned upload).</summary>
    Task AbortUploadAsync(string runId, CancellationToken ct = default);

    /// <summary>
    /// A local directory holding the complete bundle, ready for <c>BundleReader.Read</c>: the store's own
    /// directory for a directory store, a download cache (filled atomically) for blobs.
    /// Throws <see cref="BundleStoreException"/> if the run is not stored.
    /// </summary>
    Task<string> MaterializeAsync(string runId, CancellationToken ct = default);

    /// <summary>
    /// <see cref="MaterializeAsync"/>, held until the result is disposed: what an ingest reads through, so that a
    /// bounded download cache (<see cref="BlobBundleStore"/>) never evicts a bundle while it is being read.
    /// </summary>
    Task<BundleCopy> OpenAsync(string runId, CancellationToken ct = default);

    /// <summary>
    /// Drops a stored bundle whose files turned out missing or damaged (its manifest first, so it is no longer
    /// listed), so that it can be uploaded again. Nothing happens for a run that is not stored.
    /// </summary>
    Task ForgetAsync(string runId, CancellationToken ct = default);

    /// <summary>The manifests of all stored bundles, in no particular order.</summary>
    IAsyncEnumerable<BundleManifest> ListAsync(CancellationToken ct = default);

    /// <summary>
    /// Stores a finished report (the JSON the CLI writes) under the job id, written by <paramref name="write"/> into the
    /// store's stream, so that it is never held whole (at a million operators a side it is hundreds of MB, and a byte
    /// array of it with its growth took 1.2 GB of the job's silo). Overwrites; a reader sees the old report or the new
    /// one, never part of it. <paramref name="write"/> may be called again when a try fails.
    /// </summary>
    Task PutReportAsync(string jobId, Func<Stream, CancellationToken, Task> write, CancellationToken ct = default);

    /// <summary>Stores a finished report's bytes under the job id; overwrites.</summary>
    Task PutReportAsync(string jobId, ReadOnlyMemory<byte> json, CancellationToken ct = default) =>
        PutReportAsync(jobId, (stream, c) => stream.WriteAsync(json, c).AsTask(), ct);

    /// <summary>A stored report's bytes, or null.</summary>
    Task<byte[]?> GetReportAsync(string jobId, CancellationToken ct = default);

    /// <summary>
    /// Up to <paramref name="maxBytes"/> of a stored report from <paramref name="offset"/> (0 .. its length), with the
    /// report's length; null when there is no such report.
    /// </summary>
    Task<ReportChunk?> GetReportSliceAsync(string jobId, long offset, int maxBytes, CancellationToken ct = default);
}

/// <summary>The stored data does not fit its manifest (or is not there): bad input, not a bug. One line.</summary>
public sealed class BundleStoreException(string message) : Exception(message);
