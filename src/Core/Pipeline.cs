using System.Diagnostics;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Diagnosis;
using Magneton.Core.Energy;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;

namespace Magneton.Core;

/// <summary>
/// The comparison pipeline as pure steps, so that grains can run each step where they like
/// (Ingest in a RunGrain, MatchSegment in worker grains, Diagnose in a DiagnosisGrain) and
/// <see cref="Compare"/> can run them all in one call for tests and benchmarks.
/// </summary>
public static class Pipeline
{
    /// <summary>Reads and validates a bundle directory and builds its run model with energy. Throws BundleException.</summary>
    public static Run Ingest(string bundlePath) => Ingest(BundleReader.Read(bundlePath));

    /// <summary>The run model of a bundle already read: operators joined with their kernels and energy.</summary>
    public static Run Ingest(Bundle bundle) => RunBuilder.Build(bundle, EnergyModel.Apply);

    /// <summary>
    /// Reads a bundle from one directory (a cluster's download cache) but names it by another (where it was
    /// uploaded from), so reports say what the user gave.
    /// </summary>
    public static Run Ingest(string bundlePath, string displayPath) =>
        Ingest(BundleReader.Read(bundlePath) with { Path = displayPath });

    public static MatchSession Prepare(Run a, Run b, CompareOptions options) => MatchSession.Create(a, b, options);

    public static IReadOnlyList<RegionMatch> MatchSegment(MatchSession session, Segment segment, CancellationToken ct = default) =>
        SubgraphMatcher.MatchSegment(session, segment, ct);

    public static IReadOnlyList<Finding> Detect(MatchSession session, IReadOnlyList<RegionMatch> regions) =>
        Detector.Detect(session, regions);

    public static CauseReport Diagnose(MatchSession session, IReadOnlyList<RegionMatch> regions, Finding finding) =>
        Diagnoser.Diagnose(session, regions, finding);

    public static ComparisonReport Report(MatchSession session, IReadOnlyList<RegionMatch> regions,
        IReadOnlyList<Finding> findings, IReadOnlyList<CauseReport> causes, double matchingElapsedMs) =>
        ReportBuilder.Build(session, regions, findings, causes, matchingElapsedMs);

    /// <summary>Everything in one call, sequentially: what the embedded cluster does, minus the fan-out.</summary>
    public static ComparisonReport Compare(Run a, Run b, CompareOptions options)
    {
        var sw = Stopwatch.StartNew();
        var session = Prepare(a, b, options);
        var regions = session.Segments.SelectMany(s => MatchSegment(session, s)).ToList();
        regions = RegionMatch.Assemble(session, regions);
        var findings = Detect(session, regions);
        double elapsed = sw.Elapsed.TotalMilliseconds;
        var causes = findings.Select(f => Diagnose(session, regions, f)).ToList();
        return Report(session, regions, findings, causes, elapsed);
    }

    public static ComparisonReport Compare(string bundleA, string bundleB, CompareOptions options)
    {
        var (a, b) = IngestPair(bundleA, bundleB);
        return Compare(a, b, options);
    }

    /// <summary>
    /// Both bundles, read side by side (they are independent); a broken A is reported before a broken B, as when
    /// they were read one after the other.
    /// </summary>
    public static (Run A, Run B) IngestPair(string bundleA, string bundleB)
    {
        var a = Task.Run(() => Ingest(bundleA));
        Run? b = null;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failedB = null;
        try
        {
            b = Ingest(bundleB);
        }
        catch (Exception e)
        {
            failedB = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
        }
        var runA = a.GetAwaiter().GetResult();
        failedB?.Throw();
        return (runA, b!);
    }
}
