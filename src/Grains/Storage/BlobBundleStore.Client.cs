using Azure.Core;
using Azure.Storage.Blobs;

namespace Magneton.Grains.Storage;

/// <summary>How a blob store is made: the client settings every Magneton blob client shares, and container names.</summary>
public sealed partial class BlobBundleStore
{
    /// <summary>
    /// A store on the account of <paramref name="connectionString"/> with Magneton's client settings
    /// (<see cref="CreateServiceClient"/>); <paramref name="cacheDirectory"/> defaults to
    /// <see cref="DefaultCacheDirectory"/>.
    /// </summary>
    public static BlobBundleStore Create(string connectionString, string container, string? cacheDirectory, long? cacheMaxBytes = null) =>
        new(CreateServiceClient(connectionString), container, cacheDirectory ?? DefaultCacheDirectory, cacheMaxBytes);

    /// <summary>The temp directory's magneton-cache.</summary>
    public static string DefaultCacheDirectory => Path.Combine(Path.GetTempPath(), "magneton-cache");

    /// <summary>
    /// The client options every Magneton blob client uses (bundle store and grain storage): service version
    /// <see cref="ServiceVersion"/>, and exponential retries (16 retries, 0.25 s doubling up to 4 s, about 50 s
    /// in all, 30 s per try) that ride out a storage server restart: 20 s was too short for an Azurite restart
    /// on a loaded 2-core machine.
    /// </summary>
    public static BlobClientOptions CreateClientOptions()
    {
        var options = new BlobClientOptions(ServiceVersion);
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = 16;
        options.Retry.Delay = TimeSpan.FromSeconds(0.25);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(4);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(30);
        return options;
    }

    /// <summary>A <see cref="BlobServiceClient"/> with <see cref="CreateClientOptions"/>.</summary>
    public static BlobServiceClient CreateServiceClient(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return new BlobServiceClient(connectionString, CreateClientOptions());
    }

    /// <summary>Azure's container name rules: 3-63 characters of a-z, 0-9 and single inner hyphens.</summary>
    public static bool IsValidContainerName(string? name) =>
        name is { Length: >= 3 and <= 63 }
        && name.All(c => c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-')
        && name[0] != '-' && name[^1] != '-' && !name.Contains("--", StringComparison.Ordinal);

    public static void CheckContainerName(string? name)
    {
        if (!IsValidContainerName(name))
            throw new ArgumentException(
                $"invalid blob container name '{BundleStoreNames.Printable(name)}': use 3-63 characters of a-z, 0-9 and single hyphens inside");
    }

    public BlobContainerClient Container => _container;
    public string CacheDirectory { get; }
    public long CacheMaxBytes { get; }

    /// <summary>16 GiB: a hundred 100k-operator bundles, ten at 1M; k8s/base/silo.yaml's cache volume holds 20 GiB.</summary>
    public const long DefaultCacheMaxBytes = 16L << 30;
    public string Location => $"blob {_container.Uri}";
}
