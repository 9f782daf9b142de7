using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Magneton.Client;
using Magneton.Grains;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Cluster;

/// <summary>One trace per job: the job span, and under it ingest, match (one span per segment, on whichever
/// silo matched it) and diagnose spans, joined across silos by Orleans' activity propagation.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class JobTraceTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_job_is_one_trace_with_ingest_match_and_diagnose_spans_across_silos()
    {
        var spans = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MagnetonTelemetry.ActivitySourceName || s.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);

        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 2);
        var uploader = new BundleUploader(cluster.Client, TextWriter.Null);
        var request = new CompareRequest(
            await uploader.ResolveAsync(TestRepo.GeluA, CancellationToken.None),
            await uploader.ResolveAsync(TestRepo.GeluB, CancellationToken.None));
        var jobId = WorkIds.Job(request);
        var report = await ClusterJob.RunAsync(cluster.Client, request, TextWriter.Null, CancellationToken.None);
        Assert.NotEmpty(report.Findings);

        var job = Assert.Single(spans, s => s.OperationName == "job" && (string?)s.GetTagItem("magneton.job.id") == jobId);
        var trace = spans.Where(s => s.TraceId == job.TraceId).ToList();
        var names = trace.Select(s => s.OperationName).ToHashSet();
        foreach (var expected in new[] { "ingest", "prepare", "match", "match.segment", "detect", "diagnose", "diagnose.finding", "report" })
            Assert.Contains(expected, names);

        var status = await cluster.Client.GetGrain<IMatchingJobGrain>(jobId).GetStatus();
        Assert.Equal(status.SegmentsTotal, trace.Count(s => s.OperationName == "match.segment"));
        Assert.Equal(report.Findings.Count, trace.Count(s => s.OperationName == "diagnose.finding"));
        // Segment spans hang under the job's match span through the grain calls, not beside it.
        var match = Assert.Single(trace, s => s.OperationName == "match");
        Assert.All(trace.Where(s => s.OperationName == "match.segment"), s => Assert.True(IsUnder(s, match, trace), s.ParentSpanId.ToString()));
    }

    [Fact]
    public async Task A_job_records_ingest_match_findings_and_latency_metrics()
    {
        var totals = new ConcurrentDictionary<string, double>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == MagnetonTelemetry.MeterName) l.EnableMeasurementEvents(instrument);
            },
        };
        meters.SetMeasurementEventCallback<long>((i, v, _, _) => totals.AddOrUpdate(i.Name, v, (_, t) => t + v));
        meters.SetMeasurementEventCallback<double>((i, v, _, _) => totals.AddOrUpdate(i.Name + ".count", 1, (_, t) => t + 1));
        meters.Start();

        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 2);
        var uploader = new BundleUploader(cluster.Client, TextWriter.Null);
        var request = new CompareRequest(
            await uploader.ResolveAsync(TestRepo.GeluA, CancellationToken.None),
            await uploader.ResolveAsync(TestRepo.GeluB, CancellationToken.None));
        var report = await ClusterJob.RunAsync(cluster.Client, request, TextWriter.Null, CancellationToken.None);

        // Other tests run meanwhile in this process, so these are lower bounds.
        Assert.True(totals.GetValueOrDefault("magneton.bundles.uploaded") >= 2);
        Assert.True(totals.GetValueOrDefault("magneton.bundles.ingested") >= 2);
        int matchedOps = report.Regions.Sum(r => r.A.Nodes.Count + r.B.Nodes.Count);
        Assert.True(totals.GetValueOrDefault("magneton.operators.matched") >= matchedOps / 2,
            $"{totals.GetValueOrDefault("magneton.operators.matched")} vs {matchedOps}");
        Assert.True(totals.GetValueOrDefault("magneton.matching.rate.count") >= 1);
        Assert.True(totals.GetValueOrDefault("magneton.findings") >= report.Findings.Count);
        Assert.True(totals.GetValueOrDefault("magneton.job.duration.count") >= 1);
    }

    static bool IsUnder(Activity span, Activity ancestor, List<Activity> trace)
    {
        var byId = trace.ToDictionary(s => s.SpanId);
        for (var s = span; s is not null; s = byId.GetValueOrDefault(s.ParentSpanId))
            if (s.SpanId == ancestor.SpanId) return true;
        return false;
    }
}
