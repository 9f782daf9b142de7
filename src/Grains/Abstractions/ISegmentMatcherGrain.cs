using Magneton.Core;
using Magneton.Core.Matching;

namespace Magneton.Grains;

/// <summary>
/// Stateless worker that matches one top-level segment. It finds the runs and the session in the silo-local
/// caches, re-ingesting the bundles when this silo has not seen them. Call it with key 0.
/// </summary>
[Alias("Magneton.ISegmentMatcherGrain")]
public interface ISegmentMatcherGrain : IGrainWithIntegerKey
{
    [Alias("Match")]
    Task<RegionMatch[]> Match(string runIdA, string bundleA, string runIdB, string bundleB, CompareOptions options, Segment segment);
}
