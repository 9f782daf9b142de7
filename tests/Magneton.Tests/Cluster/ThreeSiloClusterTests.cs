using System.Diagnostics;
using Magneton.Client;
using Magneton.Core;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Grains;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Magneton.Tests.Cluster;

/// <summary>
/// Magneton on a three-silo cluster over real blob storage (Azurite): bundles uploaded through the run grains,
/// work spread over the silos, a silo lost in the middle of a comparison, the whole cluster restarted.
/// Every report must equal the one <c>Pipeline.Compare</c> computes in this process from the same bundles.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class ThreeSiloClusterTests(AzuriteFixture azurite)
{
    const string Pair = "llama-generate-null"; // 72 top-level segments: enough to spread and to stop half way

    static string Canonical(ComparisonReport r) => GrainTests.Canonical(r);

    static readonly Lazy<string> Expected = new(() =>
        Canonical(Pipeline.Compare(TestRepo.Bundle(Pair, "A"), TestRepo.Bundle(Pair, "B"), new CompareOptions())));

    static async Task<CompareRequest> UploadAsync(IClusterClient client, string pair = Pair)
    {
        var uploader = new BundleUploader(client, TextWriter.Null);
        var a = await uploader.ResolveAsync(TestRepo.Bundle(pair, "A"), CancellationToken.None);
        var b = await uploader.ResolveAsync(TestRepo.Bundle(pair, "B"), CancellationToken.None);
        Assert.Null(a.LocalPath);
        return new CompareRequest(a, b);
    }

    [Fact]
    public async Task Comparison_spreads_over_silos_and_equals_the_in_process_report()
    {
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString);
        var request = await UploadAsync(cluster.Client);
        var before = cluster.Counters().ToDictionary(kv => kv.Key, kv => kv.Value.SegmentsMatched);

        var report = await ClusterJob.RunAsync(cluster.Client, request, TextWriter.Null, CancellationToken.None);

        Assert.Equal(Expected.Value, Canonical(report));
        var perSilo = cluster.Counters().Select(kv => kv.Value.SegmentsMatched - before[kv.Key]).ToList();
        Assert.True(perSilo.Count(n => n > 0) >= 2, $"segments per silo: {string.Join(", ", perSilo)}");
        var status = await cluster.Client.GetGrain<IMatchingJobGrain>(WorkIds.Job(request)).GetStatus();
        Assert.Equal(status.SegmentsTotal, perSilo.Sum());

        // Asking again is answered from the stored job: no segment is matched twice.
        var again = await ClusterJob.RunAsync(cluster.Client, request, TextWriter.Null, CancellationToken.None);
        Assert.Equal(Canonical(report), Canonical(again));
        Assert.Equal(perSilo.Sum(), cluster.Counters().Sum(kv => kv.Value.SegmentsMatched - before[kv.Key]));

        // The report as clients fetch it, in slices: in 4 KiB ones it is the same report, and the slices are its JSON.
        var connection = ClusterConnection.Over(cluster.Client);
        var sliced = await ClusterJob.DownloadReportAsync(connection, WorkIds.Job(request), CancellationToken.None, sliceBytes: 4096);
        Assert.Equal(Expected.Value, Canonical(sliced));
        var jobGrain = cluster.Client.GetGrain<IMatchingJobGrain>(WorkIds.Job(request));
        var first = await jobGrain.GetReportJson(0, 4096);
        Assert.True(first.Total > 3 * 4096, $"report of {first.Total} bytes");
        Assert.Equal(4096, first.Json.Length);
        var last = await jobGrain.GetReportJson(first.Total - 10, 4096);
        Assert.Equal(10, last.Json.Length);
        Assert.Equal((byte)'}', last.Json[^1]);
        Assert.Empty((await jobGrain.GetReportJson(first.Total, 4096)).Json);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => jobGrain.GetReportJson(first.Total + 1, 4096));
    }

    [Fact]
    public async Task The_silo_that_takes_an_upload_compares_the_run_it_checked_without_downloading_it_again()
    {
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 1);
        var request = await UploadAsync(cluster.Client);

        var report = await ClusterJob.RunAsync(cluster.Client, request, TextWriter.Null, CancellationToken.None);

        Assert.Equal(Expected.Value, Canonical(report));
        // The commit read each bundle (from a scratch copy it deleted) and kept the run: the job never fetched the
        // stored copy into the silo's cache to read it a second time.
        Assert.Equal(2, cluster.Counters().Values.Single().Ingestions);
        foreach (var run in new[] { request.A.RunId, request.B.RunId })
            Assert.Empty(Directory.Exists(cluster.CacheRoot)
                ? Directory.EnumerateDirectories(cluster.CacheRoot, run, SearchOption.AllDirectories)
                : []);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Losing_the_jobs_silo_mid_comparison_resumes_elsewhere_without_redoing_finished_segments(bool tls)
    {
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, tls: tls);
        var request = await UploadAsync(cluster.Client);
        const int allowed = 10;
        cluster.Gate.HoldAfter(allowed);

        var job = cluster.Client.GetGrain<IMatchingJobGrain>(WorkIds.Job(request));
        var started = await job.Start(request);
        var status = started;
        var sw = Stopwatch.StartNew();
        while (status.SegmentsDone < allowed && sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(50);
            status = await job.GetStatus();
        }
        Assert.Equal(allowed, status.SegmentsDone);
        Assert.True(status.SegmentsTotal > allowed, $"{status.SegmentsTotal} segments");
        // The gate holds further segments, so once the finished ones are written nothing changes until the silo goes.
        status = await Until.HoldsAsync(job.GetStatus, s => s.ProgressSaved, TimeSpan.FromSeconds(60), "progress saved");
        Assert.Equal(allowed, status.SegmentsDone);

        await cluster.Cluster.KillSiloAsync(cluster.SiloOf(status.Silo));
        cluster.Gate.Open();

        var report = await ClusterJob.RunAsync(cluster.Client, request, TextWriter.Null, CancellationToken.None);
        var final = await job.GetStatus();

        Assert.Equal(Expected.Value, Canonical(report));
        Assert.NotEqual(status.Silo, final.Silo);
        Assert.True(final.Resumes >= 1, $"resumes {final.Resumes}");
        Assert.Equal(allowed, final.SegmentsRestored);
        Assert.Equal(final.SegmentsTotal - allowed, final.SegmentsDispatched);
    }

    [Fact]
    public async Task A_resumed_job_whose_workers_hold_several_segments_keeps_each_finished_workers_segments()
    {
        // Six workers for the pair's 72 segments; only one that matches several of them finishes before the job's silo goes.
        const int workers = 6;
        var session = Pipeline.Prepare(Pipeline.Ingest(TestRepo.Bundle(Pair, "A")), Pipeline.Ingest(TestRepo.Bundle(Pair, "B")), new CompareOptions());
        var batches = SegmentBatches.Split(session.Segments, workers);
        int worker = Enumerable.Range(0, batches.Count).First(i => batches[i].Count > 1);
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString,
            configure: silo => silo.Services.Configure<MatchingJobOptions>(o => o.SegmentWorkers = workers));
        var request = await UploadAsync(cluster.Client);
        cluster.Gate.PassOnly(key => key.EndsWith($"/{worker}", StringComparison.Ordinal));

        var job = cluster.Client.GetGrain<IMatchingJobGrain>(WorkIds.Job(request));
        await job.Start(request);
        var status = await Until.HoldsAsync(job.GetStatus, s => s.SegmentsDone > 0 && s.ProgressSaved,
            TimeSpan.FromSeconds(60), "one worker's segments done and saved");
        Assert.Equal(batches[worker].Count, status.SegmentsDone);

        await cluster.Cluster.KillSiloAsync(cluster.SiloOf(status.Silo));
        cluster.Gate.Open();

        var report = await ClusterJob.RunAsync(cluster.Client, request, TextWriter.Null, CancellationToken.None);
        var final = await job.GetStatus();

        Assert.Equal(Expected.Value, Canonical(report));
        Assert.True(final.Resumes >= 1, $"resumes {final.Resumes}");
        Assert.Equal(batches[worker].Count, final.SegmentsRestored);
        Assert.Equal(final.SegmentsTotal - batches[worker].Count, final.SegmentsDispatched);
    }

    [Fact]
    public async Task Runs_jobs_and_reports_survive_a_restart_of_every_silo()
    {
        var container = AzuriteFixture.NewContainerName("r");
        CompareRequest request;
        string first;
        await using (var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 2, container: container))
        {
            request = await UploadAsync(cluster.Client, "gpt2-gelu");
            first = Canonical(await ClusterJob.RunAsync(cluster.Client, request, TextWriter.Null, CancellationToken.None));
        }

        await using (var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 2, container: container))
        {
            var runs = await cluster.Client.GetGrain<ICatalogGrain>(0).ListRuns();
            Assert.Equal(new[] { request.A.RunId, request.B.RunId }.Order(), runs.Select(r => r.RunId).Order());
            Assert.All(runs, r => Assert.Equal(RunIds.NormalizePath(r.Origin), r.Origin));

            var job = cluster.Client.GetGrain<IMatchingJobGrain>(WorkIds.Job(request));
            Assert.Equal(JobPhase.Done, (await job.GetStatus()).Phase);
            Assert.Equal(first, Canonical((await job.GetReport()).Value));
            Assert.All(cluster.Counters().Values, c => Assert.Equal(0, c.SegmentsMatched));

            // A stored run is enough to compare again, by id, on the new silos.
            var byId = new CompareRequest(RunRef.Stored(request.B.RunId), RunRef.Stored(request.A.RunId));
            var swapped = await ClusterJob.RunAsync(cluster.Client, byId, TextWriter.Null, CancellationToken.None);
            Assert.Equal(runs.Single(r => r.RunId == request.B.RunId).Origin, swapped.A.Bundle);
        }
    }
}
