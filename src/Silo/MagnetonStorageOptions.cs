namespace Magneton.Silo;

/// <summary>
/// Where a silo keeps bundles, reports and grain state. Neither set: memory grain state and no bundle store
/// (the embedded CLI silo, which reads bundles from local paths). <see cref="Directory"/>: everything under one
/// local directory. <see cref="BlobConnectionString"/>: Azure Blob storage (Azurite locally).
/// </summary>
public sealed record MagnetonStorageOptions
{
    public string? Directory { get; init; }
    public string? BlobConnectionString { get; init; }
    /// <summary>Blob container of bundles and reports; grain state goes to "&lt;Container&gt;-state".</summary>
    public string Container { get; init; } = "magneton";
    /// <summary>Where blob bundles are downloaded for reading; default: the temp directory's magneton-cache.</summary>
    public string? CacheDirectory { get; init; }
    /// <summary>What that cache may hold (null: <c>BlobBundleStore.DefaultCacheMaxBytes</c>, 16 GiB).</summary>
    public long? CacheMaxBytes { get; init; }
    /// <summary>
    /// Local directories whose bundles a silo with a store still reads by path (<c>--allow-path</c>, development);
    /// with a store and none of these, a bundle named by a local path is refused.
    /// </summary>
    public IReadOnlyList<string> AllowedPaths { get; init; } = [];
}
