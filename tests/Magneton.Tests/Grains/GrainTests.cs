using System.Text.Json;
using Magneton.Core;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Grains;
using Orleans.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Magneton.Tests.Grains;

[Collection(ClusterCollection.Name)]
public sealed class GrainTests(ClusterFixture fx)
{
    [Fact]
    public async Task RunGrain_ingests_a_real_sample()
    {
        var id = RunIds.FromPath(TestRepo.GeluA);
        var summary = await fx.Client.GetGrain<IRunGrain>(id).Ingest(RunRef.Local(TestRepo.GeluA));

        Assert.Equal(id, summary.RunId);
        Assert.Equal(168, summary.Operators);
        Assert.Equal(RunIds.NormalizePath(TestRepo.GeluA), summary.BundlePath);
        Assert.False(string.IsNullOrEmpty(summary.System));
        Assert.True(summary.IterationEnergyJ > 0, $"iteration energy {summary.IterationEnergyJ}");
        Assert.Equal(summary, await fx.Client.GetGrain<IRunGrain>(id).GetSummary());
    }

    [Fact]
    public void Run_ids_are_stable_per_bundle_path()
    {
        Assert.Equal(RunIds.FromPath(TestRepo.GeluA), RunIds.FromPath(TestRepo.GeluA + Path.DirectorySeparatorChar));
        Assert.NotEqual(RunIds.FromPath(TestRepo.GeluA), RunIds.FromPath(TestRepo.GeluB));
        Assert.Matches("^run-[0-9a-f]{16}$", RunIds.FromPath(TestRepo.GeluA));
    }

    [Theory]
    [InlineData("gpt2-gelu")]            // one top-level segment, one waste finding
    [InlineData("llama-generate-null")]  // 35 top-level segments
    public async Task Compare_through_grains_equals_Pipeline_Compare_and_fans_out_to_workers(string pair)
    {
        var a = RunIds.NormalizePath(TestRepo.Bundle(pair, "A"));
        var b = RunIds.NormalizePath(TestRepo.Bundle(pair, "B"));
        var before = fx.Counters.SegmentsMatched;
        var diagnosesBefore = fx.Counters.Diagnoses;
        var viaGrains = (await fx.Client.GetGrain<IMatchingJobGrain>("test-" + Guid.NewGuid().ToString("N"))
            .Compare(CompareRequest.ForPaths(a, b))).Value;

        var runA = Pipeline.Ingest(a);
        var runB = Pipeline.Ingest(b);
        var direct = Pipeline.Compare(runA, runB, new CompareOptions());

        Assert.Equal(ComparisonReport.SchemaName, viaGrains.Schema);
        Assert.Equal(Canonical(direct), Canonical(viaGrains));
        Assert.True(viaGrains.Matching.ElapsedMs > 0);

        // Every top-level segment went through a worker grain, every finding through a diagnosis grain.
        var session = Pipeline.Prepare(runA, runB, new CompareOptions());
        Assert.True(session.Segments.Count > 0);
        Assert.Equal(session.Segments.Count, fx.Counters.SegmentsMatched - before);
        Assert.Equal(viaGrains.Findings.Count, fx.Counters.Diagnoses - diagnosesBefore);
    }

    [Fact]
    public async Task Segment_worker_rebuilds_runs_and_session_on_a_cache_miss()
    {
        var a = RunIds.NormalizePath(TestRepo.GeluA);
        var b = RunIds.NormalizePath(TestRepo.GeluB);
        var options = new CompareOptions();
        var local = Pipeline.Prepare(Pipeline.Ingest(a), Pipeline.Ingest(b), options);
        var expected = Pipeline.MatchSegment(local, local.Segments[0]);

        // As on a silo that never saw these runs.
        fx.SiloServices.GetRequiredService<SessionCache>().Clear();
        fx.SiloServices.GetRequiredService<RunCache>().Clear();
        var ingestionsBefore = fx.Counters.Ingestions;

        var regions = (await fx.Client.GetGrain<ISegmentMatcherGrain>("test/" + Guid.NewGuid().ToString("N"))
            .Match(RunRef.Local(a), RunRef.Local(b), options, 0, 1)).Value;

        Assert.Equal(2, fx.Counters.Ingestions - ingestionsBefore);
        Assert.Equal(JsonSerializer.Serialize(expected, MagnetonSerialization.JsonOptions),
                     JsonSerializer.Serialize(regions, MagnetonSerialization.JsonOptions));
    }

    [Fact]
    public async Task Threshold_reaches_the_pipeline()
    {
        var report = (await fx.Client.GetGrain<IMatchingJobGrain>("test-" + Guid.NewGuid().ToString("N"))
            .Compare(CompareRequest.ForPaths(TestRepo.GeluA, TestRepo.GeluB, 0.5))).Value;
        Assert.Equal(0.5, report.Threshold);
    }

    [Fact]
    public async Task Corrupt_bundle_fails_with_a_message_naming_the_file_and_the_silo_keeps_serving()
    {
        using var bad = TestRepo.CopyBundle(TestRepo.GeluA);
        bad.Truncate("kineto.json.gz");

        var ex = await Assert.ThrowsAsync<MagnetonInputException>(() =>
            fx.Client.GetGrain<IRunGrain>(RunIds.FromPath(bad.Path)).Ingest(RunRef.Local(bad.Path)));
        Assert.Contains("kineto.json.gz", ex.Message);
        Assert.DoesNotContain("\n", ex.Message);

        var jobEx = await Assert.ThrowsAsync<MagnetonInputException>(() =>
            fx.Client.GetGrain<IMatchingJobGrain>("test-" + Guid.NewGuid().ToString("N"))
                .Compare(CompareRequest.ForPaths(bad.Path, TestRepo.GeluB)));
        Assert.Contains("kineto.json.gz", jobEx.Message);

        // The silo is still serving.
        var summary = await fx.Client.GetGrain<IRunGrain>(RunIds.FromPath(TestRepo.GeluB)).Ingest(RunRef.Local(TestRepo.GeluB));
        Assert.True(summary.Operators > 0);
    }

    [Fact]
    public async Task Missing_bundle_fails_with_an_input_error()
    {
        var missing = Path.Combine(Path.GetTempPath(), "magneton-no-such-bundle-" + Guid.NewGuid().ToString("N"));
        var ex = await Assert.ThrowsAsync<MagnetonInputException>(() =>
            fx.Client.GetGrain<IRunGrain>(RunIds.FromPath(missing)).Ingest(RunRef.Local(missing)));
        Assert.Contains(Path.GetFileName(missing), ex.Message);
    }

    [Fact]
    public void Core_records_round_trip_through_the_Orleans_serializer()
    {
        var serializer = fx.SiloServices.GetRequiredService<Serializer>();
        var a = RunIds.NormalizePath(TestRepo.GeluA);
        var b = RunIds.NormalizePath(TestRepo.GeluB);
        var report = Pipeline.Compare(a, b, new CompareOptions { Threshold = 0.2 });
        var back = serializer.Deserialize<ComparisonReport>(serializer.SerializeToArray(report))!;
        Assert.Equal(Canonical(report, keepElapsed: true), Canonical(back, keepElapsed: true));

        var options = new CompareOptions { Threshold = 0.3, TimeTolerance = 0.02 };
        Assert.Equal(options, serializer.Deserialize<CompareOptions>(serializer.SerializeToArray(options)));

        // Non-finite numbers survive too.
        var nan = report with { Matching = report.Matching with { ACoverage = double.NaN, BCoverage = double.PositiveInfinity } };
        var nanBack = serializer.Deserialize<ComparisonReport>(serializer.SerializeToArray(nan))!;
        Assert.True(double.IsNaN(nanBack.Matching.ACoverage));
        Assert.True(double.IsPositiveInfinity(nanBack.Matching.BCoverage));
    }

    /// <summary>The report as JSON, with the (timing-dependent) matching time zeroed.</summary>
    internal static string Canonical(ComparisonReport r, bool keepElapsed = false) =>
        JsonSerializer.Serialize(keepElapsed ? r : r with { Matching = r.Matching with { ElapsedMs = 0 } },
            MagnetonSerialization.JsonOptions);
}
