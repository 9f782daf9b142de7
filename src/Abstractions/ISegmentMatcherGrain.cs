using Magneton.Core;
using Magneton.Core.Matching;

namespace Magneton.Grains;

/// <summary>
/// Matches one top-level segment of one job (key: "jobId/segmentIndex"). Placed at random so a job's segments
/// spread over the cluster's silos; each silo finds the runs and the session in its own caches, ingesting the
/// bundles when it has not seen them. Pure: calling it again gives the same regions.
/// </summary>
[Alias("Magneton.ISegmentMatcherGrain")]
public interface ISegmentMatcherGrain : IGrainWithStringKey
{
    [Alias("Match")]
    Task<RegionMatch[]> Match(RunRef a, RunRef b, CompareOptions options, Segment segment);
}
