using System.Diagnostics;
using Magneton.Core;
using Magneton.Grains;
using Magneton.Tests.Cluster;
using Magneton.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Magneton.Tests.Grains;

/// <summary>
/// A one-silo cluster whose segment workers pass a gate the test holds: a job stays in its matching step until it
/// opens. One worker per segment (however many segments), so that the gate counts segments.
/// </summary>
public sealed class GatedClusterFixture : ClusterFixture
{
    public HoldingGate Gate { get; } = new();

    protected override void ConfigureSilo(ISiloBuilder silo)
    {
        silo.Services.AddSingleton<IMatchingStepGate>(Gate);
        silo.Services.Configure<MatchingJobOptions>(o => o.SegmentWorkers = 100_000);
    }
}

/// <summary>
/// Ctrl-C on an embedded <c>magneton compare</c> cancels the token of its one <see cref="IMatchingJobGrain.Compare"/>
/// call: the call must end at once, and the job's work must stop with it rather than run on to a report nobody reads.
/// The job is held in its matching step by the gate (a pair merely large enough to take a while finishes first on a
/// fast machine), so the cancel always lands while segment work is outstanding.
/// </summary>
public sealed class CompareCancellationTests(GatedClusterFixture fx) : IClassFixture<GatedClusterFixture>
{
    /// <summary>Segments matched before the gate holds the rest (the pair has 72).</summary>
    const int LetThrough = 3;
    /// <summary>The cancelled call ends within this (generous: a loaded 2-core machine).</summary>
    static readonly TimeSpan CancelBound = TimeSpan.FromSeconds(10);
    /// <summary>Under the client's response timeout (15 s), so that a loop that runs on fails here rather than as a timeout.</summary>
    static readonly TimeSpan LoopEnds = TimeSpan.FromSeconds(10);
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Cancelling_a_compare_ends_the_call_and_stops_the_jobs_segment_work()
    {
        var request = CompareRequest.ForPaths(RunIds.NormalizePath(TestRepo.Bundle("llama-generate-null", "A")),
            RunIds.NormalizePath(TestRepo.Bundle("llama-generate-null", "B")));
        string jobId = "cancel-" + Guid.NewGuid().ToString("N");
        var job = fx.Client.GetGrain<IMatchingJobGrain>(jobId);
        long matchedBefore = fx.Counters.SegmentsMatched;
        fx.Gate.HoldAfter(LetThrough);
        try
        {
            using var caller = new CancellationTokenSource();
            var compare = job.Compare(request, caller.Token);

            // Under way: every segment dispatched, the first few matched, the rest held before they match.
            var running = await Until.HoldsAsync(job.GetStatus,
                s => s.Phase == JobPhase.Matching && s.SegmentsDone == LetThrough && fx.Gate.Held == s.SegmentsTotal - LetThrough,
                Patience, "matching with every segment past the first few held");
            Assert.True(running.SegmentsTotal > LetThrough, $"{running.SegmentsTotal} segments");
            Assert.False(compare.IsCompleted);

            var sw = Stopwatch.StartNew();
            await caller.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => compare.WaitAsync(CancelBound));
            Assert.True(sw.Elapsed < CancelBound, $"the cancelled call ended after {sw.Elapsed}");

            // The job knows it was cancelled, and its step loop has stopped (Wait answers once the loop ended).
            var waited = Stopwatch.StartNew();
            var cancelled = await job.Wait(LoopEnds);
            Assert.True(waited.Elapsed < LoopEnds, "the job's step loop did not stop");
            Assert.True(cancelled.Cancelled);
            Assert.False(cancelled.Finished);
            Assert.Equal(JobPhase.Matching, cancelled.Phase);

            // The cancel reaches every held worker (a message of its own, after the job's calls have ended: waited for,
            // not assumed), and each stops waiting at the gate; opening it then lets nothing through. A segment grain
            // takes one call at a time, so Stored answers only once that worker's Match call is over.
            await Until.HoldsAsync(() => Task.FromResult(fx.Gate.Cancelled), n => n == running.SegmentsTotal - LetThrough,
                Patience, "every held worker's call cancelled");
            fx.Gate.Open();
            int stored = 0;
            for (int i = 0; i < running.SegmentsTotal; i++)
                if ((await fx.Client.GetGrain<ISegmentMatcherGrain>($"{jobId}/{i}").Stored(i, 1)).Value is not null) stored++;
            Assert.Equal(LetThrough, stored);
            Assert.Equal(LetThrough, fx.Counters.SegmentsMatched - matchedBefore);
            var after = await job.GetStatus();
            Assert.Equal((JobPhase.Matching, LetThrough), (after.Phase, after.SegmentsDone));
        }
        finally
        {
            fx.Gate.Open();
        }
    }
}
