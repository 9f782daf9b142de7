using System.Diagnostics;
using System.Text;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Magneton.Grains.Storage;
using Magneton.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.Storage;

/// <summary>The bundle store contract on <see cref="BlobBundleStore"/> against a real Azurite (shared server, own container).</summary>
[Collection(AzuriteCollection.Name)]
public sealed class BlobBundleStoreTests(AzuriteFixture azurite) : BundleStoreContractTests, IDisposable
{
    readonly string _container = AzuriteFixture.NewContainerName("bundles");
    readonly string _cache = Path.Combine(Path.GetTempPath(), $"magneton-blobcache-{Guid.NewGuid():N}");

    protected override IBundleStore NewStore() => BlobBundleStore.Create(azurite.ConnectionString, _container, _cache);

    public override async Task DisposeAsync()
    {
        await BlobBundleStore.CreateServiceClient(azurite.ConnectionString).GetBlobContainerClient(_container).DeleteIfExistsAsync();
    }

    public void Dispose()
    {
        try { Directory.Delete(_cache, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Blobs_are_laid_out_under_bundles_and_reports_and_the_cache_is_reused()
    {
        var bundle = StoreTestBundle.Small(30, ("a.json", 5000), ("b.csv", 0));
        await bundle.UploadAsync(Store, chunkSize: 2000);
        await Store.CommitAsync(bundle.Manifest);
        await Store.PutReportAsync("job-1", "{}"u8.ToArray());

        var container = ((BlobBundleStore)Store).Container;
        var names = new List<string>();
        await foreach (var b in container.GetBlobsAsync(new GetBlobsOptions()))
            names.Add(b.Name);
        Assert.Equal(
            new[] { $"bundles/{bundle.RunId}/a.json", $"bundles/{bundle.RunId}/b.csv", $"bundles/{bundle.RunId}/manifest.json", "reports/job-1.json" },
            names.Order(StringComparer.Ordinal));
        var blocks = (await container.GetBlockBlobClient($"bundles/{bundle.RunId}/a.json").GetBlockListAsync()).Value;
        Assert.Equal([2000L, 2000L, 1000L], blocks.CommittedBlocks.Select(b => b.SizeLong));
        Assert.Empty(blocks.UncommittedBlocks);

        var dir = await Store.MaterializeAsync(bundle.RunId);
        Assert.Equal(Path.Combine(_cache, bundle.RunId), dir);
        bundle.AssertIdentical(dir);
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(dir, "a.json"));
        Assert.Equal(dir, await NewStore().MaterializeAsync(bundle.RunId)); // reused, not downloaded again
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(dir, "a.json")));
        Assert.Empty(Directory.GetDirectories(_cache, "*.tmp-*"));

        // A damaged cache entry (wrong length) is downloaded again.
        await File.WriteAllBytesAsync(Path.Combine(dir, "a.json"), new byte[3]);
        bundle.AssertIdentical(await NewStore().MaterializeAsync(bundle.RunId));
        Assert.Equal([dir], Directory.GetDirectories(_cache));
        Assert.StartsWith("blob http://127.0.0.1:", Store.Location);
    }

    [Fact]
    public async Task A_container_the_server_lost_is_made_again_by_the_next_write()
    {
        await Store.PutReportAsync("job-1", "{}"u8.ToArray());
        // What an Azurite killed -9 does when its last autosave preceded the container's creation: the container is gone.
        await ((BlobBundleStore)Store).Container.DeleteAsync();

        var lost = await Assert.ThrowsAsync<Azure.RequestFailedException>(() => Store.PutReportAsync("job-2", "{}"u8.ToArray()));
        Assert.Equal(BlobErrorCode.ContainerNotFound.ToString(), lost.ErrorCode);
        // The caller's retry (Transient.RetryAsync in the grains) finds the container made again.
        await Store.PutReportAsync("job-2", "{\"again\":1}"u8.ToArray());
        Assert.Equal("{\"again\":1}", Encoding.UTF8.GetString((await Store.GetReportAsync("job-2"))!));
        var bundle = StoreTestBundle.Small(31, ("a.json", 100));
        await bundle.UploadAsync(Store, chunkSize: 64);
        await Store.CommitAsync(bundle.Manifest);
        bundle.AssertIdentical(await Store.MaterializeAsync(bundle.RunId));
    }

    [Fact]
    public async Task A_lost_container_is_made_again_when_an_upload_starts_over()
    {
        var bundle = StoreTestBundle.Small(32, ("a.json", 100));
        await Store.AbortUploadAsync(bundle.RunId);
        await ((BlobBundleStore)Store).Container.DeleteAsync();

        // An upload starts by dropping what an interrupted one left: that listing is the first call to find the
        // container gone, and the upload's retry must find it made again (it failed on every retry before).
        var lost = await Assert.ThrowsAsync<Azure.RequestFailedException>(() => Store.AbortUploadAsync(bundle.RunId));
        Assert.Equal(BlobErrorCode.ContainerNotFound.ToString(), lost.ErrorCode);
        await Store.AbortUploadAsync(bundle.RunId);
        await bundle.UploadAsync(Store, chunkSize: 64);
        await Store.CommitAsync(bundle.Manifest);
        bundle.AssertIdentical(await Store.MaterializeAsync(bundle.RunId));
    }

    /// <summary>
    /// The download cache keeps to its bound: past it the least recently opened bundle is deleted, except the one
    /// just downloaded and any held by an ingest (<see cref="IBundleStore.OpenAsync"/>); an evicted bundle is
    /// downloaded again when it is opened next.
    /// </summary>
    [Fact]
    public async Task The_download_cache_keeps_to_its_bound_and_never_evicts_a_bundle_being_read()
    {
        var store = BlobBundleStore.Create(azurite.ConnectionString, _container, _cache, cacheMaxBytes: 25_000);
        var b = Enumerable.Range(0, 4).Select(i => StoreTestBundle.Small(40 + i, ("a.json", 10_000))).ToArray();
        foreach (var bundle in b)
        {
            await bundle.UploadAsync(store);
            await store.CommitAsync(bundle.Manifest);
        }
        string Cached(StoreTestBundle bundle) => Path.Combine(_cache, bundle.RunId);
        long CacheBytes() => Directory.EnumerateDirectories(_cache).Where(d => !Path.GetFileName(d).StartsWith('.'))
            .SelectMany(d => Directory.EnumerateFiles(d)).Sum(f => new FileInfo(f).Length);

        var held = await store.OpenAsync(b[0].RunId);
        await store.MaterializeAsync(b[1].RunId);
        Directory.SetLastWriteTimeUtc(Cached(b[0]), DateTime.UtcNow.AddMinutes(-10)); // the least recent, but held
        Directory.SetLastWriteTimeUtc(Cached(b[1]), DateTime.UtcNow.AddMinutes(-5));
        await store.MaterializeAsync(b[2].RunId);
        Assert.True(Directory.Exists(Cached(b[0])), "a held bundle was evicted");
        Assert.False(Directory.Exists(Cached(b[1])), "the least recent bundle nobody holds should have gone");
        b[2].AssertIdentical(Cached(b[2]));
        Assert.InRange(CacheBytes(), 20_000, 25_000);

        held.Dispose();
        // What a process that died while deleting an evicted bundle leaves: removed at the next eviction.
        var leftover = Directory.CreateDirectory(Path.Combine(_cache, $"{b[1].RunId}.stale-0123"));
        File.WriteAllText(Path.Combine(leftover.FullName, "a.json"), "x");
        await store.MaterializeAsync(b[3].RunId);
        Assert.False(leftover.Exists || Directory.Exists(leftover.FullName), "a stale copy was left");
        Assert.False(Directory.Exists(Cached(b[0])), "released, it is the least recent");
        b[2].AssertIdentical(Cached(b[2]));
        b[3].AssertIdentical(Cached(b[3]));
        Assert.InRange(CacheBytes(), 20_000, 25_000);

        using var again = await store.OpenAsync(b[1].RunId);
        b[1].AssertIdentical(again.Directory);
        Assert.DoesNotContain(Directory.EnumerateDirectories(_cache), d => Path.GetFileName(d).Contains(".stale-"));
    }

    [Fact]
    public void Block_ids_are_fixed_width_and_derived_from_the_offset()
    {
        Assert.Equal(BlobBundleStore.BlockIdOf(0).Length, BlobBundleStore.BlockIdOf(long.MaxValue).Length);
        Assert.Equal("o0000000000001048576", Encoding.ASCII.GetString(Convert.FromBase64String(BlobBundleStore.BlockIdOf(1 << 20))));
        Assert.NotEqual(BlobBundleStore.BlockIdOf(1), BlobBundleStore.BlockIdOf(2));
    }

    [Fact]
    public void Client_options_pin_the_service_version_Azurite_accepts_and_retry_with_backoff()
    {
        var o = BlobBundleStore.CreateClientOptions();
        Assert.Equal(Azure.Core.RetryMode.Exponential, o.Retry.Mode);
        Assert.True(o.Retry.MaxRetries >= 5);
        Assert.True(o.Retry.MaxDelay <= TimeSpan.FromSeconds(10));
        Assert.Throws<ArgumentException>(() => BlobBundleStore.Create(azurite.ConnectionString, "Bad_Name", _cache));
    }
}

/// <summary>Blob store behaviour while Azurite itself goes down and comes back (each test runs its own Azurite).</summary>
public sealed class BlobBundleStoreRestartTests(ITestOutputHelper output) : IAsyncLifetime
{
    Azurite _azurite = null!;
    readonly string _cache = Path.Combine(Path.GetTempPath(), $"magneton-blobcache-{Guid.NewGuid():N}");

    public async Task InitializeAsync() => _azurite = await Azurite.StartAsync();

    public async Task DisposeAsync()
    {
        await _azurite.DisposeAsync();
        try { Directory.Delete(_cache, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task An_upload_and_commit_ride_out_Azurite_restarts_and_store_exactly_one_run()
    {
        const string container = "restart";
        var store = BlobBundleStore.Create(_azurite.ConnectionString, container, _cache);
        var bundle = StoreTestBundle.Sample();
        var chunks = bundle.Chunks(128 * 1024).ToList();
        int half = chunks.Count / 2;
        foreach (var (file, offset, length) in chunks.Take(half))
            await store.WriteChunkAsync(bundle.RunId, file, offset, bundle.Slice(file, offset, length));

        // Azurite goes down with half the chunks written; the rest are sent while it is down.
        var sw = Stopwatch.StartNew();
        await _azurite.StopAsync();
        var rest = Task.Run(async () =>
        {
            foreach (var (file, offset, length) in chunks.Skip(half))
                await store.WriteChunkAsync(bundle.RunId, file, offset, bundle.Slice(file, offset, length));
        });
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.False(rest.IsCompleted, "the writes should be waiting for Azurite");
        await _azurite.RestartAsync();
        await rest;
        output.WriteLine($"chunks written through a restart in {sw.Elapsed.TotalSeconds:F1} s");

        // And down again just before the commit.
        sw.Restart();
        await _azurite.StopAsync();
        var commit = Task.Run(() => store.CommitAsync(bundle.Manifest));
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.False(commit.IsCompleted, "the commit should be waiting for Azurite");
        await _azurite.RestartAsync();
        await commit;
        await store.CommitAsync(bundle.Manifest); // and once more: no-op
        output.WriteLine($"commit through a restart in {sw.Elapsed.TotalSeconds:F1} s");

        var fresh = BlobBundleStore.Create(_azurite.ConnectionString, container, _cache);
        var runs = new List<string>();
        await foreach (var m in fresh.ListAsync()) runs.Add(m.RunId);
        Assert.Equal([bundle.RunId], runs);
        var manifests = new List<string>();
        await foreach (var b in fresh.Container.GetBlobsAsync(new GetBlobsOptions()))
            if (b.Name.EndsWith("/manifest.json", StringComparison.Ordinal)) manifests.Add(b.Name);
        Assert.Equal([$"bundles/{bundle.RunId}/manifest.json"], manifests);
        bundle.AssertIdentical(await fresh.MaterializeAsync(bundle.RunId));
    }

    [Fact]
    public async Task Azurite_keeps_its_data_across_a_restart_on_the_same_port()
    {
        var port = _azurite.Port;
        var client = new BlobServiceClient(_azurite.ConnectionString, BlobBundleStore.CreateClientOptions());
        var c = client.GetBlobContainerClient("keep");
        await c.CreateIfNotExistsAsync();
        await c.GetBlobClient("x.txt").UploadAsync(BinaryData.FromString("hello"));
        await _azurite.RestartAsync();
        Assert.Equal(port, _azurite.Port);
        Assert.True(_azurite.IsRunning);
        Assert.Equal("hello", (await c.GetBlobClient("x.txt").DownloadContentAsync()).Value.Content.ToString());
    }
}
