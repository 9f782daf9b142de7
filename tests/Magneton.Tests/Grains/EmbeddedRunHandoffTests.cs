using Magneton.Client;
using Magneton.Core;
using Magneton.Core.Matching;
using Magneton.Grains;
using Magneton.Silo;
using Xunit;

namespace Magneton.Tests.Grains;

/// <summary>
/// The embedded CLI reads each bundle once: it builds the runs itself (so errors name the bundle as typed) and hands
/// them to its silo, whose job must then compare those runs rather than read the bundles again.
/// </summary>
public sealed class EmbeddedRunHandoffTests
{
    [Fact]
    public async Task A_job_compares_the_runs_the_client_built_without_reading_the_bundles_again()
    {
        using var a = TestRepo.CopyBundle(TestRepo.GeluA);
        using var b = TestRepo.CopyBundle(TestRepo.GeluB);
        var runs = await LocalBundle.IngestAllAsync([a.Path, b.Path], CancellationToken.None);
        var expected = GrainTests.Canonical(Pipeline.Compare(Pipeline.Ingest(a.Path), Pipeline.Ingest(b.Path), new CompareOptions()));
        // Gone from disk: a silo that read them now would fail on the first file.
        foreach (var f in Directory.GetFiles(a.Path).Concat(Directory.GetFiles(b.Path))) File.Delete(f);

        await using var silo = await EmbeddedSilo.StartAsync();
        var request = CompareRequest.ForPaths(RunIds.NormalizePath(a.Path), RunIds.NormalizePath(b.Path));
        silo.Keep(request.A, runs[0]);
        silo.Keep(request.B, runs[1]);
        var report = (await silo.Grains.GetGrain<IMatchingJobGrain>("handoff-" + Guid.NewGuid().ToString("N")).Compare(request)).Value;

        Assert.Equal(expected, GrainTests.Canonical(report));
        Assert.NotEmpty(report.Findings);
    }

    [Fact]
    public async Task A_broken_bundle_is_refused_with_its_path_as_typed_before_any_silo()
    {
        using var bad = TestRepo.CopyBundle(TestRepo.GeluA);
        bad.Truncate("kineto.json.gz");
        var e = await Assert.ThrowsAsync<Magneton.Core.Bundles.BundleException>(() => LocalBundle.IngestAllAsync([TestRepo.GeluB, bad.Path], CancellationToken.None));
        Assert.StartsWith(Path.Combine(bad.Path, "kineto.json.gz"), e.Message);
    }
}
