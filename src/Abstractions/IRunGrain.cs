namespace Magneton.Grains;

/// <summary>
/// One capture bundle (key: run id). The run model itself stays in the silo-local <see cref="RunCache"/>; the
/// grain keeps where the bundle is and its summary. Bundles reach a cluster's store through the upload calls:
/// <see cref="BeginUpload"/>, <see cref="UploadChunk"/> in file order, <see cref="CompleteUpload"/>.
/// </summary>
[Alias("Magneton.IRunGrain")]
public interface IRunGrain : IGrainWithStringKey
{
    /// <summary>Reads and models the bundle (once per silo). Throws <see cref="MagnetonInputException"/> for bad input.</summary>
    [Alias("Ingest"), ResponseTimeout("00:10:00")] Task<RunSummary> Ingest(RunRef run, CancellationToken cancellationToken = default);

    /// <summary>The summary of the last successful ingest; throws InvalidOperationException if there was none.</summary>
    [RequiresRole(ClusterRoles.Read | ClusterRoles.Work)] [Alias("GetSummary")] Task<RunSummary> GetSummary();

    /// <summary>The manifest of the stored bundle, or null if this run is not in the cluster's store.</summary>
    [RequiresRole(ClusterRoles.Read | ClusterRoles.Submit | ClusterRoles.Work)] [Alias("GetManifest")] Task<BundleManifest?> GetManifest();

    /// <summary>
    /// Announces an upload. Returns true when the store already holds this bundle (nothing to send). Refuses
    /// (MagnetonInputException) a manifest whose id does not match its files, unknown files, or oversized files.
    /// </summary>
    [RequiresRole(ClusterRoles.Submit | ClusterRoles.Work)] [Alias("BeginUpload")] Task<bool> BeginUpload(BundleManifest manifest);

    /// <summary>Bytes of one file at an offset; chunks of a file come in order (a repeated chunk is ignored).</summary>
    [RequiresRole(ClusterRoles.Submit | ClusterRoles.Work)] [Alias("UploadChunk"), ResponseTimeout("00:01:00")] Task UploadChunk(string file, long offset, byte[] data);

    /// <summary>Checks lengths and SHA-256 of every file, commits the bundle to the store and ingests it.</summary>
    /// <remarks>Hashes, reads and ingests the whole bundle: minutes for the largest, hence its own timeout.</remarks>
    [RequiresRole(ClusterRoles.Submit | ClusterRoles.Work)] [Alias("CompleteUpload"), ResponseTimeout("00:10:00")] Task<RunSummary> CompleteUpload();
}

/// <summary>Stored bundles, as the cluster's store lists them (any silo answers).</summary>
[Alias("Magneton.ICatalogGrain")]
public interface ICatalogGrain : IGrainWithIntegerKey
{
    [RequiresRole(ClusterRoles.Read)] [Alias("ListRuns")] Task<BundleManifest[]> ListRuns();

    /// <summary>Where the cluster keeps bundles ("directory …", "blob …"), or null for a silo without a store.</summary>
    [RequiresRole(ClusterRoles.Read)] [Alias("StoreLocation")] Task<string?> StoreLocation();
}

public static class UploadLimits
{
    /// <summary>Bytes per <see cref="IRunGrain.UploadChunk"/> call: well under Orleans' message size limit.</summary>
    public const int ChunkBytes = 4 * 1024 * 1024;
}
