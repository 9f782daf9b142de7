using Magneton.Core;
using Magneton.Core.Matching;
using Orleans.Concurrency;

namespace Magneton.Grains;

/// <summary>Matches one top-level segment; as many activations per silo as there are cores.</summary>
[StatelessWorker]
public sealed class SegmentMatcherGrain(SessionCache sessions, MagnetonCounters counters) : Grain, ISegmentMatcherGrain
{
    public async Task<RegionMatch[]> Match(string runIdA, string bundleA, string runIdB, string bundleB,
        CompareOptions options, Segment segment)
    {
        var session = await sessions.GetOrPrepareAsync(runIdA, bundleA, runIdB, bundleB, options);
        var regions = await Task.Run(() => Pipeline.MatchSegment(session, segment));
        counters.SegmentMatched();
        return regions as RegionMatch[] ?? regions.ToArray();
    }
}
