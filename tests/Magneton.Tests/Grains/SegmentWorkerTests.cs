using Magneton.Core;
using Magneton.Core.Matching;
using Magneton.Grains;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Magneton.Tests.Grains;

/// <summary>A one-silo cluster whose jobs deal their segments to at most four workers.</summary>
public sealed class FourWorkerClusterFixture : ClusterFixture
{
    public const int Workers = 4;

    protected override void ConfigureSilo(ISiloBuilder silo) =>
        silo.Services.Configure<MatchingJobOptions>(o => o.SegmentWorkers = Workers);
}

/// <summary>
/// A job of more segments than <see cref="MatchingJobOptions.SegmentWorkers"/> gives each worker a run of consecutive
/// segments: the report must be the one a worker per segment (and <see cref="Pipeline.Compare(Magneton.Core.Runs.Run, Magneton.Core.Runs.Run, CompareOptions)"/>) gives.
/// </summary>
public sealed class SegmentWorkerTests(FourWorkerClusterFixture fx) : IClassFixture<FourWorkerClusterFixture>
{
    [Fact]
    public async Task Batched_segment_workers_give_the_report_of_Pipeline_Compare()
    {
        var a = RunIds.NormalizePath(TestRepo.Bundle("llama-generate-null", "A"));
        var b = RunIds.NormalizePath(TestRepo.Bundle("llama-generate-null", "B"));
        long before = fx.Counters.SegmentsMatched;
        var job = fx.Client.GetGrain<IMatchingJobGrain>("test-" + Guid.NewGuid().ToString("N"));
        var viaGrains = (await job.Compare(CompareRequest.ForPaths(a, b))).Value;

        var runA = Pipeline.Ingest(a);
        var runB = Pipeline.Ingest(b);
        Assert.Equal(GrainTests.Canonical(Pipeline.Compare(runA, runB, new CompareOptions())), GrainTests.Canonical(viaGrains));
        int segments = Pipeline.Prepare(runA, runB, new CompareOptions()).Segments.Count;
        Assert.True(segments > FourWorkerClusterFixture.Workers, $"{segments} segments");
        // Every segment matched once, by four workers, and the job counts segments, not workers.
        Assert.Equal(segments, fx.Counters.SegmentsMatched - before);
        var status = await job.GetStatus();
        Assert.Equal((segments, segments, segments), (status.SegmentsTotal, status.SegmentsDone, status.SegmentsDispatched));
    }

    [Fact]
    public void Segments_are_dealt_in_order_to_workers_of_about_equal_operator_counts()
    {
        var run = Pipeline.Ingest(TestRepo.Bundle("llama-generate-null", "A"));
        var session = Pipeline.Prepare(run, Pipeline.Ingest(TestRepo.Bundle("llama-generate-null", "B")), new CompareOptions());
        var segments = session.Segments;
        static long Weight(Segment s) => 1 + s.NodesA.Length + s.NodesB.Length;
        long total = segments.Sum(Weight), largest = segments.Max(Weight);
        foreach (int workers in new[] { 1, 2, 3, 4, 7, segments.Count - 1, segments.Count, segments.Count + 5 })
        {
            var batches = SegmentBatches.Split(segments, workers);
            Assert.Equal(Math.Min(workers, segments.Count), batches.Count);
            Assert.Equal(Enumerable.Range(0, segments.Count), batches.SelectMany(x => x.Indices));
            Assert.All(batches, x => Assert.True(x.Count >= 1));
            // No worker holds more than its share plus one segment.
            Assert.All(batches, x => Assert.True(x.Indices.Sum(i => Weight(segments[i])) <= total / batches.Count + largest,
                $"{workers} workers: segments {x.First}+{x.Count}"));
        }
    }
}
