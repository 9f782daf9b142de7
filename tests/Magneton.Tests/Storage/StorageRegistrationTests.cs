using System.Text.Json;
using Azure.Storage.Blobs.Models;
using Magneton.Grains;
using Magneton.Grains.Storage;
using Magneton.Silo;
using Magneton.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Hosting;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit;

namespace Magneton.Tests.Storage;

/// <summary><see cref="StorageRegistration.AddMagnetonStorage"/>: which store and grain storage each option gives.</summary>
public sealed class StorageRegistrationTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), $"magneton-reg-{Guid.NewGuid():N}");

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    static IHost Build(MagnetonStorageOptions? storage)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering();
            silo.Services.AddMagnetonGrainServices();
            silo.AddMagnetonStorage(storage);
        });
        return builder.Build();
    }

    [Fact]
    public void Both_a_directory_and_a_blob_connection_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Build(new MagnetonStorageOptions
            { Directory = _root, BlobConnectionString = "UseDevelopmentStorage=true" }));
        Assert.Contains("--storage-dir and --blob-connection are exclusive", e.Message);
    }

    [Fact]
    public void No_storage_options_give_memory_grain_storage_and_no_bundle_store()
    {
        foreach (var options in new[] { null, new MagnetonStorageOptions() })
        {
            using var host = Build(options);
            Assert.Null(host.Services.GetService<IBundleStore>());
            foreach (var name in StorageRegistration.GrainStorageNames)
                Assert.IsType<MemoryGrainStorage>(host.Services.GetRequiredKeyedService<IGrainStorage>(name));
        }
    }

    [Fact]
    public void A_directory_gives_the_directory_store_and_directory_grain_storage()
    {
        using var host = Build(new MagnetonStorageOptions { Directory = _root });
        var store = Assert.IsType<DirectoryBundleStore>(host.Services.GetRequiredService<IBundleStore>());
        Assert.Equal(Path.GetFullPath(_root), store.Root);
        foreach (var name in StorageRegistration.GrainStorageNames)
            Assert.IsType<DirectoryGrainStorage>(host.Services.GetRequiredKeyedService<IGrainStorage>(name));
    }

    [Fact]
    public void A_blob_connection_gives_the_blob_store_and_blob_grain_storage()
    {
        using var host = Build(new MagnetonStorageOptions
            { BlobConnectionString = Azurite.ConnectionStringFor("http://127.0.0.1:1/devstoreaccount1"), Container = "mag", CacheDirectory = _root });
        var store = Assert.IsType<BlobBundleStore>(host.Services.GetRequiredService<IBundleStore>());
        Assert.Equal("mag", store.Container.Name);
        Assert.Equal(Path.GetFullPath(_root), store.CacheDirectory);
        foreach (var name in StorageRegistration.GrainStorageNames)
            Assert.IsType<AzureBlobGrainStorage>(host.Services.GetRequiredKeyedService<IGrainStorage>(name));
    }

    [Fact]
    public void A_container_name_Azure_would_refuse_is_refused_up_front()
    {
        Assert.Throws<ArgumentException>(() => Build(new MagnetonStorageOptions
            { BlobConnectionString = "UseDevelopmentStorage=true", Container = "Has_Upper" }));
    }
}

/// <summary>
/// A silo with Magneton's storage persists grain state as plain JSON (blob on Azurite, and a directory) and a
/// silo started afresh reads it back. A test grain of its own keeps it independent of the run grain's state shape.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class SiloStorageTests(AzuriteFixture azurite)
{
    static async Task<InProcessTestCluster> StartAsync(MagnetonStorageOptions storage)
    {
        var b = new InProcessTestClusterBuilder(initialSilosCount: 1);
        b.ConfigureSilo((_, silo) =>
        {
            silo.AddMagnetonStorage(storage);
            silo.Services.AddMagnetonGrainServices();
        });
        b.ConfigureClient(client => client.AddMagnetonClient());
        var cluster = b.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    static readonly StorageProbeRecord Record = new("transformer.h.*.mlp.act", double.NaN, [3, 1, 4]);

    static void AssertPlainJson(string json, BundleManifest manifest)
    {
        Assert.DoesNotContain("$type", json);
        Assert.DoesNotContain("$id", json);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement.TryGetProperty("state", out var inner) ? inner : doc.RootElement;
        Assert.Equal("/data/bundle-a", root.GetProperty("Path").GetString());
        Assert.Equal(manifest.RunId, root.GetProperty("Manifest").GetProperty("RunId").GetString());
        Assert.Equal("NaN", root.GetProperty("Record").GetProperty("Ratio").GetString());
    }

    static async Task AssertReadBackAsync(InProcessTestCluster cluster, string key, BundleManifest manifest)
    {
        var state = await cluster.Client.GetGrain<IStorageProbeGrain>(key).Load();
        Assert.Equal("/data/bundle-a", state.Path);
        Assert.Equal(1, state.Writes);
        Assert.Equal(manifest.Files, state.Manifest!.Files);
        Assert.Equal(manifest.StoredAt, state.Manifest.StoredAt);
        Assert.True(double.IsNaN(state.Record!.Ratio));
        Assert.Equal([3, 1, 4], state.Record.Values);
    }

    [Fact]
    public async Task Grain_state_goes_to_the_blob_state_container_as_plain_json_and_survives_a_silo_restart()
    {
        var container = AzuriteFixture.NewContainerName("silo");
        var client = BlobBundleStore.CreateServiceClient(azurite.ConnectionString);
        var options = new MagnetonStorageOptions { BlobConnectionString = azurite.ConnectionString, Container = container };
        var manifest = StoreTestBundle.Small(40).Manifest;
        var cluster = await StartAsync(options);
        try
        {
            Assert.Equal(1, await cluster.Client.GetGrain<IStorageProbeGrain>("p1").Save("/data/bundle-a", manifest, Record));

            var state = client.GetBlobContainerClient(StorageRegistration.StateContainerOf(container));
            var blobs = new List<string>();
            await foreach (var item in state.GetBlobsAsync(new GetBlobsOptions()))
                blobs.Add(item.Name);
            Assert.Equal(2, blobs.Count); // one per storage name (run, job)
            foreach (var name in blobs)
                AssertPlainJson((await state.GetBlobClient(name).DownloadContentAsync()).Value.Content.ToString(), manifest);

            await cluster.DisposeAsync();
            cluster = await StartAsync(options);
            await AssertReadBackAsync(cluster, "p1", manifest);
        }
        finally
        {
            await cluster.DisposeAsync();
            await client.GetBlobContainerClient(StorageRegistration.StateContainerOf(container)).DeleteIfExistsAsync();
        }
    }

    [Fact]
    public async Task Grain_state_goes_to_the_storage_directory_as_plain_json_and_survives_a_silo_restart()
    {
        var root = Path.Combine(Path.GetTempPath(), $"magneton-silo-dir-{Guid.NewGuid():N}");
        var options = new MagnetonStorageOptions { Directory = root };
        var manifest = StoreTestBundle.Small(41).Manifest;
        var cluster = await StartAsync(options);
        try
        {
            Assert.Equal(1, await cluster.Client.GetGrain<IStorageProbeGrain>("p1").Save("/data/bundle-a", manifest, Record));

            var files = Directory.GetFiles(Path.Combine(root, "grains"), "*.json", SearchOption.AllDirectories);
            Assert.Equal(2, files.Length);
            foreach (var file in files)
            {
                var json = await File.ReadAllTextAsync(file);
                AssertPlainJson(json, manifest);
                Assert.Contains("\"etag\": \"1\"".Replace(" ", ""), json);
            }

            await cluster.DisposeAsync();
            cluster = await StartAsync(options);
            await AssertReadBackAsync(cluster, "p1", manifest);
        }
        finally
        {
            await cluster.DisposeAsync();
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }
}
