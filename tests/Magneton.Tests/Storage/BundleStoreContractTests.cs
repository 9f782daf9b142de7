using System.Globalization;
using System.Text;
using Magneton.Core.Bundles;
using Magneton.Grains;
using Magneton.Grains.Storage;
using Xunit;

namespace Magneton.Tests.Storage;

/// <summary>
/// The behaviour every <see cref="IBundleStore"/> must have, run against each store (subclasses). Each test gets
/// a fresh, empty store; <see cref="NewStore"/> gives another instance over the same storage, as a new process
/// would see it.
/// </summary>
public abstract class BundleStoreContractTests : IAsyncLifetime
{
    protected IBundleStore Store { get; private set; } = null!;

    /// <summary>A new store instance over the storage of this test (the first call makes the storage).</summary>
    protected abstract IBundleStore NewStore();

    public virtual Task InitializeAsync()
    {
        Store = NewStore();
        return Task.CompletedTask;
    }

    public virtual Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_sample_bundle_uploaded_in_chunks_is_stored_and_materialized_byte_for_byte()
    {
        var bundle = StoreTestBundle.Sample();
        Assert.Null(await Store.GetManifestAsync(bundle.RunId));

        await bundle.UploadAsync(Store, chunkSize: 1 << 20);
        Assert.Null(await Store.GetManifestAsync(bundle.RunId)); // not stored before the commit
        await Store.CommitAsync(bundle.Manifest);

        var manifest = await Store.GetManifestAsync(bundle.RunId);
        AssertSameManifest(bundle.Manifest, manifest);

        var dir = await Store.MaterializeAsync(bundle.RunId);
        bundle.AssertIdentical(dir);
        // And it is a bundle the analysis reads, also through a held copy.
        var read = BundleReader.Read(dir);
        Assert.NotEmpty(read.Dataflow.Nodes);
        using var copy = await Store.OpenAsync(bundle.RunId);
        bundle.AssertIdentical(copy.Directory);
    }

    [Fact]
    public async Task A_bundle_the_verification_refuses_is_not_committed_and_leaves_nothing()
    {
        var bundle = StoreTestBundle.Sample();
        await bundle.UploadAsync(Store);
        string? seen = null;
        var e = await Assert.ThrowsAsync<BundleException>(() => Store.CommitAsync(bundle.Manifest, dir =>
        {
            seen = dir;
            BundleReader.Read(dir); // reads: the files are complete there
            throw new BundleException("dataflow.json", "nodes", "refused by the test");
        }));
        Assert.Contains("refused by the test", e.Message);
        Assert.NotNull(seen);

        Assert.Null(await Store.GetManifestAsync(bundle.RunId));
        Assert.Empty(await ListAsync(NewStore()));
        // Nothing of the upload is left to commit: the bundle must be sent again.
        await Assert.ThrowsAsync<BundleStoreException>(() => Store.CommitAsync(bundle.Manifest));
        await bundle.UploadAsync(Store);
        await Store.CommitAsync(bundle.Manifest, dir => Task.CompletedTask);
        AssertSameManifest(bundle.Manifest, await Store.GetManifestAsync(bundle.RunId));
    }

    [Fact]
    public async Task Unfinished_uploads_expire_and_stored_bundles_stay()
    {
        var stored = StoreTestBundle.Small(1, ("dataflow.json", 10), ("kineto.json.gz", 20), ("power.csv", 5), ("measure.json", 7));
        await stored.UploadAsync(Store);
        await Store.CommitAsync(stored.Manifest);
        var abandoned = StoreTestBundle.Small(2, ("dataflow.json", 10), ("kineto.json.gz", 20), ("power.csv", 5), ("measure.json", 7));
        await abandoned.UploadAsync(Store);

        Assert.Equal(0, await Store.ExpireUploadsAsync(TimeSpan.FromHours(1))); // recent: kept
        Assert.Equal(1, await NewStore().ExpireUploadsAsync(TimeSpan.Zero));
        await Assert.ThrowsAsync<BundleStoreException>(() => Store.CommitAsync(abandoned.Manifest));
        Assert.Equal(0, await Store.ExpireUploadsAsync(TimeSpan.Zero));
        AssertSameManifest(stored.Manifest, await Store.GetManifestAsync(stored.RunId));
        Assert.Equal(stored.RunId, Assert.Single(await ListAsync(Store)).RunId);
    }

    [Fact]
    public async Task A_retried_chunk_and_a_second_commit_change_nothing()
    {
        var bundle = StoreTestBundle.Sample();
        await bundle.UploadAsync(Store, chunkSize: 300_000, retryEachChunk: true);
        await Store.CommitAsync(bundle.Manifest);
        await Store.CommitAsync(bundle.Manifest with { StoredAt = bundle.Manifest.StoredAt.AddHours(1), Origin = "second" });
        // A late retry of a chunk after the commit.
        var (file, offset, length) = bundle.Chunks(300_000).First();
        await Store.WriteChunkAsync(bundle.RunId, file, offset, bundle.Slice(file, offset, length));

        AssertSameManifest(bundle.Manifest, await Store.GetManifestAsync(bundle.RunId)); // the first commit's
        bundle.AssertIdentical(await Store.MaterializeAsync(bundle.RunId));
        Assert.Single(await ListAsync(Store), m => m.RunId == bundle.RunId);
    }

    [Fact]
    public async Task The_same_bundle_uploaded_again_after_it_was_stored_stays_one_run()
    {
        var bundle = StoreTestBundle.Small(1);
        await bundle.UploadAsync(Store);
        await Store.CommitAsync(bundle.Manifest);
        await bundle.UploadAsync(NewStore());
        await NewStore().CommitAsync(bundle.Manifest with { Origin = "elsewhere" });

        Assert.Single(await ListAsync(Store), m => m.RunId == bundle.RunId);
        Assert.Equal("test", (await Store.GetManifestAsync(bundle.RunId))!.Origin);
        bundle.AssertIdentical(await Store.MaterializeAsync(bundle.RunId));
    }

    [Fact]
    public async Task A_commit_whose_length_does_not_match_names_the_file_and_stores_nothing()
    {
        var bundle = StoreTestBundle.Small(2, ("dataflow.json", 5000), ("power.csv", 7000));
        await bundle.UploadAsync(Store, chunkSize: 1024);
        var entries = bundle.Manifest.Files.Select(f => f.Name == "power.csv" ? f with { Length = f.Length + 1 } : f).ToArray();
        var wrong = bundle.Manifest with { RunId = BundleManifest.RunIdOf(entries), Files = entries };
        // Same run id needed for the uploaded chunks: upload under the wrong manifest's id as well.
        await UploadUnder(bundle, wrong.RunId, chunkSize: 1024);

        var e = await Assert.ThrowsAsync<BundleStoreException>(() => Store.CommitAsync(wrong));
        Assert.Contains("power.csv", e.Message);
        Assert.Contains("7000", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Null(await Store.GetManifestAsync(wrong.RunId));
        await Assert.ThrowsAsync<BundleStoreException>(() => Store.MaterializeAsync(wrong.RunId));

        // The right manifest still commits afterwards.
        await Store.CommitAsync(bundle.Manifest);
        bundle.AssertIdentical(await Store.MaterializeAsync(bundle.RunId));
    }

    [Fact]
    public async Task A_file_short_of_its_last_chunk_is_refused_naming_the_file()
    {
        var bundle = StoreTestBundle.Small(3, ("kineto.json.gz", 10_000), ("measure.json", 100));
        foreach (var (file, offset, length) in bundle.Chunks(4096).Where(c => !(c.File == "kineto.json.gz" && c.Offset == 8192)))
            await Store.WriteChunkAsync(bundle.RunId, file, offset, bundle.Slice(file, offset, length));

        var e = await Assert.ThrowsAsync<BundleStoreException>(() => Store.CommitAsync(bundle.Manifest));
        Assert.Contains("kineto.json.gz", e.Message);
        Assert.Null(await Store.GetManifestAsync(bundle.RunId));
    }

    [Fact]
    public async Task An_upload_missing_a_middle_chunk_is_never_stored()
    {
        var bundle = StoreTestBundle.Small(4, ("kineto.json.gz", 10_000));
        var e = await Record.ExceptionAsync(async () =>
        {
            // The directory store refuses the chunk after the gap, the blob store the commit.
            foreach (var (file, offset, length) in bundle.Chunks(2048).Where(c => c.Offset != 4096))
                await Store.WriteChunkAsync(bundle.RunId, file, offset, bundle.Slice(file, offset, length));
            await Store.CommitAsync(bundle.Manifest);
        });
        Assert.IsType<BundleStoreException>(e);
        Assert.Contains("kineto.json.gz", e!.Message);
        Assert.Null(await Store.GetManifestAsync(bundle.RunId));
    }

    [Fact]
    public async Task Bytes_that_do_not_match_the_manifest_hash_never_materialize()
    {
        var bundle = StoreTestBundle.Small(5, ("a.json", 3000));
        var bad = bundle.Files["a.json"].ToArray();
        bad[1234] ^= 0xFF;
        await Store.WriteChunkAsync(bundle.RunId, "a.json", 0, bad);
        var e = await Record.ExceptionAsync(async () =>
        {
            // The directory store checks SHA-256 at commit, the blob store while downloading.
            await Store.CommitAsync(bundle.Manifest);
            await Store.MaterializeAsync(bundle.RunId);
        });
        Assert.IsType<BundleStoreException>(e);
        Assert.Contains("SHA-256", e!.Message);
        Assert.Contains("a.json", e.Message);
    }

    [Fact]
    public async Task An_uploaded_file_that_is_not_in_the_manifest_is_refused()
    {
        var bundle = StoreTestBundle.Small(6);
        await bundle.UploadAsync(Store);
        await Store.WriteChunkAsync(bundle.RunId, "stray.bin", 0, new byte[10]);
        var e = await Assert.ThrowsAsync<BundleStoreException>(() => Store.CommitAsync(bundle.Manifest));
        Assert.Contains("stray.bin", e.Message);
        Assert.Null(await Store.GetManifestAsync(bundle.RunId));
    }

    [Fact]
    public async Task A_manifest_whose_run_id_does_not_derive_from_its_files_is_refused()
    {
        var bundle = StoreTestBundle.Small(7);
        var other = StoreTestBundle.Small(8).RunId;
        await UploadUnder(bundle, other, 1 << 20);
        var e = await Assert.ThrowsAsync<BundleStoreException>(() => Store.CommitAsync(bundle.Manifest with { RunId = other }));
        Assert.Contains("run id", e.Message);
        Assert.Null(await Store.GetManifestAsync(other));
    }

    public static TheoryData<string> BadNames => new()
    {
        "", ".", "..", "../x", "x/../../y", "a/b", "a\\b", "/etc/passwd", "run x", "run\n1", "ü", "a..b", "C:x", "*",
        new string('a', 201),
    };

    [Theory]
    [MemberData(nameof(BadNames))]
    public async Task Malicious_or_odd_names_are_refused_with_one_line(string name)
    {
        var good = StoreTestBundle.Small(9);
        var errors = new List<Exception?>
        {
            await Record.ExceptionAsync(() => Store.WriteChunkAsync(name, "a.json", 0, new byte[1])),
            await Record.ExceptionAsync(() => Store.WriteChunkAsync(good.RunId, name, 0, new byte[1])),
            await Record.ExceptionAsync(() => Store.GetManifestAsync(name)),
            await Record.ExceptionAsync(() => Store.MaterializeAsync(name)),
            await Record.ExceptionAsync(() => Store.AbortUploadAsync(name)),
            await Record.ExceptionAsync(() => Store.PutReportAsync(name, "{}"u8.ToArray())),
            await Record.ExceptionAsync(() => Store.GetReportAsync(name)),
        };
        if (name.Length > 0)
        {
            var entries = good.Manifest.Files.Append(new BundleFileEntry(name, 1, new string('0', 64))).ToArray();
            errors.Add(await Record.ExceptionAsync(() =>
                Store.CommitAsync(good.Manifest with { RunId = BundleManifest.RunIdOf(entries), Files = entries })));
        }
        foreach (var e in errors)
        {
            var bse = Assert.IsType<BundleStoreException>(e);
            Assert.DoesNotContain('\n', bse.Message);
            Assert.Contains("invalid", bse.Message);
        }
        Assert.Empty(await ListAsync(Store));
    }

    [Fact]
    public async Task The_manifest_file_name_is_reserved()
    {
        var good = StoreTestBundle.Small(10);
        var e = await Assert.ThrowsAsync<BundleStoreException>(() =>
            Store.WriteChunkAsync(good.RunId, BundleStoreNames.ManifestFile, 0, "{}"u8.ToArray()));
        Assert.Contains("reserved", e.Message);
    }

    [Fact]
    public async Task List_returns_every_stored_run_and_no_upload_in_progress()
    {
        var a = StoreTestBundle.Small(11);
        var b = StoreTestBundle.Small(12, ("x.json", 10), ("empty.csv", 0));
        var pending = StoreTestBundle.Small(13);
        await a.UploadAsync(Store);
        await Store.CommitAsync(a.Manifest);
        await b.UploadAsync(Store);
        await Store.CommitAsync(b.Manifest);
        await pending.UploadAsync(Store);

        var runs = await ListAsync(Store);
        Assert.Equal(new[] { a.RunId, b.RunId }.Order(StringComparer.Ordinal), runs.Select(m => m.RunId).Order(StringComparer.Ordinal));
        AssertSameManifest(b.Manifest, runs.Single(m => m.RunId == b.RunId));
        b.AssertIdentical(await Store.MaterializeAsync(b.RunId)); // the empty file too
    }

    [Fact]
    public async Task Reports_are_stored_overwritten_and_read_back()
    {
        Assert.Null(await Store.GetReportAsync("job-1"));
        await Store.PutReportAsync("job-1", "{\"v\":1}"u8.ToArray());
        await Store.PutReportAsync("job-2", "{\"v\":2}"u8.ToArray());
        Assert.Equal("{\"v\":1}", Encoding.UTF8.GetString((await Store.GetReportAsync("job-1"))!));
        await Store.PutReportAsync("job-1", "{\"v\":3}"u8.ToArray());
        Assert.Equal("{\"v\":3}", Encoding.UTF8.GetString((await NewStore().GetReportAsync("job-1"))!));
        Assert.Equal("{\"v\":2}", Encoding.UTF8.GetString((await NewStore().GetReportAsync("job-2"))!));
    }

    [Fact]
    public async Task A_report_written_through_a_stream_is_read_back_whole_and_in_slices()
    {
        Assert.Null(await Store.GetReportSliceAsync("job-s", 0, 100));
        // Larger than one write buffer of the stores, and not a multiple of the slice length.
        var json = Encoding.UTF8.GetBytes("[" + string.Join(",", Enumerable.Range(0, 40_000).Select(i => i.ToString(CultureInfo.InvariantCulture))) + "]");
        await Store.PutReportAsync("job-s", async (stream, ct) =>
        {
            for (int at = 0; at < json.Length; at += 1000) await stream.WriteAsync(json.AsMemory(at, Math.Min(1000, json.Length - at)), ct);
        });
        Assert.Equal(json, await NewStore().GetReportAsync("job-s"));

        var back = new List<byte>();
        const int slice = 70_001;
        for (long at = 0; at < json.Length;)
        {
            var chunk = (await NewStore().GetReportSliceAsync("job-s", at, slice))!;
            Assert.Equal(json.Length, chunk.Total);
            Assert.Equal((int)Math.Min(slice, json.Length - at), chunk.Json.Length);
            back.AddRange(chunk.Json);
            at += chunk.Json.Length;
        }
        Assert.Equal(json, back.ToArray());
        Assert.Empty((await Store.GetReportSliceAsync("job-s", json.Length, slice))!.Json);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.GetReportSliceAsync("job-s", json.Length + 1, slice));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.GetReportSliceAsync("job-s", -1, slice));
    }

    [Fact]
    public async Task A_report_write_that_fails_half_way_leaves_the_old_report()
    {
        await Store.PutReportAsync("job-f", "{\"v\":1}"u8.ToArray());
        var failure = await Record.ExceptionAsync(() => Store.PutReportAsync("job-f", async (stream, ct) =>
        {
            await stream.WriteAsync(new byte[300_000], ct);
            throw new IOException("the serializer failed half way");
        }));
        Assert.Equal("the serializer failed half way", Assert.IsType<IOException>(failure).Message);
        Assert.Equal("{\"v\":1}", Encoding.UTF8.GetString((await NewStore().GetReportAsync("job-f"))!));
        Assert.Equal(7, (await NewStore().GetReportSliceAsync("job-f", 0, 100))!.Total);
    }

    [Fact]
    public async Task A_new_store_instance_sees_the_stored_bundle()
    {
        var bundle = StoreTestBundle.Sample();
        await bundle.UploadAsync(Store);
        await Store.CommitAsync(bundle.Manifest);

        var fresh = NewStore();
        AssertSameManifest(bundle.Manifest, await fresh.GetManifestAsync(bundle.RunId));
        Assert.Contains(await ListAsync(fresh), m => m.RunId == bundle.RunId);
        bundle.AssertIdentical(await fresh.MaterializeAsync(bundle.RunId));
    }

    [Fact]
    public async Task An_aborted_upload_is_gone_and_a_stored_bundle_survives_an_abort()
    {
        var bundle = StoreTestBundle.Small(14);
        await bundle.UploadAsync(Store);
        await Store.AbortUploadAsync(bundle.RunId);
        var e = await Assert.ThrowsAsync<BundleStoreException>(() => Store.CommitAsync(bundle.Manifest));
        Assert.Contains("not uploaded", e.Message);

        await bundle.UploadAsync(Store);
        await Store.CommitAsync(bundle.Manifest);
        await Store.AbortUploadAsync(bundle.RunId);
        await Store.AbortUploadAsync(StoreTestBundle.Small(15).RunId); // nothing to abort: fine
        bundle.AssertIdentical(await Store.MaterializeAsync(bundle.RunId));
    }

    [Fact]
    public async Task Materializing_a_run_that_is_not_stored_is_a_one_line_error()
    {
        var e = await Assert.ThrowsAsync<BundleStoreException>(() => Store.MaterializeAsync("run-0000000000000000"));
        Assert.Contains("run-0000000000000000", e.Message);
        Assert.Contains("not stored", e.Message);
    }

    private async Task UploadUnder(StoreTestBundle bundle, string runId, int chunkSize)
    {
        foreach (var (file, offset, length) in bundle.Chunks(chunkSize))
            await Store.WriteChunkAsync(runId, file, offset, bundle.Slice(file, offset, length));
    }

    protected static async Task<List<BundleManifest>> ListAsync(IBundleStore store)
    {
        var list = new List<BundleManifest>();
        await foreach (var m in store.ListAsync()) list.Add(m);
        return list;
    }

    protected static void AssertSameManifest(BundleManifest expected, BundleManifest? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.RunId, actual.RunId);
        Assert.Equal(expected.System, actual.System);
        Assert.Equal(expected.Origin, actual.Origin);
        Assert.Equal(expected.StoredAt, actual.StoredAt);
        Assert.Equal(expected.Files, actual.Files); // records: by value
        Assert.Equal(expected.TotalBytes, actual.TotalBytes);
    }
}
