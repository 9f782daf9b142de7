using System.Diagnostics;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;

namespace Magneton.Core;

/// <summary>Knobs of a comparison; defaults are the method's 10%/1%/1% rule.</summary>
public sealed record CompareOptions
{
    /// <summary>Minimum relative energy excess (wasteful over efficient, minus one) for a finding.</summary>
    public double Threshold { get; init; } = 0.10;
    /// <summary>The efficient side may be at most this much slower for the verdict to be waste, not a trade-off.</summary>
    public double TimeTolerance { get; init; } = 0.01;
    /// <summary>
    /// Values (and so the outputs of matched regions) are equivalent when their fingerprints agree within this,
    /// relative to the tensor's RMS (moments and deciles; extremes and spectra get proportionally more): the
    /// method's output check, on fingerprints. bf16 rounding and tf32 against fp32 stay well inside the default.
    /// </summary>
    public double OutputTolerance { get; init; } = Matching.Fingerprint.DefaultTolerance;
    /// <summary>
    /// Drop regions whose two sides do identical work (same ops, inputs and kernels) before detection. Off only in
    /// tests that check the energy model resolves identical work by itself.
    /// </summary>
    internal bool SameWorkGuard { get; init; } = true;
}

/// <summary>
/// The comparison pipeline as pure steps, so that grains can run each step where they like
/// (Ingest in a RunGrain, MatchSegment in worker grains, Diagnose in a DiagnosisGrain) and
/// <see cref="Compare"/> can run them all in one call for tests and benchmarks.
/// </summary>
public static class Pipeline
{
    /// <summary>Reads and validates a bundle directory and builds its run model with energy. Throws BundleException.</summary>
    public static Run Ingest(string bundlePath) => RunBuilder.Build(BundleReader.Read(bundlePath));

    /// <summary>
    /// Reads a bundle from one directory (a cluster's download cache) but names it by another (where it was
    /// uploaded from), so reports say what the user gave.
    /// </summary>
    public static Run Ingest(string bundlePath, string displayPath) =>
        RunBuilder.Build(BundleReader.Read(bundlePath) with { Path = displayPath });

    public static MatchSession Prepare(Run a, Run b, CompareOptions options) => MatchSession.Create(a, b, options);

    public static IReadOnlyList<RegionMatch> MatchSegment(MatchSession session, Segment segment) =>
        SubgraphMatcher.MatchSegment(session, segment);

    public static IReadOnlyList<Finding> Detect(MatchSession session, IReadOnlyList<RegionMatch> regions) =>
        Detector.Detect(session, regions);

    public static CauseReport Diagnose(MatchSession session, IReadOnlyList<RegionMatch> regions, Finding finding) =>
        Diagnosis.Diagnoser.Diagnose(session, regions, finding);

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
