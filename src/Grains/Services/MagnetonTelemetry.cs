using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Magneton.Grains;

/// <summary>
/// Magneton's own spans and metrics. One trace per comparison job: the job span is the root, with ingest,
/// match and diagnose spans under it (across silos through Orleans activity propagation). Hosts subscribe
/// with the names below; nothing is recorded unless a listener is attached.
/// </summary>
public static class MagnetonTelemetry
{
    public const string ActivitySourceName = "Magneton";
    public const string MeterName = "Magneton";

    public static readonly ActivitySource Source = new(ActivitySourceName);
    static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> BundlesIngested =
        Meter.CreateCounter<long>("magneton.bundles.ingested", "{bundle}", "Bundles read and modelled into runs");
    public static readonly Counter<long> BundlesUploaded =
        Meter.CreateCounter<long>("magneton.bundles.uploaded", "{bundle}", "Bundles committed to the bundle store");
    public static readonly Counter<long> OperatorsMatched =
        Meter.CreateCounter<long>("magneton.operators.matched", "{operator}", "Operators placed in matched regions (both sides)");
    public static readonly Histogram<double> MatchingRate =
        Meter.CreateHistogram<double>("magneton.matching.rate", "{operator}/s", "Operators matched per second of segment matching");
    public static readonly Counter<long> Findings =
        Meter.CreateCounter<long>("magneton.findings", "{finding}", "Findings reported, tagged by verdict");
    public static readonly Histogram<double> JobDuration =
        Meter.CreateHistogram<double>("magneton.job.duration", "s", "Wall time of a comparison job, start to report");
}
