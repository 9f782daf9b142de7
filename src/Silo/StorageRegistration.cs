using System.Text.Json.Serialization;
using Magneton.Grains;
using Magneton.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.Serialization;
using Orleans.Storage;

namespace Magneton.Silo;

public static class StorageRegistration
{
    /// <summary>The grain storage provider names Magneton's grains use.</summary>
    public static readonly string[] GrainStorageNames = [GrainServiceRegistration.RunStorage, GrainServiceRegistration.JobStorage];

    /// <summary>The blob container of grain state for a bundle container.</summary>
    public static string StateContainerOf(string container) => container + "-state";

    /// <summary>
    /// Registers the bundle store (if any) and the grain storage providers Magneton's grains use:
    /// <list type="bullet">
    /// <item>neither a directory nor a blob connection: memory grain storage, no <see cref="IBundleStore"/>;</item>
    /// <item><see cref="MagnetonStorageOptions.Directory"/>: <see cref="DirectoryBundleStore"/> and
    ///   <see cref="DirectoryGrainStorage"/> under that directory;</item>
    /// <item><see cref="MagnetonStorageOptions.BlobConnectionString"/>: <see cref="BlobBundleStore"/> in
    ///   <see cref="MagnetonStorageOptions.Container"/> and Orleans' Azure blob grain storage in "&lt;Container&gt;-state",
    ///   both with <see cref="BlobBundleStore.CreateClientOptions"/> (Azurite's service version, retries).</item>
    /// </list>
    /// Grain state is written as plain JSON by Orleans' <see cref="SystemTextJsonGrainStorageSerializer"/>
    /// (NaN and infinities allowed). Both a directory and a blob connection: <see cref="ArgumentException"/>.
    /// </summary>
    public static ISiloBuilder AddMagnetonStorage(this ISiloBuilder silo, MagnetonStorageOptions? storage)
    {
        var dir = string.IsNullOrWhiteSpace(storage?.Directory) ? null : storage!.Directory;
        var blob = string.IsNullOrWhiteSpace(storage?.BlobConnectionString) ? null : storage!.BlobConnectionString;
        if (dir is not null && blob is not null)
            throw new ArgumentException("--storage-dir and --blob-connection are exclusive", nameof(storage));

        if (dir is null && blob is null)
        {
            foreach (var name in GrainStorageNames) silo.AddMemoryGrainStorage(name);
            return silo;
        }

        if (storage!.AllowedPaths.Count > 0) silo.Services.AddSingleton(new LocalBundleRoots(storage.AllowedPaths));
        silo.Services.AddHostedService<UploadExpiry>();

        // Ratios in run summaries and job progress may be NaN or infinite; plain JSON has no such numbers.
        silo.Services.Configure<SystemTextJsonGrainStorageSerializerOptions>(o =>
            o.JsonSerializerOptions.NumberHandling |= JsonNumberHandling.AllowNamedFloatingPointLiterals);

        if (dir is not null)
        {
            var root = Path.GetFullPath(dir);
            silo.Services.AddSingleton<IBundleStore>(_ => new DirectoryBundleStore(root));
            foreach (var name in GrainStorageNames)
                silo.Services.AddKeyedSingleton<IGrainStorage>(name, (sp, _) =>
                    new DirectoryGrainStorage(root, ActivatorUtilities.CreateInstance<SystemTextJsonGrainStorageSerializer>(sp)));
            return silo;
        }

        var container = storage!.Container;
        BlobBundleStore.CheckContainerName(container);
        var stateContainer = StateContainerOf(container);
        BlobBundleStore.CheckContainerName(stateContainer);
        var client = BlobBundleStore.CreateServiceClient(blob!);
        var cache = storage.CacheDirectory ?? BlobBundleStore.DefaultCacheDirectory;
        silo.Services.AddSingleton<IBundleStore>(_ => new BlobBundleStore(client, container, cache, storage.CacheMaxBytes));
        foreach (var name in GrainStorageNames)
            silo.AddAzureBlobGrainStorage(name, ob => ob.Configure<IServiceProvider>((o, sp) =>
            {
                o.ContainerName = stateContainer;
                o.BlobServiceClient = client;
                o.GrainStorageSerializer = ActivatorUtilities.CreateInstance<SystemTextJsonGrainStorageSerializer>(sp);
            }));
        return silo;
    }
}
