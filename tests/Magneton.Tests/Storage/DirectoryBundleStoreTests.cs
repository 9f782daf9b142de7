using Magneton.Grains.Storage;
using Xunit;

namespace Magneton.Tests.Storage;

/// <summary>The bundle store contract on <see cref="DirectoryBundleStore"/>, plus its directory layout.</summary>
public sealed class DirectoryBundleStoreTests : BundleStoreContractTests, IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), $"magneton-dirstore-{Guid.NewGuid():N}");

    protected override IBundleStore NewStore() => new DirectoryBundleStore(_root);

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_stored_bundle_is_a_directory_with_its_manifest_and_the_upload_directory_is_gone()
    {
        var bundle = StoreTestBundle.Small(20);
        await bundle.UploadAsync(Store);
        Assert.True(Directory.Exists(Path.Combine(_root, "uploads", bundle.RunId)));
        await Store.CommitAsync(bundle.Manifest);

        var dir = Path.Combine(_root, "bundles", bundle.RunId);
        Assert.Equal(dir, await Store.MaterializeAsync(bundle.RunId));
        Assert.True(File.Exists(Path.Combine(dir, "manifest.json")));
        Assert.False(Directory.Exists(Path.Combine(_root, "uploads", bundle.RunId)));
        Assert.Equal($"directory {_root}", Store.Location);

        await Store.PutReportAsync("job-7", "{}"u8.ToArray());
        Assert.True(File.Exists(Path.Combine(_root, "reports", "job-7.json")));
        Assert.Empty(Directory.GetFiles(Path.Combine(_root, "reports"), "*.tmp-*"));
    }

    [Fact]
    public async Task A_commit_that_stopped_after_writing_the_manifest_into_the_upload_completes_when_retried()
    {
        var bundle = StoreTestBundle.Small(21);
        await bundle.UploadAsync(Store);
        // As if a crash came between writing manifest.json and the rename.
        await File.WriteAllBytesAsync(Path.Combine(_root, "uploads", bundle.RunId, "manifest.json"),
            BundleStoreNames.SerializeManifest(bundle.Manifest));
        Assert.Null(await Store.GetManifestAsync(bundle.RunId));
        await NewStore().CommitAsync(bundle.Manifest);
        bundle.AssertIdentical(await Store.MaterializeAsync(bundle.RunId));
    }
}
