using System.Diagnostics;
using Magneton.Core;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;

namespace Magneton.Grains;

/// <summary>
/// Runs one comparison: both ingests in parallel (run grains), session preparation (silo-local cache), the
/// top-level segments in parallel (segment workers), detection, one diagnosis grain per finding, the report.
/// <c>matching.elapsed_ms</c> covers preparation, matching and detection.
/// </summary>
public sealed class MatchingJobGrain(SessionCache sessions, MagnetonCounters counters) : Grain, IMatchingJobGrain
{
    public async Task<ComparisonReport> Compare(CompareRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = request.ToOptions();
        string bundleA = RunIds.NormalizePath(request.BundleA), bundleB = RunIds.NormalizePath(request.BundleB);
        string runA = string.IsNullOrEmpty(request.RunIdA) ? RunIds.FromPath(bundleA) : request.RunIdA;
        string runB = string.IsNullOrEmpty(request.RunIdB) ? RunIds.FromPath(bundleB) : request.RunIdB;

        // Ingest: each run grain reads its bundle into this silo's cache (in parallel).
        var ingestA = GrainFactory.GetGrain<IRunGrain>(runA).Ingest(bundleA);
        var ingestB = GrainFactory.GetGrain<IRunGrain>(runB).Ingest(bundleB);
        await Task.WhenAll(ingestA, ingestB);

        var sw = Stopwatch.StartNew();
        var session = await sessions.GetOrPrepareAsync(runA, bundleA, runB, bundleB, options);

        // Fan out: one worker call per top-level segment, gathered in segment order.
        var worker = GrainFactory.GetGrain<ISegmentMatcherGrain>(0);
        var perSegment = await Task.WhenAll(session.Segments.Select(s => worker.Match(runA, bundleA, runB, bundleB, options, s)));
        var regions = RegionMatch.Assemble(session, perSegment.SelectMany(r => r));
        var findings = await Task.Run(() => Pipeline.Detect(session, regions));
        double elapsedMs = sw.Elapsed.TotalMilliseconds;

        // Diagnose each finding in its own grain, in parallel.
        var regionArray = regions.ToArray();
        string jobId = this.GetPrimaryKeyString();
        var causes = await Task.WhenAll(findings.Select(f =>
            GrainFactory.GetGrain<IDiagnosisGrain>($"{jobId}/{f.Id}")
                .Diagnose(runA, bundleA, runB, bundleB, options, regionArray, f)));

        var report = await Task.Run(() => Pipeline.Report(session, regions, findings, causes, elapsedMs));
        counters.JobRan();
        return report;
    }
}
